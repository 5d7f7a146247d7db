"""Hostile review of the persisted chunk context (issue 22, 02925dd + 71f23d2: `stages/context.py`, enrich's
`titled`, `Chunk.stored_metadata` -> catalog metadata, Qdrant payload `context`, dataset rows, and
`embedding/sparse.payload_text` reading it back).

Tests "Found by review" assert the behaviour a reviewer expected and failed on the reviewed code: each one is a
finding (see the review report). The others pin behaviour that was checked and found right."""

from __future__ import annotations

import pytest

from docmill.config.settings import ChunkConfig, EnrichConfig
from docmill.embedding.sparse import payload_text, text_of
from docmill.records import Document, Element, SourceFile, sha256_hex
from docmill.stages.chunk import chunk_document
from docmill.stages.enrich import enrich
from docmill.state.store import point_payload

_TEXT = "Quarterly stock count\n\nEvery pallet in bay 7 is counted twice by two different clerks before noon."


def _enriched(contextualize: bool, tokenizer, column: str):  # type: ignore[no-untyped-def]
    """One document read from a SQL table whose configured `metadata_columns` include one named `context`
    (`sources/sql.py` puts each column into the item's metadata; enrich copies it into every chunk's)."""
    start = _TEXT.index("Every")
    elements = [Element("Quarterly stock count", "title", char_start=0, char_end=21, level=0)]
    elements.append(Element(_TEXT[start:], "text", char_start=start, char_end=len(_TEXT)))
    doc_id = sha256_hex(_TEXT)
    doc = Document(doc_id, "sql://warehouse/notes/17", "txt", elements, text=_TEXT)
    source = SourceFile(doc.source_uri, "/tmp/17.txt", len(_TEXT), 0.0, doc_id, ".txt", "v1", {"context": column})
    chunks = chunk_document(doc, ChunkConfig(contextualize=contextualize), tokenizer)
    fit = tokenizer if contextualize else None
    result = enrich([doc], chunks, {doc_id: source}, EnrichConfig(detect_language=False), None, None, fit)
    assert result.records and not result.rejects
    return result.records


@pytest.mark.parametrize("contextualize", [False, True])
def test_a_metadata_column_named_context_does_not_change_the_restored_sparse_text(
    contextualize: bool,
    tokenizer,  # type: ignore[no-untyped-def]
) -> None:
    """Found by review (medium): the persisted context shares the flat payload namespace with connector
    metadata. A SQL source with a `metadata_columns` entry named `context` (or any connector field so named)
    puts that column into every chunk's metadata and so into its payload. With `chunk.contextualize: false`,
    `payload_text` (a `docmill index restore`, a store migration) then reads the column as the embedded context
    and the rebuilt point's sparse vector holds the column's words, unlike the one the pipeline wrote (before
    02925dd a restored point got exactly the pipeline's). With contextualize on, `stored_metadata` overwrites
    the user's column with the context in the catalog, the payload and the dataset rows (the column is lost),
    and a later move of the file (`update_chunk_metadata` with `location_metadata`, which carries the column)
    writes the column back over the stored context. Fixed: a connector field named like a key docmill writes
    itself is kept as `source_<name>` (`enrich.OWN_KEYS`)."""
    column = "handwritten note from the night shift"
    for item in _enriched(contextualize, tokenizer, column):
        payload = point_payload(item, "run-1")
        assert payload_text(payload) == text_of(item), "the restored point's sparse text"
        assert column not in text_of(item), "the column is metadata, never embedded"
        assert column in payload.values(), "the column is kept in the payload (and the catalog, the dataset)"


def test_a_numeric_metadata_column_named_context_does_not_break_a_restore(tokenizer) -> None:  # type: ignore[no-untyped-def]
    """Found by review (medium, same cause): a SQL `metadata_columns` entry named `context` holding a number
    (`sources/sql.py` keeps ints as ints) reaches the payload as an int; `payload_text` passes it to `Chunk` as the
    context and `Chunk.embedding_text` calls `.split` on it: `docmill index restore` and the store migration
    (`QdrantStore._of_payload`) stopped with AttributeError instead of rebuilding the point. Fixed: a `context`
    that is no string is not read as one."""
    for item in _enriched(False, tokenizer, 7):  # type: ignore[arg-type]
        assert payload_text(point_payload(item, "run-1")) == text_of(item)


@pytest.mark.parametrize("contextualize", [False, True])
def test_the_persisted_context_rebuilds_the_embedded_text(contextualize: bool, tokenizer) -> None:  # type: ignore[no-untyped-def]
    """Checked and right: without a colliding column, a point rebuilt from its payload gets the text the
    pipeline embedded, with and without the context; without it the payload holds no `context` key at all
    (contextualize off: the payload is what it was before 02925dd)."""
    doc_id = sha256_hex(_TEXT)
    source = SourceFile("file:///data/notes.txt", "/data/notes.txt", len(_TEXT), 0.0, doc_id, ".txt")
    start = _TEXT.index("Every")
    elements = [Element("Quarterly stock count", "title", char_start=0, char_end=21, level=0)]
    elements.append(Element(_TEXT[start:], "text", char_start=start, char_end=len(_TEXT)))
    doc = Document(doc_id, source.source_uri, "txt", elements, text=_TEXT)
    chunks = chunk_document(doc, ChunkConfig(contextualize=contextualize), tokenizer)
    fit = tokenizer if contextualize else None
    records = enrich([doc], chunks, {doc_id: source}, EnrichConfig(detect_language=False), None, None, fit).records
    for item in records:
        payload = point_payload(item, "run-1")
        assert payload_text(payload) == text_of(item)
        assert ("context" in payload) is contextualize


@pytest.mark.parametrize("field", ["source_uri", "title", "doc_id", "sha256", "headings"])
def test_a_connector_field_can_neither_forge_nor_lose_under_a_docmill_key(field: str, tokenizer) -> None:  # type: ignore[no-untyped-def]
    """Found by review (the same class): connector metadata was merged over docmill's own keys, so a SQL column
    named `source_uri` rewrote every chunk's lineage in the payload and the dataset, and one named like a key set
    later (`title`, `headings`) was silently replaced. Now it is kept as `source_<name>`, docmill's key stays."""
    forged = "s3://elsewhere/forged.pdf"
    doc_id = sha256_hex(_TEXT)
    start = _TEXT.index("Every")
    elements = [Element("Quarterly stock count", "title", char_start=0, char_end=21, level=0)]
    elements.append(Element(_TEXT[start:], "text", char_start=start, char_end=len(_TEXT)))
    doc = Document(doc_id, "sql://warehouse/notes/17", "txt", elements, text=_TEXT)
    source = SourceFile(doc.source_uri, "/tmp/17.txt", len(_TEXT), 0.0, doc_id, ".txt", "v1", {field: forged})
    chunks = chunk_document(doc, ChunkConfig(), tokenizer)
    result = enrich([doc], chunks, {doc_id: source}, EnrichConfig(detect_language=False), None, None, tokenizer)
    for item in result.records:
        payload = point_payload(item, "run-1")
        assert payload[f"source_{field}"] == forged, "the connector's value is kept"
        assert payload[field] != forged, "docmill's own value is not replaced"
        assert payload["source_uri"] == "sql://warehouse/notes/17" and payload["doc_id"] == doc_id
