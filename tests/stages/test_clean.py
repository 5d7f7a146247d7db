from pathlib import Path

from docmill.records import Document, Element
from docmill.settings import CleanConfig
from docmill.stages.clean import SEPARATOR, clean, clean_text
from tests.helpers import extracted


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
    result = clean(docs, CleanConfig(), lambda h: None)
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
    result = clean(docs, CleanConfig(), lambda h: None)
    assert [d.doc_id[0] for d in result.records] == ["a", "c"]
    assert [(r.reason, r.message) for r in result.rejects] == [("duplicate", f"same text as document {'a' * 64}")]
    known = {result.records[1].text_hash: "z" * 64}
    again = clean([_doc("d", "Something else entirely, long enough.")], CleanConfig(), known.get)
    assert again.rejects[0].reason == "duplicate" and again.rejects[0].message.endswith("z" * 64)


def test_near_empty_documents_are_rejected_with_their_size() -> None:
    result = clean([_doc("a", "ok")], CleanConfig(min_chars=20), lambda h: None)
    assert not result.records
    assert result.rejects[0].reason == "too_short" and "2 non-space characters" in result.rejects[0].message
