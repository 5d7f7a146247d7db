"""Publishing validated batches off the embedder's path: their Qdrant writes on a thread of the flow process
of their own, their catalog rows on the flow's thread once the points are in (see `Publishing`)."""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from prefect import task
from prefect.task_runners import ThreadPoolTaskRunner

from docmill.records import Chunk, Document
from docmill.run.runstats import RunStats
from docmill.run.runtime import Runtime
from flows import runners


@task(
    name="publish",
    task_run_name="publish-batch-{batch_no:04d}",
    retries=runners.IO_RETRIES,
    retry_delay_seconds=[2, 10, 30],
    retry_condition_fn=runners.io_failure,
    **runners.TASK,
)
def publish_task(rt: Runtime, chunks: list[Chunk], previous: dict[str, list[str]], batch_no: int) -> int:
    """Write a validated batch's points to Qdrant, on the flow's publishing thread (retried: I/O; idempotent by
    point id). The flow records the batch in the catalog once this has ended (`Publishing`)."""
    return rt.write_points(chunks, previous)


@dataclass
class Validated:
    """A validated batch on its way out: its Qdrant writes (`future`, on the publishing thread), then its rows in
    the catalog (on the flow's thread)."""

    docs: list[Document]
    chunks: list[Chunk]
    n: int
    size: int  # source documents of the batch
    future: Any = None


class Publishing:
    """Validated batches being published, in order, off the embedder's path: each batch's points are written on
    a thread of their own (`publish_task`) while the flow goes on, and the flow records the batch in the catalog
    once they are in (Qdrant first, then the catalog, as before). Until then the batches here stand in for the
    catalog: the next batches' exact-duplicate and embedding-cache lookups see them, as a sequential run would
    see them published. At most `pipeline.publish_queue` batches' worth of documents wait (memory stays bounded
    when the store is slow).

    The reject-rate gate (`gate`: the flow's) judges the first `batch_size` documents of a pass together, as it
    would one whole first batch: with `pipeline.ramp_up` the small first batches are held, unpublished, until
    that many documents were validated (or the pass ends), so one bad chunk in the first document cannot stop a
    run that a full batch would have let through, and nothing is published before the first judgement."""

    def __init__(self, rt: Runtime, stats: RunStats, gate: Callable[[Runtime, RunStats], None]) -> None:
        self.rt, self.stats, self.gate = rt, stats, gate
        self.held: list[Validated] = []  # validated, before the gate's first judgement of this pass
        self.waiting: deque[Validated] = deque()  # points being written, catalog rows not yet
        self.documents = 0
        self.failed = False  # a batch failed to publish: the ones after it stay unrecorded
        self.runner = ThreadPoolTaskRunner(max_workers=1)  # one writer: batches reach Qdrant in order

    def __enter__(self) -> Publishing:
        self.runner.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.runner.__exit__(*exc)

    def add(self, batch: Validated) -> None:
        """A validated batch: judged by the gate, then its writes start (the first batches of a pass wait until
        `batch_size` documents can be judged together).

        Raises:
            RejectRateExceeded: from the gate; the held batches are then never published.
        """
        self.held.append(batch)
        self.documents += batch.size
        if self.documents >= self.rt.settings.pipeline.batch_size:
            self._release()

    def _release(self) -> None:
        if not self.held:
            return
        try:
            self.gate(self.rt, self.stats)  # before anything of these batches is published
        except Exception:
            self.held.clear()
            raise
        for batch in self.held:
            self._submit(batch)
        self.held.clear()

    def _submit(self, batch: Validated) -> None:
        cfg = self.rt.settings.pipeline  # the queue counts documents: the small ramp-up batches add up to one
        while self.waiting and sum(b.size for b in self.waiting) + batch.size > cfg.publish_queue * cfg.batch_size:
            self._record_oldest()
        previous = self.rt.catalog.point_ids({c.doc_id for c in batch.chunks})
        batch.future = runners.submit(self.runner, publish_task, rt=self.rt, chunks=batch.chunks, previous=previous,
                           batch_no=batch.n)  # fmt: skip
        self.waiting.append(batch)

    def record_written(self) -> None:
        """Record in the catalog the batches whose points are written, oldest first, without waiting.

        Raises:
            Exception: the failure of a batch's Qdrant writes (after their retries) or of its catalog rows.
        """
        while self.waiting and self.waiting[0].future.wrapped_future.done():
            self._record_oldest()

    def drain(self) -> None:
        """Judge and publish the held batches, wait for every batch's points and record the batches (nothing
        more once a batch failed to publish)."""
        if self.failed:
            return
        self._release()
        while self.waiting:
            self._record_oldest()

    def _record_oldest(self) -> None:
        batch = self.waiting.popleft()
        try:
            batch.future.result()
            published = self.rt.record_published(batch.docs, batch.chunks)
            self.stats.count("validate", {"documents_published": published})
        except BaseException:
            self.failed = True  # a sequential run would have stopped at this batch: later ones stay unrecorded
            self.waiting.clear()
            raise

    @contextlib.contextmanager
    def on_failure(self) -> Iterator[None]:
        """A failure in the block publishes the batches validated before it (judged by the gate first) before
        it propagates, as a sequential run would have published them before the next batch failed. A failure
        to publish them is raised instead, from the original one."""
        try:
            yield
        except Exception as failure:
            try:
                self.drain()
            except Exception as publish_failure:
                raise publish_failure from failure
            raise

    def canonical_for_text(self) -> Callable[[str], str | None] | None:
        """The catalog's published documents by text hash with the waiting batches' added (smallest doc_id, as
        the catalog query orders them); None when no batch waits (the catalog's lookup)."""
        own: dict[str, str] = {}
        for batch in [*self.waiting, *self.held]:
            published = {c.doc_id for c in batch.chunks}  # publish records the documents that kept chunks
            for doc in batch.docs:
                if doc.doc_id in published and doc.text_hash:
                    own[doc.text_hash] = min(own.get(doc.text_hash, doc.doc_id), doc.doc_id)
        if not own:
            return None
        catalog_lookup = self.rt.catalog.canonical_for_text

        def lookup(text_hash: str) -> str | None:
            found = [d for d in (catalog_lookup(text_hash), own.get(text_hash)) if d]
            return min(found) if found else None

        return lookup

    def known_vectors(self, text_hashes: list[str]) -> dict[str, np.ndarray]:
        """Cached vectors for these texts: the waiting batches' and the catalog's."""
        pending = {c.text_hash: c.vector for batch in [*self.waiting, *self.held] for c in batch.chunks}
        known = {h: np.asarray(pending[h], dtype=np.float32) for h in text_hashes if h in pending}
        rest = [h for h in text_hashes if h not in known]
        known.update(self.rt.catalog.cached_vectors(rest, self.rt.embedder.model_key))
        return known
