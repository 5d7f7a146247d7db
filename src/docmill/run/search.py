"""Query the collection docmill writes: dense, sparse or hybrid (both fused by reciprocal rank in one Qdrant
Query API call). The function `docmill search` calls, importable for applications:

    from docmill.config.settings import load_settings
    from docmill.run.search import search

    for hit in search(load_settings(), "SKU-0019 delivery", filters={"file_type": "pdf"}, k=5):
        print(hit.score, hit.source_uri, hit.page_start, hit.text[:80])

The query's dense vector comes from the configured embedding model, its sparse vector from the configured
sparse encoder (`embed.sparse`), so both match the points' vectors.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from docmill.config.settings import Settings

Mode = Literal["hybrid", "dense", "sparse"]
MODES: tuple[Mode, ...] = ("hybrid", "dense", "sparse")


@dataclass(slots=True)
class Hit:
    """One point found: its score (cosine, BM25 or fused rank score by mode), where its chunk comes from, and its
    whole payload."""

    score: float
    point_id: str
    chunk_id: str
    doc_id: str
    text: str
    source_uri: str | None
    page_start: int | None
    page_end: int | None
    char_start: int | None
    char_end: int | None
    headings: list[str] = field(default_factory=list)
    payload: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """The hit as JSON-ready values."""
        return asdict(self)


def _hit(score: float, point_id: str, payload: dict[str, Any]) -> Hit:
    return Hit(
        score=score,
        point_id=point_id,
        chunk_id=str(payload.get("chunk_id", "")),
        doc_id=str(payload.get("doc_id", "")),
        text=str(payload.get("text", "")),
        source_uri=payload.get("source_uri"),
        page_start=payload.get("page_start"),
        page_end=payload.get("page_end"),
        char_start=payload.get("char_start"),
        char_end=payload.get("char_end"),
        headings=list(payload.get("headings") or []),
        payload=payload,
    )


def open_store(settings: Settings) -> Any:
    """The configured collection (a Qdrant server, or the embedded store under the data folder, which another
    process - a running pipeline - may hold locked)."""
    from docmill.embedding.sparse import from_settings
    from docmill.state.store import QdrantStore

    cfg = settings.embed
    return QdrantStore(
        cfg.collection,
        url=cfg.qdrant_url,
        path=settings.paths.data_dir / "qdrant",
        api_key=os.environ.get(cfg.qdrant_api_key_env),
        write_batch=cfg.write_batch,
        sparse=from_settings(settings),
    )


IDENTIFIER_WEIGHT = 2  # hybrid: the sparse ranks' weight for a query that names an identifier


def search(
    settings: Settings,
    query: str,
    mode: Mode = "hybrid",
    filters: Mapping[str, Any] | None = None,
    k: int = 10,
    store: Any = None,
) -> list[Hit]:
    """The `k` best chunks for `query`, best first.

    Args:
        settings: docmill settings (model, sparse encoder, Qdrant location and collection).
        query: the text searched for.
        mode: `hybrid` (dense and sparse fused by reciprocal rank; when the query names an identifier, a token
            with a digit, the sparse ranks weigh `IDENTIFIER_WEIGHT`: the exact term is the evidence, and the
            dense ranks of near-identical codes are noise), `dense` or `sparse`.
        filters: payload key -> value every hit must have (e.g. `{"file_type": "pdf"}`).
        k: how many hits.
        store: an open `QdrantStore` to query (default: the configured collection, opened and closed here).

    Returns:
        The hits; empty when the collection does not exist yet.

    Raises:
        ValueError: for an unknown mode.
    """
    if mode not in MODES:
        raise ValueError(f"unknown search mode {mode!r}: one of {', '.join(MODES)}")
    from docmill.embedding.sparse import from_settings, identifiers
    from docmill.run.adapters import embedder

    dense = embedder(settings).encode([query])[0] if mode != "sparse" else None
    sparse = from_settings(settings).query(query) if mode != "dense" else None
    own = store is None
    store = open_store(settings) if own else store
    try:
        if not store.exists():
            return []
        store.ensure_collection(embedder(settings).dimension)  # an old-layout collection is migrated first
        weight = IDENTIFIER_WEIGHT if identifiers(query) else 1
        found = store.search(dense, sparse, filters, k, lexical_weight=weight)
    finally:
        if own:
            store.close()
    return [_hit(score, point_id, payload) for score, point_id, payload in found]
