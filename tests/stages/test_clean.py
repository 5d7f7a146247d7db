import sqlite3
from pathlib import Path

from docmill.config.settings import CleanConfig, DedupConfig
from docmill.records import Document, Element
from docmill.stages.clean import SEPARATOR, clean_document, clean_text
from docmill.state.catalog.neardup import NearDupIndex
from tests.helpers import clean_batch, extracted


def _doc(doc_id: str, *texts: str) -> Document:
    return Document(doc_id * 64, f"file:///{doc_id}.txt", "txt", [Element(t) for t in texts])


def test_clean_text_repairs_mojibake_ligatures_hyphenation_and_spaces() -> None:
    config = CleanConfig()
    assert clean_text("The caf\u00c3\u00a9 is open", config) == "The café is open"
    assert clean_text("\ufb01nancial \ufb02ow", config) == "financial flow"
    assert clean_text("infor-\nmation   system\t\tdesign ", config) == "information system design"
    assert clean_text("line one\r\n\r\n\r\n\r\nline two\x00", config) == "line one\n\nline two"
    assert clean_text("well-\nKnown", config) == "well-\nKnown"  # a capital after the break: not a split word


def test_offsets_point_into_document_text(corpus_subset: Path, parser_pool) -> None:
    docs, _ = extracted(corpus_subset, parser_pool)
    result = clean_batch(docs, CleanConfig(), lambda h: None)
    assert result.records
    for doc in result.records:
        assert doc.text == SEPARATOR.join(e.text for e in doc.elements)
        for element in doc.elements:
            assert doc.text[element.char_start : element.char_end] == element.text


def test_exact_duplicates_within_a_batch_and_against_the_catalog() -> None:
    docs = [
        _doc("a", "Quarterly   numbers are final."),
        _doc("b", "quarterly numbers are FINAL."),
        _doc("c", "Something else entirely, long enough."),
    ]
    result = clean_batch(docs, CleanConfig(), lambda h: None)
    assert [d.doc_id[0] for d in result.records] == ["a", "c"]
    assert [(r.reason, r.message) for r in result.rejects] == [("duplicate", f"same text as document {'a' * 64}")]
    known = {result.records[1].text_hash: "z" * 64}
    again = clean_batch([_doc("d", "Something else entirely, long enough.")], CleanConfig(), known.get)
    assert again.rejects[0].reason == "duplicate" and again.rejects[0].message.endswith("z" * 64)
    assert (result.rejects[0].duplicate_of, again.rejects[0].duplicate_of) == ("a" * 64, "z" * 64)


def test_cleaning_leaves_no_control_character_the_cleaned_contract_rejects() -> None:
    from docmill.config.settings import ValidateConfig
    from docmill.stages.validate import check_documents

    def doc(doc_id: str, text: str) -> Document:
        return Document(
            doc_id, "file:///a.txt", "txt", [Element(text, char_end=len(text))], text=text, text_hash="f" * 64
        )

    every = "".join(chr(c) for c in range(0x20)) + "\x7f"
    text = clean_text(f"first{every}second", CleanConfig())
    assert text.startswith("first") and text.endswith("second")
    checked = check_documents([doc("a" * 64, text), doc("b" * 64, "escape\x1bcode")], "cleaned", ValidateConfig())
    assert [d.doc_id for d in checked.records] == ["a" * 64]
    assert [r.reason for r in checked.rejects] == ["cleaned.no_control_chars"]


def test_near_empty_documents_are_rejected_with_their_size() -> None:
    result = clean_batch([_doc("a", "ok")], CleanConfig(min_chars=20), lambda h: None)
    assert not result.records
    assert result.rejects[0].reason == "too_short" and "2 non-space characters" in result.rejects[0].message


def test_separators_become_whitespace_instead_of_gluing_words() -> None:
    config = CleanConfig()
    # a vertical tab is PowerPoint's line break; form feeds, ASCII record/unit separators and Unicode line and
    # paragraph separators separate words too
    assert clean_text("X-Library\x0bThe catalogue", config) == "X-Library\nThe catalogue"
    assert clean_text("end of page\x0cnext page", config) == "end of page\nnext page"
    assert clean_text("field\x1fvalue\x1erecord\x1dgroup\x1cfile", config) == "field value\nrecord\ngroup\nfile"
    assert clean_text("one\u2028two\u2029three", config) == "one\ntwo\n\nthree"


def test_header_footer_removal_keeps_docx_body_list_items(tmp_path: Path) -> None:
    import docx
    from docx.enum.text import WD_BREAK

    from docmill.parsers import parse_file

    document = docx.Document()
    document.sections[0].header.paragraphs[0].text = "Running header of the handbook"
    steps = ["Check the fire exits", "Report hazards to the safety officer"]
    for page in range(1, 5):
        for step in steps:  # every page opens with the same checklist: body text, not a running header
            document.add_paragraph(step, style="List Bullet")
        body = document.add_paragraph(f"Section {page} explains the procedure for floor {page} in detail.")
        if page < 4:
            body.add_run().add_break(WD_BREAK.PAGE)
    document.save(str(tmp_path / "handbook.docx"))
    parsed = parse_file(tmp_path / "handbook.docx", ".docx")
    doc = Document("d" * 64, "file:///handbook.docx", "docx", parsed.elements)
    cleaned = clean_document(doc, CleanConfig())
    for step in steps:
        assert cleaned.text.count(step) == 4, cleaned.text


def test_header_footer_removal_runs_on_fixed_layout_pages_without_positions() -> None:
    from docmill.text.boilerplate import strip_headers_footers

    bodies = ["Minutes of the board.", "Budget for next year.", "Hiring plan.", "Open questions."]
    pages = [[Element("ACME scan header", page=n), Element(bodies[n - 1], page=n)] for n in range(1, 5)]
    elements = [e for page in pages for e in page]
    kept, removed = strip_headers_footers(elements, CleanConfig(), fixed_layout=True)
    assert removed == 4 and all("ACME" not in e.text for e in kept)
    flowing = [Element(e.text, page=e.page) for e in elements]
    assert strip_headers_footers(flowing, CleanConfig())[1] == 0  # no layout evidence: nothing removed


def test_a_near_duplicate_names_its_canonical_copy_in_a_typed_field() -> None:
    config = CleanConfig.model_validate({"quality": {"enabled": False}})  # the text repeats itself on purpose
    words = "The committee reviewed every quarterly figure and agreed to publish the final report next week"
    text = " ".join(f"{words} in section {n}." for n in range(30))
    near = NearDupIndex(sqlite3.connect(":memory:"), DedupConfig())
    result = clean_batch(
        [_doc("a", text), _doc("b", text + " One more closing sentence.")], config, lambda h: None, near
    )
    assert [(r.reason, r.doc_id, r.duplicate_of) for r in result.rejects] == [("near_duplicate", "b" * 64, "a" * 64)]
    assert result.rejects[0].message.startswith("estimated Jaccard ")
