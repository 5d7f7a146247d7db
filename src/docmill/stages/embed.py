"""Embed: vectors for chunks, reusing cached vectors for texts this model has already embedded, and each
chunk's sparse lexical vector (cheap: computed for every chunk, cached dense vector or not).

The text embedded is `Chunk.embedding_text` (the chunk text, after its title, heading path and table header when
`chunk.contextualize` is on); the cache is keyed by `Chunk.cache_key` (both texts' hashes) and the model."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

import numpy as np

from docmill.config.settings import EmbedConfig
from docmill.records import Chunk, SparseVector, StageResult


class Encoder(Protocol):
    """What embed needs from a model (see `docmill.embedding.encoder.Embedder`)."""

    model_key: str
    model_name: str

    def encode(self, texts: list[str]) -> np.ndarray: ...


class SparseEncoder(Protocol):
    """What embed needs from the sparse encoder (see `docmill.embedding.sparse.SparseEncoder`)."""

    version: str

    def chunk(self, item: Chunk) -> SparseVector: ...


def embed(
    chunks: list[Chunk],
    config: EmbedConfig,
    encoder: Encoder,
    cached: Callable[[list[str], str], dict[str, np.ndarray]],
    sparse: SparseEncoder | None = None,
) -> StageResult[Chunk]:
    """Set `vector` (and `sparse`, given a sparse encoder) on every chunk.

    Args:
        chunks: enriched chunks.
        config: embed settings.
        encoder: the embedding model.
        cached: (cache keys, model key) -> vectors already computed for those keys (`Chunk.cache_key`).
        sparse: the sparse lexical encoder; None leaves `sparse` unset.

    Returns:
        The chunks with vectors; stats count freshly embedded vs cached chunks, and `sparse_seconds` the time
        the sparse vectors took (part of `seconds`).
    """
    started = time.perf_counter()
    hashes = [c.cache_key for c in chunks]
    known = cached(sorted(set(hashes)), encoder.model_key)
    todo = {h: c.embedding_text for h, c in zip(hashes, chunks, strict=True) if h not in known}
    fresh: dict[str, np.ndarray] = {}
    if todo:  # rows of one float32 array: no per-float Python objects
        fresh = dict(zip(todo.keys(), encoder.encode(list(todo.values())), strict=True))
    for text_hash, item in zip(hashes, chunks, strict=True):
        item.vector = known[text_hash] if text_hash in known else fresh[text_hash]
        item.metadata["model"] = encoder.model_key
    sparse_started = time.perf_counter()
    if sparse is not None:
        for item in chunks:
            item.sparse = sparse.chunk(item)
            item.metadata["sparse_model"] = sparse.version
    sparse_seconds = time.perf_counter() - sparse_started
    seconds = time.perf_counter() - started
    return StageResult(
        chunks,
        [],
        {
            "in": len(chunks),
            "out": len(chunks),
            "rejected": 0,
            "embedded": len(todo),
            "cached": len(chunks) - len([h for h in hashes if h in todo]),
            "seconds": seconds,
            "sparse_seconds": sparse_seconds,
            "chunks_per_s": len(todo) / seconds if todo and seconds else 0.0,
        },
    )
