"""Hybrid vectors in the real embedded Qdrant: every point has a dense and a sparse vector, an identifier is
found first by hybrid and sparse search, and a store of the old layout is migrated on open without
re-embedding."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from docmill.config.settings import EmbedConfig, PathsConfig, Settings
from docmill.embedding.sparse import SparseEncoder
from docmill.records import Chunk, make_chunk_id
from docmill.run.search import search
from docmill.stages.embed import embed
from docmill.state.store import DENSE, SPARSE, QdrantStore, point_payload

DOC = "d" * 64
LINES = [
    "Order SKU-0017: twelve ceramic mugs delivered to the Leeds warehouse on Monday.",
    "Order SKU-0018: forty boxes of printer paper delivered to the Leeds office.",
    "Order SKU-0019: six standing desks shipped to the Bristol office, invoice INV-2024-0042.",
    "Order SKU-0020: two coffee machines shipped to the Bristol warehouse.",
    "Order SKU-0021: ten office chairs delivered to the Leeds warehouse on Friday.",
    "Travel policy: economy class for flights under six hours, receipts within thirty days.",
    "The quarterly review meeting moves to the third floor conference room.",
    "Payment terms: every supplier invoice is paid within thirty days of receipt.",
]


def _chunks(embedder) -> list[Chunk]:  # type: ignore[no-untyped-def]
    chunks = [
        Chunk(make_chunk_id(DOC, i, t), DOC, i, t, 20, 0, len(t), metadata={"source_uri": "file:///orders.txt"})
        for i, t in enumerate(LINES)
    ]
    return embed(chunks, EmbedConfig(), embedder, lambda hashes, key: {}, SparseEncoder(["en"])).records


def _settings(tmp_path: Path) -> Settings:
    return Settings(paths=PathsConfig(data_dir=tmp_path / "data"))


@pytest.fixture
def store(tmp_path: Path, embedder):  # type: ignore[no-untyped-def]
    opened = QdrantStore("docmill", path=tmp_path / "data" / "qdrant")
    opened.ensure_collection(embedder.dimension)
    opened.replace_document(DOC, _chunks(embedder), "run-1")
    yield opened
    opened.close()


def _ids(hits) -> list[str]:  # type: ignore[no-untyped-def]
    return [h.text.split(":")[0] for h in hits]


def test_every_point_has_a_dense_and_a_sparse_vector(store: QdrantStore, embedder) -> None:  # type: ignore[no-untyped-def]
    records, _ = store.client.scroll("docmill", limit=20, with_vectors=True, with_payload=True)
    assert len(records) == len(LINES)
    for record in records:
        vectors = record.vector
        assert isinstance(vectors, dict) and set(vectors) == {DENSE, SPARSE}
        assert len(vectors[DENSE]) == embedder.dimension and vectors[SPARSE].indices  # type: ignore[union-attr]
        assert record.payload and record.payload["sparse_model"].startswith("bm25-v1+")
    params = store.client.get_collection("docmill").config.params
    assert params.sparse_vectors and params.sparse_vectors[SPARSE].modifier == "idf"


def test_an_identifier_is_found_first_by_hybrid_and_sparse_search(tmp_path: Path, store: QdrantStore) -> None:
    settings = _settings(tmp_path)
    for query in ("SKU-0019", "which desks came with SKU-0019?", "INV-2024-0042"):
        for mode in ("hybrid", "sparse"):
            hits = search(settings, query, mode=mode, k=5, store=store)  # type: ignore[arg-type]
            assert _ids(hits)[0] == "Order SKU-0019", (query, mode, _ids(hits))
    # dense alone barely tells SKU-0019 from its neighbours (0.37 vs 0.35 with the bundled model), and ranks it
    # 4th for its number; the sparse vector's lead is many times the runner-up's score
    dense = search(settings, "SKU-0019", mode="dense", k=len(LINES), store=store)
    assert dense[0].score - dense[1].score < 0.05
    sparse = search(settings, "SKU-0019", mode="sparse", k=len(LINES), store=store)
    assert sparse[0].score > 5 * sparse[1].score
    assert _ids(search(settings, "order 0019", mode="dense", k=len(LINES), store=store))[0] != "Order SKU-0019"
    assert _ids(search(settings, "order 0019", mode="sparse", k=len(LINES), store=store))[0] == "Order SKU-0019"
    first = search(settings, "SKU-0019", mode="sparse", k=5, store=store)[0]
    assert (first.doc_id, first.source_uri, first.char_start, first.char_end) == (
        DOC,
        "file:///orders.txt",
        0,
        len(LINES[2]),
    )
    assert first.headings == [] and first.payload["chunk_index"] == 2
    filtered = search(settings, "SKU-0019", filters={"chunk_index": "3"}, store=store)
    assert _ids(filtered) == ["Order SKU-0020"], "a filter value of digits matches the integer payload value"
    assert search(settings, "the of and", mode="sparse", store=store) == []  # stop words only: no sparse query


def _old_layout(path: Path, chunks: list[Chunk]) -> None:
    """A collection as docmill wrote it before hybrid vectors: one unnamed dense vector per point."""
    from qdrant_client import QdrantClient, models

    client = QdrantClient(path=str(path))
    client.create_collection("docmill", vectors_config=models.VectorParams(size=384, distance=models.Distance.COSINE))
    points = []
    for c in chunks:
        payload = point_payload(c, "run-0")
        payload.pop("sparse_model")
        points.append(models.PointStruct(id=c.point_id, vector=c.vector.tolist(), payload=payload))  # type: ignore[union-attr]
    client.upsert("docmill", points=points, wait=True)
    client.close()


def test_a_store_of_the_old_layout_is_migrated_on_open_without_re_embedding(tmp_path: Path, embedder) -> None:  # type: ignore[no-untyped-def]
    chunks = _chunks(embedder)
    path = tmp_path / "data" / "qdrant"
    _old_layout(path, chunks)

    class NoModel:  # migration must not embed: a store never holds the model, and it is not asked for one
        dimension = 384

    store = QdrantStore("docmill", path=path, sparse=SparseEncoder(["en"]))
    try:
        store.ensure_collection(NoModel.dimension)
        records, _ = store.client.scroll("docmill", limit=20, with_vectors=True, with_payload=True)
        assert store.count() == len(LINES) and not store.client.collection_exists("docmill--migrating")
        by_id = {c.point_id: c for c in chunks}
        for record in records:
            original = by_id[str(record.id)]
            vectors = record.vector
            assert isinstance(vectors, dict)
            assert np.allclose(vectors[DENSE], original.vector, atol=1e-6), "the old dense vector, not a new one"
            sparse = vectors[SPARSE]
            assert list(sparse.indices) == original.sparse.indices  # type: ignore[union-attr]
            assert np.allclose(sparse.values, original.sparse.values)  # type: ignore[union-attr]
            assert record.payload and record.payload["run_id"] == "run-0"
        hits = search(_settings(tmp_path), "SKU-0019", mode="hybrid", k=3, store=store)
        assert _ids(hits)[0] == "Order SKU-0019"
        store.ensure_collection(384)  # opened again: nothing to migrate
        assert store.count() == len(LINES)
    finally:
        store.close()


def test_a_migration_stopped_after_the_copy_is_finished_on_the_next_open(tmp_path: Path, embedder) -> None:  # type: ignore[no-untyped-def]
    chunks = _chunks(embedder)
    path = tmp_path / "data" / "qdrant"
    store = QdrantStore("docmill--migrating", path=path)  # the staging copy, complete; the old collection dropped
    store.ensure_collection(384)
    store.replace_document(DOC, chunks, "run-0")
    store.close()
    store = QdrantStore("docmill", path=path)
    try:
        store.ensure_collection(384)
        assert store.count() == len(LINES) and not store.client.collection_exists("docmill--migrating")
    finally:
        store.close()


def test_points_written_from_payloads_get_their_sparse_vector_from_the_text(tmp_path: Path, embedder) -> None:  # type: ignore[no-untyped-def]
    """`docmill index restore` writes points from a dataset version's rows (`QdrantStore.upsert`)."""
    chunks = _chunks(embedder)
    store = QdrantStore("restored", path=tmp_path / "data" / "qdrant", sparse=SparseEncoder(["en"]))
    try:
        store.ensure_collection(384)
        payloads = [point_payload(c, "run-1") for c in chunks]
        store.upsert([c.point_id for c in chunks], np.stack([c.vector for c in chunks]), payloads)  # type: ignore[misc]
        records, _ = store.client.scroll("restored", limit=20, with_vectors=True)
        by_id = {c.point_id: c for c in chunks}
        for record in records:
            assert list(record.vector[SPARSE].indices) == by_id[str(record.id)].sparse.indices  # type: ignore[index,union-attr]
        hits = store.search(None, SparseEncoder(["en"]).query("INV-2024-0042"), k=1)
        assert hits[0][2]["text"].startswith("Order SKU-0019")
    finally:
        store.close()


def test_a_contextualized_point_rebuilt_from_its_catalog_row_gets_the_same_sparse_vector(
    tmp_path: Path,
    embedder,  # type: ignore[no-untyped-def]
) -> None:
    """The context embedded before a chunk's text (title, heading path) feeds its sparse vector: a point rebuilt
    from the chunk's catalog row or dataset row (`docmill index restore`, a migration) must get it too."""
    from docmill.state.catalog import Catalog
    from docmill.state.store import row_payload

    framed = [
        Chunk(c.chunk_id, c.doc_id, c.index, c.text, c.token_count, c.char_start, c.char_end, metadata=c.metadata)
        for c in _chunks(embedder)
    ]
    for item in framed:
        item.context = "Purchasing ledger 2024\nBristol office\nStanding desks"
    framed = embed(framed, EmbedConfig(), embedder, lambda hashes, key: {}, SparseEncoder(["en"])).records
    catalog = Catalog(tmp_path / "catalog.db")
    with catalog.transaction():
        catalog.replace_chunks(DOC, framed, "model@test", "run-1")
    rows = [row for page in catalog.iter_chunks() for row in page]
    store = QdrantStore("restored", path=tmp_path / "data" / "qdrant", sparse=SparseEncoder(["en"]))
    try:
        store.ensure_collection(384)
        payloads = [row_payload(dict(row)) for row in rows]
        store.upsert([row["point_id"] for row in rows], np.stack([c.vector for c in framed]), payloads)  # type: ignore[misc]
        records, _ = store.client.scroll("restored", limit=20, with_vectors=True, with_payload=True)
        by_id = {c.point_id: c for c in framed}
        assert len(records) == len(framed)
        for record in records:
            original = by_id[str(record.id)]
            assert record.payload and record.payload["context"] == original.context
            assert list(record.vector[SPARSE].indices) == original.sparse.indices  # type: ignore[index,union-attr]
        hits = store.search(None, SparseEncoder(["en"]).query("purchasing ledger"), k=len(LINES))
        assert len(hits) == len(LINES), "the context's words find every chunk it framed"
    finally:
        store.close()
        catalog.close()
