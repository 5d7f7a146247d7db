"""Validated batches whose points are being written and whose catalog rows are not yet recorded.

The catalog records a batch only once its points are in Qdrant (a run killed in between leaves the catalog as
a sequential run would), and the flow goes on with the next batches meanwhile. Those next batches must still
see the waiting ones, as a sequential run would have seen them published: an exact duplicate of a waiting
document is a duplicate, a chunk text a waiting batch embedded reuses its vector, and a chunk may be a semantic
near-duplicate of a waiting chunk. `Unrecorded` answers those lookups from the waiting batches and the catalog
(or the collection) together; `flows/publishing.py` fills and empties it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from docmill.records import Chunk, Document, SemanticMatch
from docmill.run.bookkeeping import Bookkeeping
from docmill.stages.semantic_duplicates import FLAGS, closer, unit_rows


@dataclass
class Validated:
    """A validated batch on its way out: its Qdrant writes (`future`, on the publishing thread), then its rows in
    the catalog (on the flow's thread)."""

    docs: list[Document]
    chunks: list[Chunk]
    n: int
    size: int  # source documents of the batch
    future: Any = None


class Unrecorded:
    """The catalog's lookups with the validated batches not yet recorded added."""

    def __init__(self, book: Bookkeeping, batches: Callable[[], Iterable[Validated]]) -> None:
        """`batches`: the validated batches not yet recorded, at the time of a lookup."""
        self.book = book
        self.batches = batches

    def canonical_for_text(self) -> Callable[[str], str | None] | None:
        """The published documents by text hash with the waiting batches' added (smallest doc_id, as the
        catalog orders them); None when no batch waits (then the catalog's own lookup serves)."""
        own: dict[str, str] = {}
        for batch in self.batches():
            published = {c.doc_id for c in batch.chunks}  # publishing records the documents that kept chunks
            for doc in batch.docs:
                if doc.doc_id in published and doc.text_hash:
                    own[doc.text_hash] = min(own.get(doc.text_hash, doc.doc_id), doc.doc_id)
        if not own:
            return None
        catalog_lookup = self.book.canonical_for_text

        def lookup(text_hash: str) -> str | None:
            found = [d for d in (catalog_lookup(text_hash), own.get(text_hash)) if d]
            return min(found) if found else None

        return lookup

    def known_vectors(self, keys: list[str]) -> dict[str, np.ndarray]:
        """Vectors of these embedding cache keys (`Chunk.cache_key`): the waiting batches' and the cache's."""
        pending = {c.cache_key: c.vector for batch in self.batches() for c in batch.chunks}
        known = {k: np.asarray(pending[k], dtype=np.float32) for k in keys if k in pending}
        known.update(self.book.cached_vectors([k for k in keys if k not in known]))
        return known

    def semantic_matches(self, chunks: list[Chunk], threshold: float) -> list[SemanticMatch | None]:
        """For each chunk, its best canonical chunk outside its batch whose cosine reaches `threshold`: in the
        collection (`Bookkeeping.nearest_points`) or in the waiting batches, whichever is closer (the collection
        on a tie: a waiting batch's points may already be written)."""
        own = {c.doc_id for c in chunks}
        found = self.book.nearest_points([c.vector for c in chunks], threshold, own)
        waiting = [c for b in self.batches() for c in b.chunks if c.doc_id not in own and FLAGS[0] not in c.metadata]
        if waiting and chunks:
            mine = unit_rows([c.vector for c in chunks])
            candidates = [(c.chunk_id, c.doc_id) for c in waiting]
            closer(found, mine, candidates, [c.vector for c in waiting], threshold)
        return found
