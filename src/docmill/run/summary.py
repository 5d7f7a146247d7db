"""A run's summary (what the CLI prints, the catalog records with the run, the Prefect artifacts show) and its
metrics file, made from the run's statistics and the catalog's counts."""

from __future__ import annotations

from typing import Any

from docmill.records import DatasetVersion
from docmill.run import metrics
from docmill.run.context import RunContext
from docmill.run.runstats import RunStats


def run_summary(ctx: RunContext, stats: RunStats, dataset: DatasetVersion, seconds: float) -> dict[str, Any]:
    """The summary of a completed run."""
    settings = ctx.settings
    return {
        "run_id": ctx.run_id,
        "seconds": round(seconds, 2),
        "documents": ctx.catalog.counts(),
        "ingest": dict(stats.stage("ingest")),
        "stages": stats.by_stage(),
        "workers": dict(stats.workers),
        "throughput": stats.throughput(seconds),
        "reject_rates": stats.reject_rates(),
        "chunks_embedded": int(stats.stage("embed")["embedded"]),
        "chunks_cached": int(stats.stage("embed")["cached"]),
        **_quarantine(ctx),
        "pii": stats.pii(),
        "semantic_duplicates": semantic_duplicates(ctx, stats),
        "points": ctx.store.count(),
        "dataset": settings.version.dataset_name,
        "dataset_version": dataset.version_id,
        "dataset_tag": dataset.tag,
        "dataset_rows": dataset.rows,
        "new_version": dataset.new,
        "data_dir": str(settings.paths.data_dir.resolve()),
        "metrics_file": str(settings.paths.metrics.resolve()),
    }


def semantic_duplicates(ctx: RunContext, stats: RunStats) -> dict[str, Any]:
    """The semantic near-duplicate chunks this run found (`embed.semantic_duplicates`; empty when off): the
    policy and threshold, how many were `found` (of them `found_in_batch`, the rest against the collection and
    the batches not yet recorded) and what the policy made of them (`kept`, `flagged` or `dropped`)."""
    config = ctx.settings.embed.semantic_duplicates
    if not config.enabled:
        return {}
    counters = stats.stage("semantic_duplicates")
    found = int(counters["found"])
    done = {"keep": "kept", "flag": "flagged", "drop": "dropped"}[config.policy]
    return {
        "policy": config.policy,
        "threshold": config.threshold,
        "found": found,
        "found_in_batch": int(counters["found_in_batch"]),
        done: found,
        "documents_dropped": int(counters["documents_dropped"]),
    }


def failed_summary(ctx: RunContext) -> dict[str, Any]:
    """What a failed run's metrics still say: the catalog's documents and quarantine, and the dataset version
    that stays current (the last completed run's: a failed run cuts none). Nothing of the failed run's own
    half-done work (stage counters, points) is reported as if it were a run's figures."""
    summary: dict[str, Any] = {"run_id": ctx.run_id, "documents": ctx.catalog.counts(), **_quarantine(ctx)}
    last = ctx.catalog.last_completed_summary() or {}
    summary.update({k: last[k] for k in ("dataset", "dataset_version", "dataset_tag", "dataset_rows") if k in last})
    return summary


def _quarantine(ctx: RunContext) -> dict[str, dict[str, int]]:
    rejects = ctx.catalog.quarantine_breakdown()
    return {
        "quarantine": {key: n["documents"] for key, n in rejects.items() if n["documents"]},
        "quarantined_parts": {key: n["pieces"] for key, n in rejects.items() if n["pieces"]},
    }


def write_metrics(ctx: RunContext, summary: dict[str, Any], outcome: str) -> str | None:
    """Replace the metrics file (`paths.metrics`) with this run's. A failure to write it is never fatal (the
    dataset matters more than its metrics): returns what went wrong, for the run's log, else None."""
    path = ctx.settings.paths.metrics
    try:
        metrics.write(path, summary, outcome, ctx.catalog.run_totals())
    except Exception as exc:
        return f"could not write the metrics file {path}: {exc}"
    return None
