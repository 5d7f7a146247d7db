"""The docmill pipeline flow: eight stages, one Prefect task per stage per batch of documents.

Run it through the CLI (`docmill run`), the Prefect UI, or `python -m flows.pipeline --config FILE`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import time
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np
from prefect import flow, get_run_logger, task
from prefect.cache_policies import NONE
from prefect.runtime import flow_run
from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner
from prefect.utilities.annotations import quote

from docmill import dryrun, quarantine, stagework
from docmill.containers import expand_containers
from docmill.faults import checkpoint
from docmill.offline import apply_offline_defaults
from docmill.params import PipelineParams
from docmill.records import Chunk, Document, SourceFile, StageResult
from docmill.runtime import Runtime
from docmill.settings import Settings
from docmill.sources import registry, staging
from docmill.sources.base import Connector
from docmill.sources.folder import FileItem, sha256_file
from docmill.stages import chunk, clean, ingest, validate, version
from docmill.store import StoreUnavailable
from flows import runners
from flows.reporting import Progress, dry_run_artifacts, explain, run_artifacts

apply_offline_defaults()
TASK = {"cache_policy": NONE, "persist_result": False}
IO_RETRIES = 3
WORKERS = "workers"  # not a stage: batches per (stage, host:pid), reported as the summary's `workers`


def _io_failure(task: Any, task_run: Any, state: Any) -> bool:
    """Retry I/O failures (store unreachable, file system, network); never deterministic errors."""
    exc = state.result(raise_on_failure=False)
    return isinstance(exc, StoreUnavailable | OSError)


@task(name="ingest", **TASK)
def ingest_task(rt: Runtime) -> dict[str, float]:
    """List every source (folders and connectors), fetch new/changed remote items, hash files, record
    new/changed ones as pending, forget vanished ones (only under the scopes of sources listed completely)."""
    stats: Counter[str] = Counter()
    rt.start_ingest()
    scopes: list[Path | str] = []
    for connector in registry.connectors(rt.settings.ingest):
        try:
            stats.update(_ingest_source(rt, connector))
        finally:
            connector.close()
        scopes.append(connector.scope)
    checkpoint("ingest")
    stats.update(rt.remove_vanished(scopes))
    stats["fetched_pruned"] = staging.prune(_fetched(rt), set(rt.catalog.source_paths()))
    stats["requeued_for_new_settings"] = rt.requeue_for_new_settings()
    return dict(stats)


def _fetched(rt: Runtime) -> Path:
    return (rt.settings.paths.data_dir / "fetched").resolve()


def _ingest_source(rt: Runtime, connector: Connector) -> Counter[str]:
    """List one source in slices of 1000 (bounded memory on big shares and buckets), staging remote items."""
    stats: Counter[str] = Counter()
    listing, listed = connector.list_items(), 0
    while entries := list(islice(listing, 1000)):
        listed += len(entries)
        rejects = [e for e in entries if not isinstance(e, FileItem)]
        items = [e for e in entries if isinstance(e, FileItem)]
        staged = staging.stage(connector, items, rt.catalog.known_versions([i.source_uri for i in items]), _fetched(rt))
        rt.record_rejects(rejects + staged.rejects)
        stats.update({"fetched": staged.fetched, "not_refetched": staged.not_refetched})
        stats.update(_ingest_items(rt, staged.items, depth=0, hasher=staged.hasher))
    rt.check_listing(connector.scope, listed)
    return stats


def _ingest_items(
    rt: Runtime, items: list[FileItem], depth: int, hasher: Callable[[str], str] = sha256_file
) -> Counter[str]:
    """Hash and record listed files; archives among them are expanded and their members ingested too."""
    known = rt.catalog.known_sources([i.source_uri for i in items])
    result = ingest.ingest(items, known.get, hasher)
    stats: Counter[str] = Counter(result.stats)
    stats.update(rt.record_sources(result.records))
    rt.record_rejects(result.rejects)
    members = expand_containers(rt, result.records, depth)
    for start in range(0, len(members), 1000):
        stats.update(_ingest_items(rt, members[start : start + 1000], depth + 1))
    return stats


@task(name="prepare", task_run_name="prepare-batch-{batch_no:04d}", **TASK)
def prepare_task(settings: Settings, sources: list[SourceFile], pii_key: str | None, batch_no: int) -> stagework.Ahead:
    """A batch's work that needs no catalog, on the task runner ahead of the batch's turn: parse (in worker
    processes), the `extracted` contract, the first step of cleaning and chunking (see `stagework.Ahead`)."""
    return stagework.ahead_batch(settings, sources, pii_key)


@task(name="clean", task_run_name="clean-batch-{batch_no:04d}", **TASK)
def clean_task(
    rt: Runtime,
    prepared: StageResult[Document],
    canonical_for_text: Callable[[str], str | None] | None,
    batch_no: int,
) -> StageResult[Document]:
    """The catalog's part of cleaning, at the batch's turn: exact and near duplicates (reading and growing the
    catalog's indexes), then the `cleaned` contract. Repair, redaction and the quality verdicts ran ahead.
    `canonical_for_text` replaces the catalog's lookup of published texts (to add a batch not yet published)."""
    with rt.catalog.transaction():  # the near-duplicate index grows with the documents this batch accepts
        deduplicated = clean.deduplicate(
            prepared.records,
            rt.settings.clean,
            canonical_for_text or rt.catalog.canonical_for_text,
            near=rt.near_duplicates if rt.settings.clean.dedup.enabled else None,
        )
    result = clean.merged(prepared, deduplicated)
    return _recorded(rt, stagework.contract(result, "cleaned", rt.settings.validate_))


@task(name="enrich", task_run_name="enrich-batch-{batch_no:04d}", **TASK)
def enrich_task(
    settings: Settings, docs: list[Document], chunks: list[Chunk], sources: list[SourceFile], batch_no: int
) -> StageResult[Chunk]:
    """Attach metadata and language (on the task runner)."""
    return stagework.enrich_batch(settings, docs, chunks, sources)


@task(name="embed", task_run_name="embed-batch-{batch_no:04d}", **TASK)
def embed_task(
    settings: Settings, chunks: list[Chunk], known: dict[str, np.ndarray], batch_no: int
) -> StageResult[Chunk]:
    """Embed the chunks whose text has no cached vector in `known` (on the task runner)."""
    return stagework.embed_batch(settings, chunks, known)


def _recorded(rt: Runtime, result: StageResult[Any]) -> StageResult[Any]:
    """Record a stage's rejects in the catalog (flow process) and pass its result on."""
    rt.record_rejects(result.rejects)
    return result


@task(name="validate", task_run_name="validate-batch-{batch_no:04d}", **TASK)
def validate_task(rt: Runtime, docs: list[Document], chunks: list[Chunk], batch_no: int) -> StageResult[Chunk]:
    """Check the contracts; a batch over the reject-rate limit stops the run before anything is published."""
    result = validate.validate(docs, chunks, rt.settings.validate_, rt.max_tokens, rt.embedder.dimension)
    rt.record_rejects(result.rejects)
    return result


@task(
    name="publish",
    task_run_name="publish-batch-{batch_no:04d}",
    retries=IO_RETRIES,
    retry_delay_seconds=[2, 10, 30],
    retry_condition_fn=_io_failure,
    **TASK,
)
def publish_task(rt: Runtime, chunks: list[Chunk], previous: dict[str, list[str]], batch_no: int) -> int:
    """Write a validated batch's points to Qdrant, on the flow's publishing thread (retried: I/O; idempotent by
    point id). The flow records the batch in the catalog once this has ended (`_Publishing`)."""
    return rt.write_points(chunks, previous)


@task(name="version", retries=2, retry_delay_seconds=[5, 30], retry_condition_fn=_io_failure, **TASK)
def version_task(rt: Runtime) -> StageResult[str]:
    """Write the dataset version, DVC-track it, commit and push."""
    return version.version(rt.catalog.iter_chunks(), rt.settings.version, rt.repo, rt.embedder.dimension, rt.manifest())


@task(name="snapshot", retries=2, retry_delay_seconds=[5, 30], retry_condition_fn=_io_failure, **TASK)
def snapshot_task(settings: Settings, name: str) -> dict[str, Any]:
    """Cut the snapshot `name` (the `snapshot` section's defaults) from the chunks this run left current: the same
    function as `docmill snapshot create NAME`."""
    from docmill.snapshots import service

    result = service.create(settings, service.make_request(settings, name)).as_dict()
    return {k: result[k] for k in ("tag", "version", "rows", "new")}


def _on(runner: TaskRunner[Any], task: Any, **parameters: Any) -> Any:
    """Submit a task to the run's task runner. In threads, lists and dicts go in `quote()`: Prefect would
    otherwise walk every record (and every vector) of a batch looking for futures, which took minutes on a few
    thousand chunks. Dask cannot take `quote()` (its tuple shape reaches the task unwrapped) and ships the
    records by value (measured: 3,000 chunks with vectors in 4.3 s, against minutes of embedding)."""
    if isinstance(runner, ThreadPoolTaskRunner):
        parameters = {k: quote(v) if isinstance(v, list | dict) else v for k, v in parameters.items()}
    return runner.submit(task, parameters)


@dataclass
class _Validated:
    """A validated batch on its way out: its Qdrant writes (`future`, on the publishing thread), then its rows in
    the catalog (on the flow's thread)."""

    docs: list[Document]
    chunks: list[Chunk]
    n: int
    future: Any = None


class _Publishing:
    """Validated batches being published, in order, off the embedder's path: each batch's points are written on
    a thread of their own (`publish_task`) while the flow goes on, and the flow records the batch in the catalog
    once they are in (Qdrant first, then the catalog, as before). Until then the batches here stand in for the
    catalog: the next batches' exact-duplicate and embedding-cache lookups see them, as a sequential run would
    see them published. At most `pipeline.publish_queue` batches wait (memory stays bounded when the store is
    slow).

    The reject-rate gate (`_gate`) judges the first `batch_size` documents of a pass together, as it would one
    whole first batch: with `pipeline.ramp_up` the small first batches are held, unpublished, until that many
    documents were validated (or the pass ends), so one bad chunk in the first document cannot stop a run that
    a full batch would have let through, and nothing is published before the first judgement."""

    def __init__(self, rt: Runtime, stages: dict[str, Counter[str]]) -> None:
        self.rt, self.stages = rt, stages
        self.held: list[_Validated] = []  # validated, before the gate's first judgement of this pass
        self.waiting: deque[_Validated] = deque()  # points being written, catalog rows not yet
        self.documents = 0
        self.failed = False  # a batch failed to publish: the ones after it stay unrecorded
        self.runner = ThreadPoolTaskRunner(max_workers=1)  # one writer: batches reach Qdrant in order

    def __enter__(self) -> _Publishing:
        self.runner.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.runner.__exit__(*exc)

    def add(self, batch: _Validated, documents: int) -> None:
        """A validated batch of `documents` source documents: judged by the gate, then its writes start (the
        first batches of a pass wait until `batch_size` documents can be judged together).

        Raises:
            RejectRateExceeded: from the gate; the held batches are then never published.
        """
        self.held.append(batch)
        self.documents += documents
        if self.documents >= self.rt.settings.pipeline.batch_size:
            self._release()

    def _release(self) -> None:
        if not self.held:
            return
        try:
            _gate(self.rt, self.stages)  # before anything of these batches is published
        except Exception:
            self.held.clear()
            raise
        for batch in self.held:
            self._submit(batch)
        self.held.clear()

    def _submit(self, batch: _Validated) -> None:
        while len(self.waiting) >= self.rt.settings.pipeline.publish_queue:
            self._record_oldest()
        previous = self.rt.catalog.point_ids({c.doc_id for c in batch.chunks})
        batch.future = _on(self.runner, publish_task, rt=self.rt, chunks=batch.chunks, previous=previous,
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
            self.stages["validate"]["documents_published"] += self.rt.record_published(batch.docs, batch.chunks)
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


def _process_batch(
    rt: Runtime,
    runner: TaskRunner[Any],
    sources: list[SourceFile],
    ahead: stagework.Ahead,
    n: int,
    stages: dict[str, Counter[str]],
    publishing: _Publishing,
) -> None:
    """A batch's turn, after the work that ran ahead of it: the catalog's side (rejects, duplicates, the
    embedding cache, recording published batches) here in the flow process, the stateless stage work on the
    runner. While this batch embeds, the batches before it are recorded as their points get written; this one,
    validated, is handed to `publishing` at the end (which runs the reject-rate gate before publishing it)."""

    def keep(name: str, result: StageResult[Any]) -> StageResult[Any]:
        stages[name].update({k: v for k, v in result.stats.items() if isinstance(v, int | float)})
        if result.worker:  # which process did this stage's work (see stagework)
            stages[WORKERS][f"{name} {result.worker}"] += 1
        return result

    settings = rt.settings
    rt.start_batch(sources)
    checkpoint("extract")
    keep("extract", _recorded(rt, ahead.extracted))
    canonical = publishing.canonical_for_text()
    docs = keep("clean", clean_task(rt, quote(ahead.prepared), quote(canonical), n)).records
    chunks = keep("chunk", _recorded(rt, chunk.for_documents(ahead.chunked, docs))).records
    kept = {c.doc_id for c in chunks}
    docs = [d for d in docs if d.doc_id in kept]  # the rest were rejected by chunk
    enriched = _on(runner, enrich_task, settings=settings, docs=docs, chunks=chunks, sources=sources, batch_no=n)
    chunks = keep("enrich", enriched.result()).records
    known = publishing.known_vectors(sorted({c.text_hash for c in chunks}))
    embedding = _on(runner, embed_task, settings=settings, chunks=chunks, known=known, batch_no=n)
    try:
        publishing.record_written()
    except BaseException:
        embedding.wait()  # the run fails with the publish error, once this batch's embedding has ended
        raise
    chunks = keep("embed", embedding.result()).records
    _same_model(rt, embedded_by=chunks)
    checkpoint("embed")
    chunks = keep("validate", validate_task(rt, quote(docs), quote(chunks), n)).records
    publishing.add(_Validated(docs, chunks, n), len(sources))  # the gate judges it before it is published


def _same_model(rt: Runtime, embedded_by: list[Chunk]) -> None:
    """Vectors made on a worker must come from the model, backend and precision the flow records (a Dask
    worker with a GPU, or another model folder, would otherwise mix vectors under one cache key).

    Raises:
        RuntimeError: naming both model keys.
    """
    keys = {c.metadata.get("model") for c in embedded_by} - {rt.embedder.model_key}
    if keys:
        raise RuntimeError(
            f"a worker embedded with {sorted(map(str, keys))} but this run records {rt.embedder.model_key}: give "
            "every machine the same model folder and set embed.device and embed.backend explicitly (not auto)"
        )


def _gate(rt: Runtime, stages: dict[str, Counter[str]]) -> None:
    """Stop the run when a contract rejected more of the rows it saw so far than its gate allows (the `chunks`
    gate counts chunks rejected by the `chunks` and `embeddings` contracts)."""
    cfg = rt.settings.validate_
    for contract, stage, rejected, total in (
        ("extracted", "extract", "contract_extracted_rejected", "out"),
        ("cleaned", "clean", "contract_cleaned_rejected", "out"),
        ("chunks", "validate", "rejected", "in"),
    ):
        validate.check_reject_rate(int(stages[stage][rejected]), int(stages[stage][total]), cfg, contract)


@flow(name="docmill-pipeline", log_prints=False)
def pipeline(
    params: PipelineParams = PipelineParams(),  # noqa: B008  # a default the UI form shows
    config_path: str | None = None,
) -> dict[str, Any]:
    """Ingest the configured sources and produce an embedded, validated, versioned dataset.

    Args:
        params: this run's choices (sources, config, batch size, dry run, reprocess quarantined, snapshot name).
        config_path: shortcut for `params.config_path`.
    """
    if config_path:
        params = params.model_copy(update={"config_path": config_path})
    settings = params.settings()
    if params.dry_run:
        return _dry_run(settings, params)
    logger = get_run_logger()
    rt = Runtime(settings, str(flow_run.get_id() or f"local-{time.time_ns()}"))
    try:
        rt.start_run()
        summary = _run(rt, settings, params)
    except BaseException as exc:
        if rt._run_lock is not None:  # a run that got the lock records its failure
            rt.finish_run("failed", {"error": f"{type(exc).__name__}: {exc}"})
        rt.close()
        message = explain(exc, settings, IO_RETRIES)
        logger.error(message)
        if isinstance(exc, StoreUnavailable):  # the flow run's state message says what to do
            raise StoreUnavailable(message) from exc
        raise
    rt.finish_run("completed", summary)
    rt.close()  # releases the data folder's lock, which the snapshot takes next
    if params.snapshot_name:
        summary["snapshot"] = snapshot_task(settings, params.snapshot_name)
    run_artifacts(summary)
    logger.info(
        "dataset %s version %s (%s)",
        settings.version.dataset_name,
        summary["dataset_version"],
        summary["dataset_tag"],
    )
    return summary


def _run(rt: Runtime, settings: Settings, params: PipelineParams) -> dict[str, Any]:
    logger = get_run_logger()
    started = time.perf_counter()
    stages: dict[str, Counter[str]] = defaultdict(Counter)
    runners.check_paths(settings)  # before anything is written
    if params.reprocess_quarantined:
        doc_ids = quarantine.select(rt.catalog)
        logger.info(
            "reprocessing %d quarantined documents", quarantine.replay(rt.catalog, rt.audit, doc_ids, rt.run_id)
        )
    t0 = time.perf_counter()
    stages["ingest"].update(ingest_task(rt))
    stages["ingest"]["seconds"] += time.perf_counter() - t0
    progress = Progress(rt.catalog.counts().get("pending", 0))
    with runners.started(settings.pipeline) as runner:
        done = 0
        for _ in range(3):  # documents queued again while the run went (duplicates of removed ones) get a pass
            done, before = _batches(rt, runner, stages, progress, done), done
            if done == before or not rt.catalog.counts().get("pending"):
                break
    rt.retire_superseded()  # previous contents whose new content ended quarantined or as a duplicate
    stages["validate"]["stray_points_deleted"] += rt.reconcile_store()
    _gate(rt, stages)
    result = version_task(rt)
    rt.record_version(result)
    stages["embed"]["cache_pruned"] += rt.prune_cache()
    stages["version"].update(result.stats)
    summary = _summary(rt, settings, stages, result.records, time.perf_counter() - started)
    summary["snapshot_name"] = params.snapshot_name
    return summary


def _batches(
    rt: Runtime, runner: TaskRunner[Any], stages: dict[str, Counter[str]], progress: Progress, first: int
) -> int:
    """Process the pending documents batch by batch, in order, numbering batches from `first`; returns the next
    number. Up to `pipeline.prepare_ahead` batches are prepared on the runner (parsed, cleaned up to
    deduplication, chunked: see `stagework.Ahead`) while this one is deduplicated, enriched and embedded, and
    the ones before it are published (`_Publishing`): memory stays bounded by a few batches, and the embedder
    waits neither for the parsers nor for the Qdrant writes. With `pipeline.ramp_up` the first batches are
    small, so the first embedding starts after one document's parse.
    A batch is recorded in the catalog only after its turn and its Qdrant writes, in batch order, so a run
    killed anywhere leaves the catalog as a sequential run would. A document queued again behind the listing
    (a duplicate whose canonical copy was removed while an earlier batch was published) is left for the
    caller's next pass."""
    logger = get_run_logger()
    cfg = rt.settings.pipeline
    batches = enumerate(rt.pending_batches(cfg.batch_size, cfg.ramp_up), start=first)
    n = first - 1
    ahead: deque[tuple[int, list[SourceFile], Any]] = deque()
    try:
        with _Publishing(rt, stages) as publishing:
            with publishing.on_failure():  # a batch that failed to prepare, a listing error, a failed turn
                _prepare_ahead(rt, runner, batches, ahead)
                while ahead:
                    n, batch, future = ahead.popleft()
                    prepared = future.result()
                    _prepare_ahead(rt, runner, batches, ahead)
                    logger.info("batch %d: %d documents", n, len(batch))
                    _process_batch(rt, runner, batch, prepared, n, stages, publishing)
                    progress.advance(len(batch))
            publishing.drain()
    finally:
        for _, _, future in ahead:  # a failed batch: let the extractions in flight end before parsers stop
            future.wait()
    return n + 1


def _prepare_ahead(
    rt: Runtime,
    runner: TaskRunner[Any],
    batches: Iterator[tuple[int, list[SourceFile]]],
    ahead: deque[tuple[int, list[SourceFile], Any]],
) -> None:
    """Submit the next batches' preparation until `pipeline.ahead()` of them are in flight."""
    while len(ahead) < rt.settings.pipeline.ahead() and (item := next(batches, None)) is not None:
        n, batch = item
        future = _on(runner, prepare_task, settings=rt.settings, sources=batch, pii_key=rt.pii_key, batch_no=n)
        ahead.append((n, batch, future))


def _dry_run(settings: Settings, params: PipelineParams) -> dict[str, Any]:
    """Report what a run would process; nothing is parsed or written (see docmill.dryrun)."""
    plan = dryrun.plan(settings, params.reprocess_quarantined)
    dry_run_artifacts(plan)
    get_run_logger().info("dry run: %s", plan["counts"])
    return {"dry_run": True, "counts": plan["counts"], "files": plan["files"], "data_dir": str(settings.paths.data_dir)}


def _summary(
    rt: Runtime, settings: Settings, stages: dict[str, Counter[str]], version_out: list[str], seconds: float
) -> dict[str, Any]:
    reasons = {
        f"{r['stage']}/{r['reason']}": r["n"]
        for r in rt.catalog.query(
            "SELECT stage, reason, COUNT(*) n FROM quarantine WHERE chunk_id IS NULL AND part IS NULL "
            "GROUP BY stage, reason"
        )
    }
    return {
        "run_id": rt.run_id,
        "seconds": round(seconds, 2),
        "documents": rt.catalog.counts(),
        "ingest": dict(stages["ingest"]),
        "stages": {name: dict(c) for name, c in stages.items() if name != WORKERS},
        "workers": dict(stages[WORKERS]),
        "chunks_embedded": int(stages["embed"]["embedded"]),
        "chunks_cached": int(stages["embed"]["cached"]),
        "quarantine": reasons,
        "quarantined_parts": {
            f"{r['stage']}/{r['reason']}": r["n"]
            for r in rt.catalog.query(
                "SELECT stage, reason, COUNT(*) n FROM quarantine WHERE chunk_id IS NOT NULL OR part IS NOT NULL "
                "GROUP BY stage, reason"
            )
        },
        "pii": {k.removeprefix("pii_"): int(v) for k, v in sorted(stages["clean"].items()) if k.startswith("pii_")},
        "points": rt.store.count(),
        "dataset": settings.version.dataset_name,
        "dataset_version": version_out[0],
        "dataset_tag": version_out[1],
        "dataset_rows": int(stages["version"]["rows"]),
        "new_version": bool(stages["version"]["new_version"]),
        "data_dir": str(settings.paths.data_dir.resolve()),
    }


def main() -> None:
    """Command-line entry used by `docmill run`: runs the flow with `--params JSON` and prints its summary."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="{}", help="PipelineParams as JSON (what the UI form sends)")
    parser.add_argument("--config", help="shortcut for params.config_path")
    parser.add_argument("--source", action="append", help="shortcut for params.sources (repeatable)")
    parser.add_argument("--batch-size", type=int, help="shortcut for params.batch_size")
    args = parser.parse_args()
    params = PipelineParams.model_validate_json(args.params)
    given = {"config_path": args.config, "sources": args.source, "batch_size": args.batch_size}
    params = params.model_copy(update={k: v for k, v in given.items() if v})
    summary = pipeline(params=params)
    print(json.dumps(summary, default=str))


if __name__ == "__main__":
    main()
