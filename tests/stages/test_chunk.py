import itertools
from pathlib import Path

from docmill.config.settings import ChunkConfig, CleanConfig
from docmill.records import Document, Element
from docmill.stages.chunk import chunk, chunk_document
from docmill.stages.clean import clean_document
from tests.helpers import cleaned


def test_chunks_are_exact_spans_within_the_token_budget(corpus_subset: Path, parser_pool, tokenizer) -> None:
    docs = cleaned(corpus_subset, parser_pool)
    result = chunk(docs, ChunkConfig(), tokenizer)
    assert len(result.records) >= len(docs)
    texts = {d.doc_id: d.text for d in docs}
    for item in result.records:
        assert texts[item.doc_id][item.char_start : item.char_end] == item.text
        assert 1 <= item.token_count <= tokenizer.max_tokens
        assert item.token_count == len(tokenizer.offsets([item.text])[0])
    assert len({c.chunk_id for c in result.records}) == len(result.records)


def test_pdf_chunks_keep_page_numbers(corpus_subset: Path, parser_pool, tokenizer) -> None:
    docs = [d for d in cleaned(corpus_subset, parser_pool) if d.source_uri.endswith("layout-parser-paper-fast.pdf")]
    chunks = chunk(docs, ChunkConfig(), tokenizer).records
    assert chunks[0].page_start == 1
    assert max(c.page_end or 0 for c in chunks) == docs[0].metadata["pages"]
    assert all(c.page_start is not None and c.page_start <= (c.page_end or 0) for c in chunks)


def _long_doc() -> Document:
    body = " ".join(f"Sentence number {i} talks about retention policies and audits." for i in range(60))
    doc = Document(
        "d" * 64,
        "file:///d.txt",
        "txt",
        [
            Element("Introduction", "title"),
            Element(body),
            Element("Second part", "title"),
            Element("Short closing words for the second part."),
        ],
    )
    return clean_document(doc, CleanConfig())


def test_titles_start_chunks_and_long_sections_overlap(tokenizer) -> None:
    doc = _long_doc()
    chunks = chunk_document(doc, ChunkConfig(max_tokens=64, overlap_tokens=16), tokenizer)
    assert chunks[0].text.startswith("Introduction")
    assert chunks[-1].text.startswith("Second part")
    body = [c for c in chunks if "Sentence number" in c.text]
    assert len(body) > 3
    for previous, current in itertools.pairwise(body):
        assert current.char_start < previous.char_end, "neighbouring chunks of one section overlap"
    assert all(c.token_count <= 64 for c in chunks)


def test_no_overlap_when_disabled_and_ids_are_stable(tokenizer) -> None:
    chunks = chunk_document(_long_doc(), ChunkConfig(max_tokens=64, overlap_tokens=0), tokenizer)
    for previous, current in itertools.pairwise(chunks):
        assert current.char_start >= previous.char_end
    again = chunk_document(_long_doc(), ChunkConfig(max_tokens=64, overlap_tokens=0), tokenizer)
    assert [c.chunk_id for c in chunks] == [c.chunk_id for c in again]


def test_an_over_long_sentence_is_cut_at_token_boundaries(tokenizer) -> None:
    doc = clean_document(Document("e" * 64, "file:///e.txt", "txt", [Element("word " * 700)]), CleanConfig())
    chunks = chunk_document(doc, ChunkConfig(overlap_tokens=0), tokenizer)
    assert len(chunks) == 3
    assert all(c.token_count <= tokenizer.max_tokens for c in chunks)
    assert sum(c.token_count for c in chunks) == 700


def test_long_words_are_never_split_into_an_over_budget_chunk(tokenizer) -> None:
    text = "the " + "internationalization " * 254
    doc = clean_document(Document("f" * 64, "file:///f.txt", "txt", [Element(text)]), CleanConfig())
    chunks = chunk_document(doc, ChunkConfig(overlap_tokens=0), tokenizer)
    assert "".join(c.text.replace(" ", "") for c in chunks) == doc.text.replace(" ", "")
    for item in chunks:
        assert item.token_count == len(tokenizer.offsets([item.text])[0]) <= tokenizer.max_tokens
        assert not item.text.startswith("ization")


def _table_doc(rows: int) -> Document:
    table = "\n".join(
        ["|Asset|Owner|Cost|", "|---|---|---|"] + [f"|Laptop {i}|IT team|{1000 + i}|" for i in range(rows)]
    )
    elements = [
        Element("The inventory lists every asset the company owns and who is responsible for it."),
        Element("Table 1: Assets", "title"),
        Element(table, "table"),
        Element("Assets are reviewed every quarter by the finance department."),
    ]
    return clean_document(Document("t" * 64, "file:///t.pdf", "pdf", elements), CleanConfig())


def test_a_table_that_fits_is_one_chunk_with_its_heading(tokenizer) -> None:
    doc = _table_doc(4)
    chunks = chunk_document(doc, ChunkConfig(overlap_tokens=16), tokenizer)
    texts = [c.text for c in chunks]
    table = doc.elements[2].text
    assert texts == [doc.elements[0].text, f"Table 1: Assets\n\n{table}", doc.elements[3].text]


def test_a_long_table_is_cut_between_rows_without_overlap(tokenizer) -> None:
    doc = _table_doc(40)
    chunks = chunk_document(doc, ChunkConfig(max_tokens=64, overlap_tokens=16), tokenizer)
    parts = [c for c in chunks if "|" in c.text]
    assert len(parts) > 3
    for part in parts:
        rows = part.text.split("\n")
        assert all(r.startswith("|") and r.endswith("|") for r in rows if r and r != "Table 1: Assets")
        assert part.token_count <= 64
    for previous, current in itertools.pairwise(parts):
        assert current.char_start > previous.char_end, "table rows are not repeated across chunks"
    assert not any("|" in c.text and "quarter" in c.text for c in chunks), "the table ends its chunk"


def test_chunks_made_ahead_for_documents_dropped_later_are_left_out(corpus_subset: Path, parser_pool, tokenizer):
    from docmill.config.settings import QualityConfig
    from docmill.stages.chunk import for_documents

    docs = cleaned(corpus_subset, parser_pool)
    empty = Document("e" * 64, "file:///empty.txt", "txt", [Element("")])  # rejected by chunk: no_chunks
    ahead = chunk([*docs, empty], ChunkConfig(), tokenizer, QualityConfig())
    survivors = docs[1:]  # the first was deduplicated and the empty one dropped by a contract, say
    only = chunk(survivors, ChunkConfig(), tokenizer, QualityConfig())
    kept = for_documents(ahead, survivors)
    assert [c.chunk_id for c in kept.records] == [c.chunk_id for c in only.records]
    assert kept.rejects == only.rejects and any(r.doc_id == empty.doc_id for r in ahead.rejects)
    assert {k: v for k, v in kept.stats.items() if k != "seconds"} == {
        k: v for k, v in only.stats.items() if k != "seconds"
    }
