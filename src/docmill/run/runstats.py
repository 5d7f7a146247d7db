"""A run's statistics: the counters every stage adds (`RunStats`), the counts the reject-rate gates judge, and the
numbers the run summary derives from them, computed once: the CLI's run table, the Prefect artifacts and the
metrics file (`docmill.run.metrics`) all read them from the summary, never recompute them."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from docmill.config.settings import ValidateConfig
from docmill.records import StageResult

STAGE_ORDER = ("ingest", "extract", "clean", "chunk", "enrich", "embed", "validate", "version")


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


def contract_counter(contract: str, what: str) -> str:
    """The counter a document contract's check adds to its stage's (`stagework.contract`), e.g.
    `contract_extracted_rejected`; `what` is `rejected` or `violations`. The run summary shows it."""
    return f"contract_{contract}_{what}"


@dataclass
class GateCount:
    """Rows a contract rejected and rows it saw so far in a run: what its reject-rate gate judges."""

    rejected: int = 0
    seen: int = 0

    @property
    def rate(self) -> float:
        """The share of the rows seen that were rejected (0.0 before any row)."""
        return round(self.rejected / self.seen, 6) if self.seen else 0.0


@dataclass
class RunStats:
    """A run's counters, filled in one way: `add` a stage's result (its counters, the process that did its work
    and the counts of the contract it checked), `count` what is no stage result (ingest, store reconciliation,
    cache pruning, published documents). The reject-rate gates read `extracted`, `cleaned` and `chunks` (the
    chunks rejected by the `chunks` and `embeddings` contracts, which `validate` reports together)."""

    stages: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    workers: Counter[str] = field(default_factory=Counter)  # batches per `<stage> <host:pid>` that did the work
    extracted: GateCount = field(default_factory=GateCount)
    cleaned: GateCount = field(default_factory=GateCount)
    chunks: GateCount = field(default_factory=GateCount)

    def add(self, stage: str, result: StageResult[Any]) -> None:
        """Add a stage's result: its numeric counters, its worker, and the rows its contract saw and rejected."""
        self.count(stage, result.stats)
        if result.worker:
            self.workers[f"{stage} {result.worker}"] += 1
        stats = result.stats
        if stage == "extract":  # the `extracted` contract judges what extraction put out
            self.extracted.rejected += int(stats.get(contract_counter("extracted", "rejected"), 0))
            self.extracted.seen += int(stats.get("out", 0))
        elif stage == "clean":  # the `cleaned` contract judges what cleaning put out
            self.cleaned.rejected += int(stats.get(contract_counter("cleaned", "rejected"), 0))
            self.cleaned.seen += int(stats.get("out", 0))
        elif stage == "validate":
            self.chunks.rejected += int(stats.get("rejected", 0))
            self.chunks.seen += int(stats.get("in", 0))

    def count(self, stage: str, counters: Mapping[str, Any]) -> None:
        """Add counters to a stage's (non-numeric values are left out)."""
        self.stages[stage].update({k: v for k, v in counters.items() if isinstance(v, int | float)})

    def stage(self, name: str) -> Counter[str]:
        """A stage's counters so far (empty for a stage that reported none)."""
        return self.stages.get(name, Counter())

    def by_stage(self) -> dict[str, dict[str, float]]:
        """Every stage's counters, in the order the stages first reported (the summary's `stages`)."""
        return {name: dict(counters) for name, counters in self.stages.items()}

    def gates(self) -> dict[str, GateCount]:
        """contract -> its gate's counts so far (what the reject-rate gates judge)."""
        return {"extracted": self.extracted, "cleaned": self.cleaned, "chunks": self.chunks}

    def check_gates(self, config: ValidateConfig) -> None:
        """Stop the run when a contract rejected more of the rows it saw so far than its gate allows.

        Raises:
            RejectRateExceeded: naming the contract, its rate and the limit (`validate.check_reject_rate`).
        """
        from docmill.stages import validate  # pandera: only the flow needs it, not the CLI's tables

        for contract, count in self.gates().items():
            validate.check_reject_rate(count.rejected, count.seen, config, contract)

    def reject_rates(self) -> dict[str, float]:
        """contract -> share of its rows rejected in this run (0.0 when it saw none)."""
        return {contract: count.rate for contract, count in self.gates().items()}

    def pii(self) -> dict[str, int]:
        """PII found by cleaning this run, by type (never values)."""
        return {k.removeprefix("pii_"): int(v) for k, v in sorted(self.stage("clean").items()) if k.startswith("pii_")}

    def throughput(self, seconds: float) -> dict[str, float]:
        """Documents parsed and chunks embedded or reused this run, and their rates over the run's wall time."""
        documents = int(self.stage("extract")["in"])
        embed = self.stage("embed")
        chunks = int(embed["embedded"]) + int(embed["cached"])
        return {
            "documents": documents,
            "chunks": chunks,
            "documents_per_second": round(documents / seconds, 3) if seconds > 0 else 0.0,
            "chunks_per_second": round(chunks / seconds, 3) if seconds > 0 else 0.0,
        }
