"""Publishing validated batches off the embedder's path: their Qdrant writes on a thread of the flow process
of their own, their catalog rows on the flow's thread once the points are in (see `Publishing`)."""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import Iterator

from prefect import task
from prefect.task_runners import ThreadPoolTaskRunner

from docmill.config.settings import Settings
from docmill.records import Chunk
from docmill.run.bookkeeping import Bookkeeping
from docmill.run.runstats import RunStats
from docmill.run.unrecorded import Unrecorded, Validated
from flows import runners


@task(
    name="publish",
    task_run_name="publish-batch-{batch_no:04d}",
    retries=runners.IO_RETRIES,
    retry_delay_seconds=[2, 10, 30],
    retry_condition_fn=runners.io_failure,
    **runners.TASK,
)
def publish_task(book: Bookkeeping, chunks: list[Chunk], previous: dict[str, list[str]], batch_no: int) -> int:
    """Write a validated batch's points to Qdrant, on the flow's publishing thread (retried: I/O; idempotent by
    point id). The flow records the batch in the catalog once this has ended (`Publishing`)."""
    return book.write_points(chunks, previous)


class Publishing:
    """Validated batches being published, in order, off the embedder's path: each batch's points are written on
    a thread of their own (`publish_task`) while the flow goes on, and the flow records the batch in the catalog
    once they are in (Qdrant first, then the catalog, as before). Until then the next batches see them through
    `unrecorded` (`docmill.run.unrecorded`), as a sequential run would see them published. At most
    `pipeline.publish_queue` batches' worth of documents wait (memory stays bounded when the store is slow).

    The reject-rate gates (`RunStats.check_gates`) judge the first `batch_size` documents of a pass together, as
    they would one whole first batch: with `pipeline.ramp_up` the small first batches are held, unpublished, until
    that many documents were validated (or the pass ends), so one bad chunk in the first document cannot stop a
    run that a full batch would have let through, and nothing is published before the first judgement."""

    def __init__(self, book: Bookkeeping, settings: Settings, stats: RunStats) -> None:
        self.book, self.settings, self.stats = book, settings, stats
        self.held: list[Validated] = []  # validated, before the gate's first judgement of this pass
        self.waiting: deque[Validated] = deque()  # points being written, catalog rows not yet
        self.documents = 0
        self.failed = False  # a batch failed to publish: the ones after it stay unrecorded
        self.runner = ThreadPoolTaskRunner(max_workers=1)  # one writer: batches reach Qdrant in order
        self.unrecorded = Unrecorded(book, lambda: [*self.waiting, *self.held])

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
        if self.documents >= self.settings.pipeline.batch_size:
            self._release()

    def _release(self) -> None:
        if not self.held:
            return
        try:
            self.stats.check_gates(self.settings.validate_)  # before anything of these batches is published
        except Exception:
            self.held.clear()
            raise
        for batch in self.held:
            self._submit(batch)
        self.held.clear()

    def _submit(self, batch: Validated) -> None:
        cfg = self.settings.pipeline  # the queue counts documents: the small ramp-up batches add up to one
        while self.waiting and sum(b.size for b in self.waiting) + batch.size > cfg.publish_queue * cfg.batch_size:
            self._record_oldest()
        previous = self.book.point_ids({c.doc_id for c in batch.chunks})
        parameters = {"book": self.book, "chunks": batch.chunks, "previous": previous, "batch_no": batch.n}
        batch.future = runners.submit(self.runner, publish_task, **parameters)
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
            published = self.book.record_published(batch.docs, batch.chunks)
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
