"""The docmill pipeline flow: eight stages, one Prefect task per step per batch of documents. The steps are
declared in `docmill.run.plan`; this module runs them as Prefect tasks, in order, on the run's task runner.

Run it through the CLI (`docmill run`), the Prefect UI, or `python -m flows.pipeline --config FILE`.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from collections import deque
from collections.abc import Iterator
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.runtime import flow_run
from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner
from prefect.utilities.annotations import quote

from docmill.config.offline import apply_offline_defaults
from docmill.config.settings import Settings
from docmill.records import DatasetVersion, SourceFile, StageResult
from docmill.run import dryrun, plan, runstats, stagework, upkeep
from docmill.run.bookkeeping import Bookkeeping
from docmill.run.context import RunContext
from docmill.run.ingestion import Ingestion
from docmill.run.params import PipelineParams
from docmill.run.summary import failed_summary, run_summary, write_metrics
from docmill.run.unrecorded import Validated
from docmill.stages import version
from docmill.state.store import StoreUnavailable
from flows import runners
from flows.publishing import Publishing
from flows.reporting import Progress, dry_run_artifacts, explain, mark_crashed, run_artifacts

apply_offline_defaults()


@task(name="ingest", **runners.TASK)
def ingest_task(ctx: RunContext) -> dict[str, float]:
    """List every source (folders and connectors), fetch new/changed remote items, hash files, record
    new/changed ones as pending, forget vanished ones (only under the scopes of sources listed completely)."""
    return Ingestion(ctx).run()


@task(name="prepare", task_run_name="prepare-batch-{batch_no:04d}", **runners.TASK)
def prepare_task(settings: Settings, batch: plan.Batch, batch_no: int) -> plan.Batch:
    """A batch's `plan.AHEAD` steps, on the task runner ahead of the batch's turn: parse (in worker processes),
    the `extracted` contract, cleaning up to deduplication and chunking (in worker processes)."""
    return plan.run_ahead(settings, batch)


def _run_step(step: str, batch: plan.Batch, env: Any, batch_no: int) -> StageResult[Any]:
    """The body of every `plan.AT_TURN` step's task: the step's function (`env`: the `Turn` in the flow process,
    the settings on the runner)."""
    return STEPS[step].work(batch, env)


STEPS = {step.name: step for step in plan.AT_TURN}
# one Prefect task per step, named after it (`embed-batch-0003` in the UI)
STEP_TASKS = {
    name: task(_run_step, name=name, task_run_name=f"{name}-batch-{{batch_no:04d}}", **runners.TASK) for name in STEPS
}


@task(name="version", retries=2, retry_delay_seconds=[5, 30], retry_condition_fn=runners.io_failure, **runners.TASK)
def version_task(ctx: RunContext) -> DatasetVersion:
    """Write the dataset version, DVC-track it, commit and push."""
    chunks = Bookkeeping(ctx).current_chunks()
    return version.version(chunks, ctx.settings.version, ctx.repo, ctx.embedder.dimension, ctx.manifest())


@task(name="snapshot", retries=2, retry_delay_seconds=[5, 30], retry_condition_fn=runners.io_failure, **runners.TASK)
def snapshot_task(settings: Settings, name: str) -> dict[str, Any]:
    """Cut the snapshot `name` (the `snapshot` section's defaults) from the chunks this run left current: the same
    function as `docmill snapshot create NAME`."""
    from docmill.snapshots import service

    result = service.create(settings, service.make_request(settings, name)).as_dict()
    return {k: result[k] for k in ("tag", "version", "rows", "new")}


def _turn(
    ctx: RunContext, runner: TaskRunner[Any], batch: plan.Batch, stats: runstats.RunStats, publishing: Publishing
) -> None:
    """A batch's turn, after its `plan.AHEAD` steps: the `plan.AT_TURN` steps in order, those on the runner
    submitted there (while one runs, the batches before this one are recorded as their points get written),
    the others here in the flow process; each result is taken the one way (`plan.take`). The validated batch
    is then handed to `publishing` (which runs the reject-rate gates before publishing it)."""
    book = publishing.book
    book.start_batch(batch.sources)
    unrecorded = publishing.unrecorded
    turn = plan.Turn(
        ctx.settings,
        book,
        unrecorded.canonical_for_text(),
        unrecorded.known_vectors,
        ctx.embedder,
        ctx.max_tokens,
        unrecorded.semantic_matches,
    )
    for step in plan.turn_steps(ctx.settings):
        if step.gather:
            step.gather(batch, turn)
        if step.on_runner:
            parameters = {"step": step.name, "batch": batch.only(step.reads), "env": ctx.settings, "batch_no": batch.n}
            future = runners.submit(runner, STEP_TASKS[step.name], **parameters)
            try:
                publishing.record_written()
            except BaseException:
                future.wait()  # the run fails with the publish error, once this step has ended
                raise
            result = future.result()
        else:
            result = STEP_TASKS[step.name](step.name, quote(batch), quote(turn), batch.n)
        plan.take(step, batch, result, stats, book)
        if step.check:
            step.check(turn, result)
    publishing.add(Validated(batch.docs, batch.chunks, batch.n, len(batch.sources)))  # the gates judge it first


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
    ctx = RunContext(settings, str(flow_run.get_id() or f"local-{time.time_ns()}"))
    try:
        ctx.start_run()
        mark_crashed(ctx.crashed_runs, ctx.run_id)
        summary = _run(ctx, params)
    except BaseException as exc:
        if ctx.holds_lock:  # a run that got the lock records its failure
            ctx.finish_run("failed", {"error": f"{type(exc).__name__}: {exc}"})
            _metrics(ctx, failed_summary(ctx), "failed")
        ctx.close()
        message = explain(exc, settings, runners.IO_RETRIES)
        logger.error(message)
        if isinstance(exc, StoreUnavailable):  # the flow run's state message says what to do
            raise StoreUnavailable(message) from exc
        raise
    ctx.finish_run("completed", summary)
    summary["audit_head"] = dict(zip(("seq", "hash"), ctx.audit.head(), strict=True))  # anchored as an artifact
    _metrics(ctx, summary, "completed")
    ctx.close()  # releases the data folder's lock, which the snapshot takes next
    if params.snapshot_name:
        summary["snapshot"] = snapshot_task(settings, params.snapshot_name)
    run_artifacts(summary)
    logger.info("dataset %s (version %s)", summary["dataset_tag"], summary["dataset_version"])
    return summary


def _metrics(ctx: RunContext, summary: dict[str, Any], outcome: str) -> None:
    if problem := write_metrics(ctx, summary, outcome):
        get_run_logger().warning(problem)


def _run(ctx: RunContext, params: PipelineParams) -> dict[str, Any]:
    logger = get_run_logger()
    started = time.perf_counter()
    stats = runstats.RunStats()
    book = Bookkeeping(ctx)
    runners.check_paths(ctx.settings)  # before anything is written
    if params.reprocess_quarantined:
        logger.info("reprocessing %d quarantined documents", book.replay_quarantined())
    t0 = time.perf_counter()
    stats.count("ingest", ingest_task(ctx))
    stats.count("ingest", {"seconds": time.perf_counter() - t0})
    progress = Progress(book.counts().get("pending", 0))
    with runners.started(ctx.settings.pipeline) as runner:
        done = 0
        for _ in range(3):  # documents queued again while the run went (duplicates of removed ones) get a pass
            done, before = _batches(ctx, book, runner, stats, progress, done), done
            if done == before or not book.counts().get("pending"):
                break
    book.retire_superseded()  # previous contents whose new content ended quarantined or as a duplicate
    stats.count("validate", {"stray_points_deleted": upkeep.reconcile_store(ctx)})
    stats.check_gates(ctx.settings.validate_)
    dataset = version_task(ctx)
    ctx.record_version(dataset)
    stats.count("embed", {"cache_pruned": upkeep.prune_cache(ctx)})
    stats.count("version", dataset.stats)
    summary = run_summary(ctx, stats, dataset, time.perf_counter() - started)
    summary["snapshot_name"] = params.snapshot_name
    return summary


def _batches(
    ctx: RunContext,
    book: Bookkeeping,
    runner: TaskRunner[Any],
    stats: runstats.RunStats,
    progress: Progress,
    first: int,
) -> int:
    """Process the pending documents batch by batch, in order, numbering batches from `first`; returns the next
    number. Up to `pipeline.prepare_ahead` batches run their `plan.AHEAD` steps on the runner (parsed, cleaned
    up to deduplication, chunked) while this one takes its turn (`_turn`: deduplicated, enriched, embedded,
    validated), and the ones before it are published (`flows.publishing`): memory stays bounded by a few
    batches, and the embedder waits neither for the parsers nor for the Qdrant writes. With
    `pipeline.ramp_up` the first batches are small, so the first embedding starts after one document's parse.
    A batch is recorded in the catalog only after its turn and its Qdrant writes, in batch order, so a run
    killed anywhere leaves the catalog as a sequential run would. A document queued again behind the listing
    (a duplicate whose canonical copy was removed while an earlier batch was published) is left for the
    caller's next pass."""
    logger = get_run_logger()
    cfg = ctx.settings.pipeline
    batches = enumerate(book.pending_batches(cfg.batch_size, cfg.ramp_up), start=first)
    n = first - 1
    ahead: deque[Any] = deque()  # futures of `prepare_task`, in batch order
    try:
        with Publishing(book, ctx.settings, stats) as publishing:
            with publishing.on_failure():  # a batch that failed to prepare, a listing error, a failed turn
                _prepare_ahead(ctx, runner, batches, ahead)
                if ahead:  # the model the turns need (here for its key and dimension), while the first batches parse
                    threading.Thread(target=stagework.load_embedder, args=(ctx.settings,), daemon=True).start()
                if ahead and isinstance(runner, ThreadPoolTaskRunner):  # the runner's threads share this process's
                    stagework.load_preparation(ctx.settings, ctx.pii_key)  # while the first batch parses
                while ahead:
                    batch = ahead.popleft().result()
                    n = batch.n
                    _prepare_ahead(ctx, runner, batches, ahead)
                    logger.info("batch %d: %d documents", n, len(batch.sources))
                    _turn(ctx, runner, batch, stats, publishing)
                    progress.advance(len(batch.sources))
            publishing.drain()
    finally:
        for future in ahead:  # a failed batch: let the extractions in flight end before parsers stop
            future.wait()
    return n + 1


def _prepare_ahead(
    ctx: RunContext, runner: TaskRunner[Any], batches: Iterator[tuple[int, list[SourceFile]]], ahead: deque[Any]
) -> None:
    """Submit the next batches' `plan.AHEAD` steps until `pipeline.ahead()` of them are in flight."""
    while len(ahead) < ctx.settings.pipeline.ahead() and (item := next(batches, None)) is not None:
        n, sources = item
        batch = plan.Batch(n, sources, ctx.pii_key)
        ahead.append(runners.submit(runner, prepare_task, settings=ctx.settings, batch=batch, batch_no=n))


def _dry_run(settings: Settings, params: PipelineParams) -> dict[str, Any]:
    """Report what a run would process; nothing is parsed or written (see docmill.run.dryrun)."""
    plan = dryrun.plan(settings, params.reprocess_quarantined)
    dry_run_artifacts(plan)
    get_run_logger().info("dry run: %s", plan["counts"])
    return {"dry_run": True, "counts": plan["counts"], "files": plan["files"], "data_dir": str(settings.paths.data_dir)}


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
