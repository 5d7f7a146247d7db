"""What becomes of a run's documents, recorded: rejects, duplicates, publication and removal, in the catalog,
the vector store and the audit trail together. Every status change goes through `docmill.state.ledger`.

Order is the point of this module: points are written before the catalog records them (a run killed in
between leaves strays that `docmill.run.upkeep.reconcile_store` deletes), and a changed file's previous
content keeps its points until its successor is processed (`retire_superseded`).
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from docmill.records import Chunk, Document, Reject, SemanticMatch, SourceFile, StageResult
from docmill.run.context import RunContext
from docmill.sources.folder import KEPT_SUBTREE, WITHDRAWING
from docmill.stages import clean
from docmill.state import ledger, quarantine
from docmill.state.catalog import DUPLICATE_REASONS

CanonicalLookup = Callable[[str], str | None]  # text hash -> the published document holding that text


def source_file(row: Any) -> SourceFile:
    """A catalog `sources` row as the `SourceFile` the stages read."""
    meta = json.loads(row["metadata"] or "{}")
    args = (row["source_uri"], row["path"], row["size"], row["mtime"], row["doc_id"], row["extension"])
    return SourceFile(*args, row["version"] or "", meta)


def _flat(ids: dict[str, list[str]]) -> list[str]:
    return [p for group in ids.values() for p in group]


def _by_document(chunks: list[Chunk]) -> dict[str, list[Chunk]]:
    by_doc: dict[str, list[Chunk]] = {}
    for item in chunks:
        by_doc.setdefault(item.doc_id, []).append(item)
    return by_doc


class Bookkeeping:
    """Records the outcome of each document of a run (see the module docstring)."""

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx
        self._catalog = ctx.catalog

    # the queue ---------------------------------------------------------------------------------------------
    def pending_batches(self, batch_size: int, ramp_up: bool = False) -> Iterator[list[SourceFile]]:
        """Pending documents, one bounded batch at a time, in source order. `ramp_up`: the first batches hold
        1, 2, 4, ... documents up to `batch_size`, so the first one is ready after one document's parse."""
        after, size = "", 1 if ramp_up else batch_size
        while rows := self._catalog.pending_documents(after, size):
            after = rows[-1]["source_uri"]
            size = min(batch_size, size * 2)
            yield [source_file(r) for r in rows]

    def counts(self) -> dict[str, int]:
        """Documents per status plus chunk and source totals."""
        return self._catalog.counts()

    def replay_quarantined(self) -> int:
        """Queue every quarantined document again (`reprocess_quarantined`); returns how many were queued."""
        doc_ids = quarantine.select(self._catalog)
        return quarantine.replay(self._catalog, self.ctx.audit, doc_ids, self.ctx.run_id)

    def start_batch(self, sources: list[SourceFile]) -> None:
        """Forget earlier rejects of documents about to be processed again."""
        with self._catalog.transaction():
            self._catalog.clear_rejects([s.doc_id for s in sources])

    # what the catalog knows that a batch needs -------------------------------------------------------------
    def canonical_for_text(self, text_hash: str) -> str | None:
        """The published document holding this text (smallest doc_id), if any."""
        return self._catalog.canonical_for_text(text_hash)

    def cached_vectors(self, keys: list[str]) -> dict[str, np.ndarray]:
        """The embedding cache's vectors of these cache keys (`Chunk.cache_key`) for the run's model."""
        return self._catalog.cached_vectors(keys, self.ctx.embedder.model_key)

    def point_ids(self, doc_ids: set[str]) -> dict[str, list[str]]:
        """The Qdrant point ids the catalog holds for these documents (doc_id -> ids)."""
        return self._catalog.point_ids(doc_ids)

    def nearest_points(self, vectors: Any, threshold: float, exclude_docs: set[str]) -> list[SemanticMatch | None]:
        """For each dense vector, the nearest canonical chunk in the collection whose cosine reaches `threshold`
        (`docmill.stages.semantic_duplicates`): never a point of `exclude_docs` (the batch's own documents, whose
        points are being replaced), of a document still pending (judged at its own turn: processing every document
        again gives what a first run gives), of a previous content on its way out (superseded), nor a flagged one.

        A Qdrant server answers (HNSW, filtered by its payload index). The embedded store would scan every point
        for each query (~15 ms per query at 10,000 points, ~10x that with a filter), so there the catalog's copy
        of the collection's vectors is scanned once per batch instead, a page at a time (the same chunks: the
        catalog records every point once it is written; the batches written but not yet recorded are
        `Unrecorded`'s)."""
        from docmill.stages.semantic_duplicates import FLAGS, closer, unit_rows

        excluded = exclude_docs | set(self._catalog.unsettled_documents())
        if self.ctx.store.is_server:
            return self.ctx.store.nearest(vectors, threshold, excluded, unflagged=FLAGS[0])
        mine = unit_rows(vectors)
        found: list[SemanticMatch | None] = [None] * len(mine)
        if not found:
            return found
        for page in self._catalog.vector_pages(self.ctx.embedder.model_key):
            rows = [r for r in page if not r["flagged"] and r["doc_id"] not in excluded]
            theirs = [np.frombuffer(r["vector"], dtype=np.float32) for r in rows]
            closer(found, mine, [(r["chunk_id"], r["doc_id"]) for r in rows], theirs, threshold)
        return found

    def deduplicate(
        self, prepared: StageResult[Document], canonical_for_text: CanonicalLookup | None = None
    ) -> StageResult[Document]:
        """The catalog's part of cleaning: exact and near duplicates against the published documents (and the
        near-duplicate index, which grows with the documents this batch accepts, in one transaction).
        `canonical_for_text` replaces the catalog's lookup (to see batches not yet recorded)."""
        settings = self.ctx.settings.clean
        with self._catalog.transaction():
            near = self.ctx.near_duplicates if settings.dedup.enabled else None
            found = clean.deduplicate(prepared.records, settings, canonical_for_text or self.canonical_for_text, near)
        return clean.merged(prepared, found)

    def current_chunks(self) -> Iterator[list[Any]]:
        """Every current chunk, page by page (what a dataset version holds)."""
        return self._catalog.iter_chunks()

    # rejects -----------------------------------------------------------------------------------------------
    def record_rejects(self, rejects: list[Reject]) -> None:
        """Store rejects; a document-level reject marks its document quarantined (or a duplicate of the reject's
        `duplicate_of`), with an audit entry (`document_quarantined` with the reason, or `document_duplicate`).

        Raises:
            ValueError: for a `duplicate` or `near_duplicate` reject that names no canonical document.
        """
        if not rejects:
            return
        ctx, catalog = self.ctx, self._catalog
        rejects = self._redacted(rejects)
        events: list[tuple[str, dict[str, Any]]] = []
        withdrawn: list[str] = []
        with catalog.transaction():
            catalog.add_rejects(rejects, ctx.run_id)
            for r in rejects:
                if r.stage == "ingest" and r.source_uri and r.reason not in WITHDRAWING:
                    # unreadable now: keep what earlier runs made of it (a link, a special file or a swapped file
                    # is not: its source vanishes, so the documents earlier runs made of it are removed)
                    # a folder that could not be listed (`folder_unreadable`): everything found under it too
                    catalog.mark_seen(r.source_uri, ctx.run_id, subtree=r.reason in KEPT_SUBTREE)
                if not (r.whole_document and r.doc_id):
                    continue
                is_duplicate = r.reason in DUPLICATE_REASONS
                if is_duplicate and r.duplicate_of is None:
                    raise ValueError(f"{r.reason} reject of {r.doc_id} names no canonical document (duplicate_of)")
                fields = {"run_id": ctx.run_id, "doc_id": r.doc_id, "source_uri": r.source_uri, "stage": r.stage}
                if is_duplicate and r.duplicate_of is not None:
                    ledger.duplicate(catalog, r.doc_id, r.stage, ctx.run_id, ctx.config_key, r.duplicate_of)
                    events.append(("document_duplicate", {**fields, "duplicate_of": r.duplicate_of}))
                else:
                    ledger.rejected(catalog, r.doc_id, r.stage, ctx.run_id, ctx.config_key)
                    ctx.near_duplicates.remove([r.doc_id])  # never a canonical document for others
                    self._canonical_removed([r.doc_id])
                    events.append(("document_quarantined", {**fields, "reason": r.reason, "message": r.message}))
                if catalog.has_chunks(r.doc_id):
                    withdrawn.append(r.doc_id)  # reprocessed under new settings and rejected now
            ctx.audit.append_many(events)
        if withdrawn:
            ctx.store.delete_documents(withdrawn, _flat(catalog.point_ids(withdrawn)))
            with catalog.transaction():
                catalog.delete_chunks(withdrawn)

    def _canonical_removed(self, doc_ids: list[str]) -> None:
        """Documents removed or quarantined: their duplicates (and, with `embed.semantic_duplicates` on, the
        documents with a chunk flagged or dropped as a near-duplicate of one of their chunks) are queued again."""
        ledger.canonical_removed(self._catalog, doc_ids)
        if self.ctx.settings.embed.semantic_duplicates.enabled:
            ledger.semantic_canonical_removed(self._catalog, doc_ids)

    def _redacted(self, rejects: list[Reject]) -> list[Reject]:
        """Rejects whose messages went through the PII redactor (parsers name positions, not text, but a
        library's message may still quote a document): the quarantine table, the audit trail and `docmill
        quarantine list` never show what `clean.pii` removes from the text. Duplicate messages name a doc_id."""
        names = self.ctx.names
        if names is None:
            return rejects
        return [
            r if r.reason in DUPLICATE_REASONS else dataclasses.replace(r, message=names.apply(r.message)[0])
            for r in rejects
        ]

    # publication -------------------------------------------------------------------------------------------
    def write_points(self, chunks: list[Chunk], previous: dict[str, list[str]]) -> int:
        """Qdrant first: each document's points become `chunks`' (`previous`: its point ids the catalog knows,
        doc_id -> ids). Touches only the store, so it may run on a thread of its own; returns the number of
        documents written. `record_published` records them once this has ended."""
        from docmill.isolation.faults import checkpoint

        by_doc = _by_document(chunks)
        for doc_id, doc_chunks in by_doc.items():
            self.ctx.store.replace_document(doc_id, doc_chunks, self.ctx.run_id, previous.get(doc_id, ()))
            checkpoint("publish")
        return len(by_doc)

    def record_published(self, docs: list[Document], chunks: list[Chunk]) -> int:
        """Then the catalog, once the points are written: the chunks, the embedding cache and the documents'
        `embedded` status; previous contents that are now superseded go. Returns the documents recorded."""
        ctx, catalog = self.ctx, self._catalog
        by_doc = _by_document(chunks)
        with catalog.transaction():
            for doc in docs:
                mine = by_doc.get(doc.doc_id)
                if not mine:
                    continue
                catalog.replace_chunks(doc.doc_id, mine, ctx.embedder.model_key, ctx.run_id)
                title = mine[0].metadata.get("title")
                ledger.published(
                    catalog,
                    doc.doc_id,
                    ctx.run_id,
                    ctx.config_key,
                    n_chunks=len(mine),
                    text_hash=doc.text_hash,
                    title=title,
                )
        self.retire_superseded()
        return len(by_doc)

    # removal -----------------------------------------------------------------------------------------------
    def retire_superseded(self) -> int:
        """Remove previous contents whose successor has been processed (embedded, quarantined or found a
        duplicate): their points go only now, after the successor's points are in. Idempotent, so a run
        interrupted between the two steps is finished by the next one. Returns the number removed."""
        retired = self._catalog.retirable_superseded()
        self.remove_documents(retired)
        return len(retired)

    def remove_documents(self, doc_ids: list[str]) -> None:
        """Points first, then catalog rows, then derived files (archive members, attachments)."""
        if not doc_ids:
            return
        ctx, catalog = self.ctx, self._catalog
        ctx.store.delete_documents(doc_ids, _flat(catalog.point_ids(doc_ids)))
        with catalog.transaction():
            catalog.delete_documents(doc_ids)
            catalog.clear_rejects(doc_ids)
            ctx.near_duplicates.remove(doc_ids)
            self._canonical_removed(doc_ids)  # (next run if this one is past their batch)
        for doc_id in doc_ids:
            shutil.rmtree(ctx.settings.paths.data_dir / "derived" / doc_id, ignore_errors=True)

    def relocate(self, new_uris: dict[str, str]) -> None:
        """Give moved documents' points and cached chunks the metadata of their new location."""
        from docmill.stages.enrich import location_metadata

        ctx, catalog = self.ctx, self._catalog
        fields = {}
        for doc_id, uri in new_uris.items():
            row = catalog.source(uri)
            if row is None:
                continue
            located = location_metadata(source_file(row), ctx.settings.enrich, ctx.names)
            fields[doc_id] = {"department": None, "category": None, **located}
        ctx.store.update_documents(fields, catalog.point_ids(fields))
        with catalog.transaction():
            for doc_id, values in fields.items():
                catalog.update_chunk_metadata(doc_id, values)
