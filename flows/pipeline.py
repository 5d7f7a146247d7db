"""The docmill pipeline flow: eight stages, one Prefect task per stage per batch of documents.

Run it through the CLI (`docmill run`), the Prefect UI, or `python -m flows.pipeline --config FILE`.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
from prefect import flow, get_run_logger, task
from prefect.runtime import flow_run
from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner
from prefect.utilities.annotations import quote

from docmill.config.offline import apply_offline_defaults
from docmill.config.settings import Settings
from docmill.isolation.faults import checkpoint
from docmill.records import Chunk, DatasetVersion, Document, FileItem, SourceFile, StageResult
from docmill.run import dryrun, metrics, runstats, stagework
from docmill.run.containers import expand_containers, record_tree
from docmill.run.params import PipelineParams
from docmill.run.runtime import Runtime
from docmill.sources import registry, staging
from docmill.sources.base import Connector
from docmill.sources.folder import sha256_file
from docmill.stages import chunk, clean, ingest, validate, version
from docmill.state import quarantine
from docmill.state.store import StoreUnavailable
from flows import runners
from flows.publishing import Publishing, Validated
from flows.reporting import Progress, dry_run_artifacts, explain, mark_crashed, run_artifacts

apply_offline_defaults()


@task(name="ingest", **runners.TASK)
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
    listed = 0
    for items, rejects in registry.slices(connector):
        listed += len(items) + len(rejects)
        staged = staging.stage(connector, items, rt.catalog.known_versions([i.source_uri for i in items]), _fetched(rt))
        rt.record_rejects(rejects + staged.rejects)
        stats.update({"fetched": staged.fetched, "not_refetched": staged.not_refetched, "copied": staged.copied})
        stats.update(_ingest_items(rt, staged.items, depth=0, hasher=staged.hasher))
    rt.check_listing(connector.scope, listed)
    return stats


def _ingest_items(
    rt: Runtime, items: list[FileItem], depth: int, hasher: Callable[[str], str] = sha256_file
) -> Counter[str]:
    """Hash and record listed files; the archives and e-mails among top-level ones are expanded (their whole
    tree at once, see `docmill.run.containers`) and their members ingested too."""
    known = rt.catalog.known_sources([i.source_uri for i in items])
    result = ingest.ingest(items, known.get, hasher)
    stats: Counter[str] = Counter(result.stats)
    stats.update(rt.record_sources(result.records))
    rt.record_rejects(result.rejects)
    if depth == 0:
        tree = expand_containers(rt, result.records)
        for start in range(0, len(tree.members), 1000):
            stats.update(_ingest_items(rt, tree.members[start : start + 1000], depth + 1, tree.hasher))
        record_tree(rt, tree)
    return stats


@task(name="prepare", task_run_name="prepare-batch-{batch_no:04d}", **runners.TASK)
def prepare_task(settings: Settings, sources: list[SourceFile], pii_key: str | None, batch_no: int) -> stagework.Ahead:
    """A batch's work that needs no catalog, on the task runner ahead of the batch's turn: parse (in worker
    processes), the `extracted` contract, the first step of cleaning and chunking (see `stagework.Ahead`)."""
    return stagework.ahead_batch(settings, sources, pii_key)


@task(name="clean", task_run_name="clean-batch-{batch_no:04d}", **runners.TASK)
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


@task(name="enrich", task_run_name="enrich-batch-{batch_no:04d}", **runners.TASK)
def enrich_task(
    settings: Settings,
    docs: list[Document],
    chunks: list[Chunk],
    sources: list[SourceFile],
    pii_key: str | None,
    batch_no: int,
) -> StageResult[Chunk]:
    """Attach metadata (names with their PII redacted) and language (on the task runner)."""
    return stagework.enrich_batch(settings, docs, chunks, sources, pii_key)


@task(name="embed", task_run_name="embed-batch-{batch_no:04d}", **runners.TASK)
def embed_task(
    settings: Settings, chunks: list[Chunk], known: dict[str, np.ndarray], batch_no: int
) -> StageResult[Chunk]:
    """Embed the chunks whose text has no cached vector in `known` (on the task runner)."""
    return stagework.embed_batch(settings, chunks, known)


def _recorded(rt: Runtime, result: StageResult[Any]) -> StageResult[Any]:
    """Record a stage's rejects in the catalog (flow process) and pass its result on."""
    rt.record_rejects(result.rejects)
    return result


@task(name="validate", task_run_name="validate-batch-{batch_no:04d}", **runners.TASK)
def validate_task(rt: Runtime, docs: list[Document], chunks: list[Chunk], batch_no: int) -> StageResult[Chunk]:
    """Check the contracts; a batch over the reject-rate limit stops the run before anything is published."""
    result = validate.validate(docs, chunks, rt.settings.validate_, rt.max_tokens, rt.embedder.dimension)
    rt.record_rejects(result.rejects)
    return result


@task(name="version", retries=2, retry_delay_seconds=[5, 30], retry_condition_fn=runners.io_failure, **runners.TASK)
def version_task(rt: Runtime) -> DatasetVersion:
    """Write the dataset version, DVC-track it, commit and push."""
    return version.version(rt.catalog.iter_chunks(), rt.settings.version, rt.repo, rt.embedder.dimension, rt.manifest())


@task(name="snapshot", retries=2, retry_delay_seconds=[5, 30], retry_condition_fn=runners.io_failure, **runners.TASK)
def snapshot_task(settings: Settings, name: str) -> dict[str, Any]:
    """Cut the snapshot `name` (the `snapshot` section's defaults) from the chunks this run left current: the same
    function as `docmill snapshot create NAME`."""
    from docmill.snapshots import service

    result = service.create(settings, service.make_request(settings, name)).as_dict()
    return {k: result[k] for k in ("tag", "version", "rows", "new")}


def _process_batch(
    rt: Runtime,
    runner: TaskRunner[Any],
    sources: list[SourceFile],
    ahead: stagework.Ahead,
    n: int,
    stats: runstats.RunStats,
    publishing: Publishing,
) -> None:
    """A batch's turn, after the work that ran ahead of it: the catalog's side (rejects, duplicates, the
    embedding cache, recording published batches) here in the flow process, the stateless stage work on the
    runner. While this batch embeds, the batches before it are recorded as their points get written; this one,
    validated, is handed to `publishing` at the end (which runs the reject-rate gate before publishing it)."""

    def keep(name: str, result: StageResult[Any]) -> StageResult[Any]:
        stats.add(name, result)  # its counters, the process that did its work (see stagework), its contract's
        return result

    settings = rt.settings
    rt.start_batch(sources)
    checkpoint("extract")
    keep("extract", _recorded(rt, ahead.extracted))
    canonical = publishing.canonical_for_text()
    docs = keep("clean", clean_task(rt, quote(ahead.prepared), quote(canonical), n)).records
    chunks = keep("chunk", _recorded(rt, chunk.for_documents(ahead.chunked, docs))).records
    docs = _with_chunks(docs, chunks)  # the rest were rejected by chunk
    enriched = runners.submit(
        runner,
        enrich_task,
        settings=settings,
        docs=docs,
        chunks=chunks,
        sources=sources,
        pii_key=rt.pii_key,
        batch_no=n,
    )
    chunks = keep("enrich", _recorded(rt, enriched.result())).records
    docs = _with_chunks(docs, chunks)  # the rest failed enrichment
    known = publishing.known_vectors(sorted({c.text_hash for c in chunks}))
    embedding = runners.submit(runner, embed_task, settings=settings, chunks=chunks, known=known, batch_no=n)
    try:
        publishing.record_written()
    except BaseException:
        embedding.wait()  # the run fails with the publish error, once this batch's embedding has ended
        raise
    chunks = keep("embed", embedding.result()).records
    _same_model(rt, embedded_by=chunks)
    checkpoint("embed")
    chunks = keep("validate", validate_task(rt, quote(docs), quote(chunks), n)).records
    publishing.add(Validated(docs, chunks, n, len(sources)))  # the gate judges it before it is published


def _with_chunks(docs: list[Document], chunks: list[Chunk]) -> list[Document]:
    """The documents that still have chunks (a stage rejected the others, with their chunks)."""
    kept = {c.doc_id for c in chunks}
    return [d for d in docs if d.doc_id in kept]


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


def _gate(rt: Runtime, stats: runstats.RunStats) -> None:
    """Stop the run when a contract rejected more of the rows it saw so far than its gate allows (see
    `runstats.RunStats.gates`)."""
    for contract, count in stats.gates().items():
        validate.check_reject_rate(count.rejected, count.seen, rt.settings.validate_, contract)


@flow(name="docmill-pipeline", log_prints=False)
def pipeline(
    params: PipelineParams = PipelineParams(),  # noqa: B008  # a default the UI form shows
    config_path: str | None = None,
) -> dict[str, Any]:
    """Ingest the configured sources and produce an embedded, validated, versioned dataset.

    Args:
        params: this run's choices (sources, config, batch size, dry run, reprocess quarantined, snapshot name).
        config_path: the config file, taking precedence over `params.config_path` (deployments set it, so a run
            started through the API with its own `params` still reads the deployment's config).
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
        mark_crashed(rt.crashed_runs, rt.run_id)
        summary = _run(rt, settings, params)
    except BaseException as exc:
        if rt.holds_lock:  # a run that got the lock records its failure
            rt.finish_run("failed", {"error": f"{type(exc).__name__}: {exc}"})
            _write_metrics(rt, {"run_id": rt.run_id, "documents": rt.catalog.counts()}, "failed")
        rt.close()
        message = explain(exc, settings, runners.IO_RETRIES)
        logger.error(message)
        if isinstance(exc, StoreUnavailable):  # the flow run's state message says what to do
            raise StoreUnavailable(message) from exc
        raise
    rt.finish_run("completed", summary)
    summary["audit_head"] = dict(zip(("seq", "hash"), rt.audit.head(), strict=True))  # anchored as an artifact
    _write_metrics(rt, summary, "completed")
    rt.close()  # releases the data folder's lock, which the snapshot takes next
    if params.snapshot_name:
        summary["snapshot"] = snapshot_task(settings, params.snapshot_name)
    run_artifacts(summary)
    logger.info(
        "dataset %s (version %s)",
        summary["dataset_tag"],
        summary["dataset_version"],
    )
    return summary


def _write_metrics(rt: Runtime, summary: dict[str, Any], outcome: str) -> None:
    """Replace the metrics file (`paths.metrics`) with this run's; a failure to write it is logged, never fatal."""
    try:
        metrics.write(rt.settings.paths.metrics, summary, outcome, rt.catalog.run_totals())
    except Exception as exc:  # the dataset matters more than its metrics
        get_run_logger().warning("could not write the metrics file %s: %s", rt.settings.paths.metrics, exc)


def _run(rt: Runtime, settings: Settings, params: PipelineParams) -> dict[str, Any]:
    logger = get_run_logger()
    started = time.perf_counter()
    stats = runstats.RunStats()
    runners.check_paths(settings)  # before anything is written
    if params.reprocess_quarantined:
        doc_ids = quarantine.select(rt.catalog)
        logger.info(
            "reprocessing %d quarantined documents", quarantine.replay(rt.catalog, rt.audit, doc_ids, rt.run_id)
        )
    t0 = time.perf_counter()
    stats.count("ingest", ingest_task(rt))
    stats.count("ingest", {"seconds": time.perf_counter() - t0})
    progress = Progress(rt.catalog.counts().get("pending", 0))
    with runners.started(settings.pipeline) as runner:
        done = 0
        for _ in range(3):  # documents queued again while the run went (duplicates of removed ones) get a pass
            done, before = _batches(rt, runner, stats, progress, done), done
            if done == before or not rt.catalog.counts().get("pending"):
                break
    rt.retire_superseded()  # previous contents whose new content ended quarantined or as a duplicate
    stats.count("validate", {"stray_points_deleted": rt.reconcile_store()})
    _gate(rt, stats)
    dataset = version_task(rt)
    rt.record_version(dataset)
    stats.count("embed", {"cache_pruned": rt.prune_cache()})
    stats.count("version", dataset.stats)
    summary = _summary(rt, settings, stats, dataset, time.perf_counter() - started)
    summary["snapshot_name"] = params.snapshot_name
    return summary


def _batches(rt: Runtime, runner: TaskRunner[Any], stats: runstats.RunStats, progress: Progress, first: int) -> int:
    """Process the pending documents batch by batch, in order, numbering batches from `first`; returns the next
    number. Up to `pipeline.prepare_ahead` batches are prepared on the runner (parsed, cleaned up to
    deduplication, chunked: see `stagework.Ahead`) while this one is deduplicated, enriched and embedded, and
    the ones before it are published (`flows.publishing`): memory stays bounded by a few batches, and the embedder
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
        with Publishing(rt, stats, _gate) as publishing:
            with publishing.on_failure():  # a batch that failed to prepare, a listing error, a failed turn
                _prepare_ahead(rt, runner, batches, ahead)
                if ahead and isinstance(runner, ThreadPoolTaskRunner):  # the runner's threads share this process's
                    stagework.load_preparation(rt.settings, rt.pii_key)  # while the first batch parses
                while ahead:
                    n, batch, future = ahead.popleft()
                    prepared = future.result()
                    _prepare_ahead(rt, runner, batches, ahead)
                    logger.info("batch %d: %d documents", n, len(batch))
                    _process_batch(rt, runner, batch, prepared, n, stats, publishing)
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
        future = runners.submit(
            runner, prepare_task, settings=rt.settings, sources=batch, pii_key=rt.pii_key, batch_no=n
        )
        ahead.append((n, batch, future))


def _dry_run(settings: Settings, params: PipelineParams) -> dict[str, Any]:
    """Report what a run would process; nothing is parsed or written (see docmill.run.dryrun)."""
    plan = dryrun.plan(settings, params.reprocess_quarantined)
    dry_run_artifacts(plan)
    get_run_logger().info("dry run: %s", plan["counts"])
    return {"dry_run": True, "counts": plan["counts"], "files": plan["files"], "data_dir": str(settings.paths.data_dir)}


def _summary(
    rt: Runtime, settings: Settings, stats: runstats.RunStats, dataset: DatasetVersion, seconds: float
) -> dict[str, Any]:
    rejects = rt.catalog.quarantine_breakdown()
    return {
        "run_id": rt.run_id,
        "seconds": round(seconds, 2),
        "documents": rt.catalog.counts(),
        "ingest": dict(stats.stage("ingest")),
        "stages": stats.by_stage(),
        "workers": dict(stats.workers),
        "throughput": stats.throughput(seconds),
        "reject_rates": stats.reject_rates(),
        "chunks_embedded": int(stats.stage("embed")["embedded"]),
        "chunks_cached": int(stats.stage("embed")["cached"]),
        "quarantine": {key: n["documents"] for key, n in rejects.items() if n["documents"]},
        "quarantined_parts": {key: n["pieces"] for key, n in rejects.items() if n["pieces"]},
        "pii": stats.pii(),
        "points": rt.store.count(),
        "dataset": settings.version.dataset_name,
        "dataset_version": dataset.version_id,
        "dataset_tag": dataset.tag,
        "dataset_rows": dataset.rows,
        "new_version": dataset.new,
        "data_dir": str(settings.paths.data_dir.resolve()),
        "metrics_file": str(settings.paths.metrics.resolve()),
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
