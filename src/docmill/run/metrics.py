"""The run's metrics as a Prometheus text file, for node_exporter's textfile collector (docs/operations.md).

Every run (completed or failed) replaces `data/metrics/docmill.prom` atomically (written beside it, then
renamed). Every value comes from the run summary the CLI prints and the catalog records (`docmill.run.runstats`),
never recomputed here. `last_run` metrics describe the latest run; `_total` counters add up every run the
catalog knows.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from docmill.run import runstats

PREFIX = "docmill"
_NOT_STATUSES = {"sources", "chunks"}  # the catalog's counts() also holds these totals


def families(
    summary: Mapping[str, Any], outcome: str, totals: Mapping[str, Any], timestamp: float | None = None
) -> list[Any]:
    """Metric families of one run. `summary`: the run summary (a failed run's holds little more than its error
    and the catalog's document counts); `totals`: the catalog's `run_totals()`; `timestamp`: when it ended."""
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

    out: list[Any] = []

    def gauge(
        name: str,
        doc: str,
        labels: tuple[str, ...] = (),
        values: Iterator[tuple[Any, ...]] | None = None,
        value: float | None = None,
        unit: str = "",
    ) -> None:
        family = GaugeMetricFamily(f"{PREFIX}_{name}", doc, labels=list(labels) if labels else None, unit=unit)
        if labels:
            for *label_values, v in values or ():
                family.add_metric([str(x) for x in label_values], float(v))
        elif value is not None:
            family.add_metric([], float(value))
        out.append(family)

    docs = summary.get("documents") or {}
    gauge(
        "documents",
        "Documents in the catalog by status.",
        ("status",),
        ((k, v) for k, v in sorted(docs.items()) if k not in _NOT_STATUSES),
    )
    gauge("sources", "Source files the catalog knows.", value=docs.get("sources", 0))
    gauge("chunks", "Chunks the catalog holds (one Qdrant point each).", value=docs.get("chunks", 0))
    quarantine = summary.get("quarantine") or {}
    gauge(
        "quarantined_documents",
        "Whole documents in quarantine by stage and reason.",
        ("stage", "reason"),
        ((*k.split("/", 1), v) for k, v in sorted(quarantine.items())),
    )
    parts = summary.get("quarantined_parts") or {}
    gauge(
        "quarantined_parts",
        "Chunks and pages dropped from otherwise published documents, by stage and reason.",
        ("stage", "reason"),
        ((*k.split("/", 1), v) for k, v in sorted(parts.items())),
    )
    if "points" in summary:
        gauge("qdrant_points", "Points in the Qdrant collection after the run.", value=summary["points"])
    if "dataset_version" in summary:
        gauge(
            "dataset_info",
            "The current dataset version (value 1).",
            ("dataset", "version", "tag"),
            iter([(summary["dataset"], summary["dataset_version"], summary["dataset_tag"], 1)]),
        )
        gauge(
            "dataset_rows",
            "Rows (chunks) of the current dataset version.",
            ("dataset",),
            iter([(summary["dataset"], summary.get("dataset_rows", 0))]),
        )
    _last_run(summary, gauge)
    ended = time.time() if timestamp is None else timestamp
    gauge(
        "last_run_info",
        "The latest run (value 1).",
        ("run_id", "outcome"),
        iter([(summary.get("run_id", ""), outcome, 1)]),
    )
    gauge(
        "last_run_success",
        "1 when the latest run completed, 0 when it failed.",
        value=1 if outcome == "completed" else 0,
    )
    gauge("last_run_timestamp_seconds", "When the latest run ended (Unix time).", value=ended)
    runs = CounterMetricFamily(f"{PREFIX}_runs", "Runs the catalog records, by outcome.", labels=["outcome"])
    counted = {"completed": 0, "failed": 0, "crashed": 0, **(totals.get("runs") or {})}
    for status, count in sorted(counted.items()):  # every outcome from the first file on: increase() needs a 0
        runs.add_metric([status], float(count))
    embedded = CounterMetricFamily(f"{PREFIX}_chunks_embedded", "Chunks embedded by every completed run.")
    embedded.add_metric([], float(totals.get("chunks_embedded", 0)))
    return [*out, runs, embedded]


def _last_run(summary: Mapping[str, Any], gauge: Any) -> None:
    """The per-run numbers of a completed run's summary (absent from a failed run's)."""
    if "stages" not in summary:
        return
    ingest = summary.get("ingest") or {}
    files = {
        "listed": "listed",
        "new": "new",
        "changed": "changed",
        "unchanged": "unchanged",
        "deleted": "sources_deleted",
    }
    gauge(
        "last_run_files",
        "Files the latest run listed, by change since the run before.",
        ("change",),
        ((name, ingest.get(key, 0)) for name, key in files.items()),
    )
    gauge(
        "last_run_chunks",
        "Chunks of the latest run: embedded anew or reused from the embedding cache.",
        ("source",),
        iter([("embedded", summary["chunks_embedded"]), ("reused", summary["chunks_cached"])]),
    )
    rows = runstats.stage_rows(summary["stages"])
    gauge(
        "last_run_stage_seconds",
        "Seconds the latest run spent per stage.",
        ("stage",),
        ((r["stage"], r["seconds"]) for r in rows),
    )
    gauge(
        "last_run_stage_items",
        "Items in, out and rejected per stage in the latest run.",
        ("stage", "direction"),
        ((r["stage"], d, r[d]) for r in rows for d in ("in", "out", "rejected")),
    )
    gauge("last_run_duration_seconds", "Wall time of the latest run.", value=summary["seconds"])
    rates = summary.get("throughput") or {}
    gauge(
        "last_run_documents_per_second",
        "Documents parsed per second of the latest run's wall time.",
        value=rates.get("documents_per_second", 0),
    )
    gauge(
        "last_run_chunks_per_second",
        "Chunks embedded or reused per second of the latest run's wall time.",
        value=rates.get("chunks_per_second", 0),
    )
    gauge(
        "last_run_reject_ratio",
        "Share of rows each contract rejected in the latest run.",
        ("contract",),
        iter(sorted((summary.get("reject_rates") or {}).items())),
    )
    gauge(
        "last_run_pii_found",
        "PII findings of the latest run by type (counts, never values).",
        ("type",),
        iter(sorted((summary.get("pii") or {}).items())),
    )
    semantic = summary.get("semantic_duplicates") or {}
    gauge(
        "last_run_semantic_duplicates",
        "Semantic near-duplicate chunks the latest run found, by the policy applied (none: the check is off).",
        ("policy",),
        iter([(semantic["policy"], semantic["found"])] if semantic else []),
    )


def write(path: Path, summary: Mapping[str, Any], outcome: str, totals: Mapping[str, Any]) -> Path:
    """Replace the metrics file at `path` atomically (a reader never sees half a file); returns `path`."""
    from prometheus_client import write_to_textfile
    from prometheus_client.registry import Collector

    collected = families(summary, outcome, totals)

    class _Run(Collector):
        def collect(self) -> list[Any]:
            return collected

    path.parent.mkdir(parents=True, exist_ok=True)
    write_to_textfile(str(path), _Run())
    return path
