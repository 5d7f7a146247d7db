"""Semantic near-duplicate chunks: the real model's vectors, a real embedded Qdrant collection as the chunks
already published, each policy (keep, flag, drop), the threshold, and the order that makes a chunk canonical."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from docmill.config.settings import SemanticDuplicatesConfig
from docmill.records import Chunk, Document, SemanticMatch, SourceFile, make_chunk_id
from docmill.stages import semantic_duplicates
from docmill.stages.semantic_duplicates import FLAGS, REASON, STAGE, apply
from docmill.state.store import QdrantStore

# Measured with the bundled model (all-MiniLM-L6-v2): CLAIMS ~ CLAIMS_REWORDED 0.997, CLAIMS ~ CLAIMS_OTHER_TERMS
# 0.92 (same topic, other figures: below the 0.97 default), TRAINS ~ the others < 0.3.
CLAIMS = (
    "Claims for travel are filed within thirty days of the trip, with every receipt attached and the cost centre "
    "of the project named on the form. Claims above five hundred euros need the approval of the department head "
    "before the finance office pays them out in the next salary run."
)
CLAIMS_REWORDED = (
    "Claims for travel are filed within thirty days of the trip, with all receipts attached and the cost centre "
    "of the project named on the form. Claims above five hundred euros need approval of the department head "
    "before the finance office pays them in the next salary run."
)
CLAIMS_OTHER_TERMS = (
    "Claims for travel are filed within sixty days of the trip. Claims above one thousand euros need the approval "
    "of the finance director."
)
TRAINS = (
    "Staff book trains for journeys under four hours and economy flights for longer ones, through the travel "
    "desk, which keeps the company's negotiated rates."
)
A, B, C = "a" * 64, "b" * 64, "c" * 64


def _doc(doc_id: str) -> Document:
    return Document(doc_id, f"file:///share/{doc_id[0]}.md", "md", [])


def _chunks(embedder, doc_id: str, *texts: str) -> list[Chunk]:  # type: ignore[no-untyped-def]
    vectors = embedder.encode(list(texts))
    return [
        Chunk(make_chunk_id(doc_id, i, t), doc_id, i, t, 40, 0, len(t), metadata={"title": doc_id[0]}, vector=v)
        for i, (t, v) in enumerate(zip(texts, vectors, strict=True))
    ]


@pytest.fixture
def store(tmp_path: Path, embedder):  # type: ignore[no-untyped-def]
    """A real embedded collection holding document A (TRAINS, CLAIMS), as a run published it."""
    qdrant = QdrantStore("docmill", path=tmp_path / "qdrant")
    qdrant.ensure_collection(embedder.dimension)
    qdrant.replace_document(A, _chunks(embedder, A, TRAINS, CLAIMS), "run-1")
    yield qdrant
    qdrant.close()


def _outside(store: QdrantStore) -> semantic_duplicates.Outside:
    """The flow's lookup without batches waiting: the collection, never the batch's own documents."""
    return lambda chunks, threshold: store.nearest(
        [c.vector for c in chunks], threshold, {c.doc_id for c in chunks}, unflagged=FLAGS[0]
    )


def _config(policy: str, threshold: float = 0.97) -> SemanticDuplicatesConfig:
    return SemanticDuplicatesConfig(enabled=True, policy=policy, threshold=threshold)  # type: ignore[arg-type]


def test_flag_marks_the_chunk_that_repeats_a_published_paragraph(store: QdrantStore, embedder) -> None:  # type: ignore[no-untyped-def]
    chunks = _chunks(embedder, B, CLAIMS_REWORDED, CLAIMS_OTHER_TERMS)
    canonical = make_chunk_id(A, 1, CLAIMS)
    result = apply([_doc(B)], chunks, _config("flag"), _outside(store))

    assert [c.chunk_id for c in result.records] == [c.chunk_id for c in chunks] and not result.rejects
    flagged, other = result.records
    assert flagged.metadata["semantic_duplicate_of"] == canonical and flagged.metadata["semantic_duplicate_doc"] == A
    assert 0.99 < flagged.metadata["semantic_duplicate_cosine"] <= 1.0
    assert not set(FLAGS) & set(other.metadata), "0.92 is below the 0.97 threshold: not a near-duplicate"
    assert result.stats["found"] == result.stats["found_outside"] == result.stats["flagged"] == 1
    assert result.stats["rejected"] == result.stats["dropped"] == 0


def test_drop_quarantines_the_chunk_naming_its_canonical_chunk(store: QdrantStore, embedder) -> None:  # type: ignore[no-untyped-def]
    chunks = _chunks(embedder, B, TRAINS + " Tickets are refundable.", CLAIMS_REWORDED)
    result = apply([_doc(B)], chunks, _config("drop"), _outside(store))

    assert [c.text for c in result.records] == [chunks[0].text]
    (reject,) = result.rejects
    canonical = make_chunk_id(A, 1, CLAIMS)
    assert (reject.stage, reject.reason, reject.doc_id, reject.chunk_id) == (STAGE, REASON, B, chunks[1].chunk_id)
    assert reject.duplicate_of == A and reject.source_uri == "file:///share/b.md" and not reject.whole_document
    assert reject.message.startswith("cosine 0.99") and f"chunk {canonical} of document {A}" in reject.message
    assert result.stats["dropped"] == result.stats["rejected"] == 1
    assert not set(FLAGS) & {k for c in result.records for k in c.metadata}


def test_a_document_whose_every_chunk_is_dropped_becomes_a_duplicate(store: QdrantStore, embedder) -> None:  # type: ignore[no-untyped-def]
    chunks = _chunks(embedder, B, CLAIMS_REWORDED)
    result = apply([_doc(B)], chunks, _config("drop"), _outside(store))

    assert result.records == []
    chunk_reject, document_reject = result.rejects
    assert chunk_reject.chunk_id == chunks[0].chunk_id
    assert document_reject.whole_document and document_reject.reason == REASON and document_reject.duplicate_of == A
    assert result.stats["documents_dropped"] == 1 and result.stats["rejected"] == 1  # chunks


def test_keep_only_counts(store: QdrantStore, embedder) -> None:  # type: ignore[no-untyped-def]
    chunks = _chunks(embedder, B, CLAIMS_REWORDED, CLAIMS_OTHER_TERMS)
    before = [dict(c.metadata) for c in chunks]
    result = apply([_doc(B)], chunks, _config("keep"), _outside(store))
    assert [c.metadata for c in result.records] == before and not result.rejects
    assert result.stats["found"] == 1 and result.stats["flagged"] == result.stats["dropped"] == 0


def test_within_a_batch_the_earlier_chunk_in_document_order_is_canonical(tmp_path: Path, embedder) -> None:  # type: ignore[no-untyped-def]
    """C's copy comes first in the list, but B sorts first: B's chunk is canonical, in any input order; a chunk
    never names a near-duplicate as its canonical chunk (the second copy in C names B's, not C's first)."""
    b = _chunks(embedder, B, CLAIMS)
    c = _chunks(embedder, C, CLAIMS_REWORDED, TRAINS, CLAIMS_REWORDED)
    nothing_outside: semantic_duplicates.Outside = lambda chunks, threshold: [None] * len(chunks)  # noqa: E731
    for order in ([*c, *b], [*b, *c]):
        for item in order:
            item.metadata = {"title": item.doc_id[0]}
        result = apply([_doc(B), _doc(C)], order, _config("flag"), nothing_outside)
        flagged = {x.chunk_id: x.metadata.get("semantic_duplicate_of") for x in result.records}
        assert flagged == {
            b[0].chunk_id: None,
            c[0].chunk_id: b[0].chunk_id,
            c[1].chunk_id: None,
            c[2].chunk_id: b[0].chunk_id,
        }
        assert result.stats["found_in_batch"] == 2 and [x.chunk_id for x in result.records] == [
            x.chunk_id for x in order
        ]


def test_below_the_threshold_nothing_is_found_and_a_lower_threshold_finds_it(store: QdrantStore, embedder) -> None:  # type: ignore[no-untyped-def]
    chunks = _chunks(embedder, B, CLAIMS_OTHER_TERMS)
    assert apply([_doc(B)], chunks, _config("flag"), _outside(store)).stats["found"] == 0
    result = apply([_doc(B)], chunks, _config("flag", threshold=0.9), _outside(store))
    assert result.records[0].metadata["semantic_duplicate_of"] == make_chunk_id(A, 1, CLAIMS)


def test_the_collection_never_answers_with_the_batch_documents_or_a_flagged_point(store: QdrantStore, embedder) -> None:  # type: ignore[no-untyped-def]
    """A's own points are being replaced when A is in the batch; a flagged point is no canonical chunk."""
    (vector,) = [c.vector for c in _chunks(embedder, B, CLAIMS_REWORDED)]
    (found,) = store.nearest([vector], 0.97)
    assert found == SemanticMatch(make_chunk_id(A, 1, CLAIMS), A, pytest.approx(found.cosine))  # type: ignore[union-attr]
    assert store.nearest([vector], 0.97, {A}) == [None]
    flagged = _chunks(embedder, C, CLAIMS)
    flagged[0].metadata.update(dict(zip(FLAGS, (found.chunk_id, A, 1.0), strict=True)))  # type: ignore[union-attr]
    store.replace_document(A, [], "run-2", [_chunks(embedder, A, TRAINS, CLAIMS)[i].point_id for i in (0, 1)])
    store.replace_document(C, flagged, "run-2")
    assert store.nearest([vector], 0.97, unflagged=FLAGS[0]) == [None]
    assert store.nearest([vector], 0.97)[0].chunk_id == flagged[0].chunk_id  # type: ignore[union-attr]


def test_identical_vectors_reach_a_threshold_of_one(embedder) -> None:  # type: ignore[no-untyped-def]
    chunks = [*_chunks(embedder, B, CLAIMS), *_chunks(embedder, C, CLAIMS)]
    found = semantic_duplicates.find(chunks, 1.0, lambda items, threshold: [None] * len(items))
    assert found[0] is None and found[1] is not None and found[1].cosine == pytest.approx(1.0, abs=1e-5)
    assert np.allclose(np.linalg.norm(semantic_duplicates.unit_rows([c.vector for c in chunks]), axis=1), 1)


def test_the_catalog_scan_of_the_embedded_store_answers_as_a_filtered_query(tmp_path: Path, embedder) -> None:  # type: ignore[no-untyped-def]
    """With the embedded store, `Bookkeeping.nearest_points` scans the catalog's vectors (one pass per batch, not
    one Qdrant scan per chunk): the same canonical chunks as the filtered Qdrant query, the batch's documents,
    superseded previous contents and flagged chunks excluded alike."""
    from docmill.config.settings import PathsConfig, Settings
    from docmill.run.bookkeeping import Bookkeeping
    from docmill.run.context import RunContext
    from docmill.state import ledger

    ctx = RunContext(Settings(paths=PathsConfig(data_dir=tmp_path / "data")), "r1")
    try:
        book = Bookkeeping(ctx)
        a, c = _chunks(embedder, A, TRAINS, CLAIMS), _chunks(embedder, C, CLAIMS_REWORDED, TRAINS + " By train.")
        c[0].metadata.update(dict(zip(FLAGS, (a[1].chunk_id, A, 0.997), strict=True)))
        d = _chunks(embedder, "d" * 64, CLAIMS_OTHER_TERMS)
        with ctx.catalog.transaction():
            for doc_id, chunks in ((A, a), (C, c), ("d" * 64, d)):
                ctx.catalog.replace_chunks(doc_id, chunks, ctx.embedder.model_key, "r1")
                ctx.store.replace_document(doc_id, chunks, "r1")
        queries = [x.vector for x in _chunks(embedder, B, CLAIMS_REWORDED, TRAINS, CLAIMS_OTHER_TERMS, "Unrelated.")]
        for threshold in (0.97, 0.9):
            for excluded in (set(), {A}):
                scanned = book.nearest_points(queries, threshold, excluded)
                queried = ctx.store.nearest(queries, threshold, excluded, unflagged=FLAGS[0])
                assert [m and m.chunk_id for m in scanned] == [m and m.chunk_id for m in queried]
                for s, q in zip(scanned, queried, strict=True):
                    assert s is None or q is None or s.cosine == pytest.approx(q.cosine, abs=1e-4)
        assert book.nearest_points(queries, 0.97, set())[0].chunk_id == a[1].chunk_id  # type: ignore[union-attr]
        assert book.nearest_points(queries, 0.97, set())[1].chunk_id == a[0].chunk_id  # type: ignore[union-attr]
        with ctx.catalog.transaction():  # a's file changed: its previous content is on its way out
            ctx.catalog.upsert_source(SourceFile("file:///a.md", "/a.md", 1, 0.0, A, ".md"), "r1")
            ctx.catalog.add_document(SourceFile("file:///a.md", "/a.md", 1, 0.0, A, ".md"), "r1")
            ledger.superseded(ctx.catalog, A, B)
        assert book.nearest_points(queries, 0.97, set())[0] is None, "c's copy is flagged, a's superseded"
        assert book.nearest_points(queries, 0.9, set())[0].doc_id == "d" * 64  # type: ignore[union-attr]
    finally:
        ctx.close()


def test_the_step_runs_only_when_enabled() -> None:
    from docmill.config.settings import Settings
    from docmill.run import plan

    names = lambda settings: [s.name for s in plan.turn_steps(settings)]  # noqa: E731
    assert "semantic_duplicates" not in names(Settings())
    enabled = Settings(embed={"semantic_duplicates": {"enabled": True}})  # type: ignore[arg-type]
    assert names(enabled)[-2:] == ["validate", "semantic_duplicates"]
    assert [s.name for s in plan.AT_TURN if s.when is None] == names(Settings())


def test_when_every_candidate_is_excluded_the_query_is_asked_again_with_the_filter(tmp_path: Path, embedder) -> None:  # type: ignore[no-untyped-def]
    """17 copies in A (the excluded document) come before D's chunk at 0.92: past the 16 candidates of the first
    query, only the filtered second query finds D's."""
    store = QdrantStore("docmill", path=tmp_path / "qdrant")
    try:
        store.ensure_collection(embedder.dimension)
        (vector,) = embedder.encode([CLAIMS])
        copies = [Chunk(make_chunk_id(A, i, CLAIMS), A, i, CLAIMS, 40, 0, 1, vector=vector) for i in range(17)]
        store.replace_document(A, copies, "r1")
        store.replace_document("d" * 64, _chunks(embedder, "d" * 64, CLAIMS_OTHER_TERMS), "r1")
        (query,) = [c.vector for c in _chunks(embedder, B, CLAIMS_REWORDED)]
        assert store.nearest([query], 0.9)[0].doc_id == A  # type: ignore[union-attr]
        assert store.nearest([query], 0.9, {A})[0].doc_id == "d" * 64  # type: ignore[union-attr]
        assert store.nearest([query], 0.97, {A}) == [None]
    finally:
        store.close()
