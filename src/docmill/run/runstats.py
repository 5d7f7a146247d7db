"""The numbers a run summary derives from its per-stage counters, computed once: the CLI's run table, the Prefect
artifacts and the metrics file (`docmill.run.metrics`) all read them from the summary, never recompute them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

STAGE_ORDER = ("ingest", "extract", "clean", "chunk", "enrich", "embed", "validate", "version")

# contract -> (stage, rejected counter, total counter): the reject-rate gates (the `chunks` gate counts chunks
# rejected by the `chunks` and `embeddings` contracts, which `validate` reports together)
REJECT_GATES: dict[str, tuple[str, str, str]] = {
    "extracted": ("extract", "contract_extracted_rejected", "out"),
    "cleaned": ("clean", "contract_cleaned_rejected", "out"),
    "chunks": ("validate", "rejected", "in"),
}


def stage_rows(stages: Mapping[str, Mapping[str, float]]) -> list[dict[str, Any]]:
    """One row per stage in pipeline order: in, out, rejected, seconds and throughput (items in per second)."""
    rows = []
    for name in sorted(stages, key=lambda s: STAGE_ORDER.index(s) if s in STAGE_ORDER else len(STAGE_ORDER)):
        stats = stages[name]
        count_in = stats.get("in", stats.get("listed", 0))
        seconds = float(stats.get("seconds", 0.0))
        rows.append(
            {
                "stage": name,
                "in": int(count_in),
                "out": int(stats.get("out", count_in)),
                "rejected": int(stats.get("rejected", 0)),
                "seconds": round(seconds, 2),
                "per_second": round(count_in / seconds, 1) if seconds > 0 else None,
            }
        )
    return rows


def reject_counts(stages: Mapping[str, Mapping[str, float]]) -> dict[str, tuple[int, int]]:
    """contract -> (rows rejected, rows seen) so far in a run (what the reject-rate gates judge)."""
    return {
        contract: (int(stages.get(stage, {}).get(rejected, 0)), int(stages.get(stage, {}).get(total, 0)))
        for contract, (stage, rejected, total) in REJECT_GATES.items()
    }


def reject_rates(stages: Mapping[str, Mapping[str, float]]) -> dict[str, float]:
    """contract -> share of its rows rejected in this run (0.0 when it saw none)."""
    return {c: round(r / t, 6) if t else 0.0 for c, (r, t) in reject_counts(stages).items()}


def throughput(stages: Mapping[str, Mapping[str, float]], seconds: float) -> dict[str, float]:
    """Documents parsed and chunks embedded or reused this run, and their rates over the run's wall time."""
    documents = int(stages.get("extract", {}).get("in", 0))
    embed = stages.get("embed", {})
    chunks = int(embed.get("embedded", 0)) + int(embed.get("cached", 0))
    return {
        "documents": documents,
        "chunks": chunks,
        "documents_per_second": round(documents / seconds, 3) if seconds > 0 else 0.0,
        "chunks_per_second": round(chunks / seconds, 3) if seconds > 0 else 0.0,
    }
