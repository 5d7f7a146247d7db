"""What a run shows in the Prefect UI: artifacts (stage table, quarantine reasons, progress, run report, dry-run
plan) and the one-line explanation of a failure."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from prefect.artifacts import (
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)

from docmill.audit import AuditBroken
from docmill.store import StoreUnavailable

STAGE_ORDER = ("ingest", "extract", "clean", "chunk", "enrich", "embed", "validate", "version")


def stage_rows(stages: dict[str, dict[str, float]]) -> list[dict[str, Any]]:
    """One row per stage: in, out, rejected, seconds and throughput (items in per second)."""
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


def run_artifacts(summary: dict[str, Any]) -> None:
    """The stage table, the quarantine reasons and the Markdown run report of a finished run."""
    create_table_artifact(stage_rows(summary["stages"]), key="docmill-stage-counts", description="Per-stage counts")
    quarantine = [{"reason": k, "documents": v} for k, v in sorted(summary["quarantine"].items())]
    create_table_artifact(
        quarantine or [{"reason": "none", "documents": 0}],
        key="docmill-quarantine",
        description="Quarantined documents by stage/reason",
    )
    snapshot = ""
    if summary.get("snapshot"):
        cut = summary["snapshot"]
        state = "new version" if cut["new"] else "unchanged"
        snapshot = f"- snapshot **{cut['tag']}** version `{cut['version']}`, {cut['rows']} chunks ({state})\n"
    create_markdown_artifact(
        f"# docmill run {summary['run_id']}\n\n"
        f"- dataset **{summary['dataset']}** version `{summary['dataset_version']}` ({summary['dataset_tag']}); "
        f"fetch it with `dvc get <repo> datasets/{summary['dataset']} --rev {summary['dataset_tag']}` or "
        f"`dvc.api.open(..., rev='{summary['dataset_tag']}')`\n"
        f"- documents: {summary['documents']}\n"
        f"- chunks embedded {summary['chunks_embedded']}, reused {summary['chunks_cached']}, "
        f"points in Qdrant {summary['points']}\n"
        f"- quarantined this far: {sum(summary['quarantine'].values())} documents "
        f"(`docmill quarantine list`)\n- data: `{summary['data_dir']}`\n"
        f"- PII found this run (by type, never values): {summary['pii'] or 'none'}\n"
        f"{snapshot}- took {summary['seconds']} s\n",
        key="docmill-run-report",
        description="docmill run report",
    )
    if summary.get("audit_head"):
        audit_artifact(summary["audit_head"])


def audit_artifact(head: dict[str, Any]) -> None:
    """The audit trail's head after the run, kept in Prefect's database (out of reach of whoever can write the
    data folder alone): compare it with `docmill audit show --json` when in doubt."""
    create_table_artifact(
        [{"seq": head["seq"], "hash": head["hash"]}],
        key="docmill-audit-head",
        description="Audit trail head (seq, HMAC) after this run: an anchor for `docmill audit verify`",
    )


def dry_run_artifacts(plan: dict[str, Any]) -> None:
    """What a run would process: counts and the new/changed files."""
    counts = plan["counts"]
    create_table_artifact(
        plan["files"] or [{"source_uri": "(nothing new or changed)", "change": ""}],
        key="docmill-dry-run-files",
        description="Files a run would process (new or changed; first 500)",
    )
    lines = "\n".join(f"- {k}: {v}" for k, v in sorted(counts.items()))
    create_markdown_artifact(
        f"# docmill dry run\n\nNothing was parsed or written.\n\n{lines}\n",
        key="docmill-run-report",
        description="docmill dry-run report",
    )


class Progress:
    """A progress artifact that moves as batches finish (documents done / documents pending at start)."""

    def __init__(self, total: int) -> None:
        self.total = max(total, 0)
        self.done = 0
        self.artifact_id: UUID = create_progress_artifact(
            0.0 if self.total else 100.0, key="docmill-progress", description=f"0 of {self.total} documents"
        )

    def advance(self, documents: int) -> None:
        """Count `documents` as done and update the artifact."""
        self.done += documents
        percent = 100.0 if not self.total else min(100.0, 100.0 * self.done / self.total)
        update_progress_artifact(self.artifact_id, percent, description=f"{self.done} of {self.total} documents")


def explain(exc: BaseException, settings: Any, retries: int) -> str:
    """One line: what failed and what to do."""
    text = f"{type(exc).__name__}: {exc}".splitlines()[0]
    if isinstance(exc, StoreUnavailable):
        where = settings.embed.qdrant_url or settings.paths.data_dir / "qdrant"
        return f"Qdrant unreachable at {where} after {retries} retries; check the qdrant service and embed.qdrant_url"
    if isinstance(exc, FileNotFoundError):
        return f"{exc}; check ingest.sources (or the run's sources parameter) and that the share is mounted"
    if isinstance(exc, AuditBroken) or (isinstance(exc, RuntimeError) and "another docmill run" in str(exc)):
        return str(exc)
    return f"run failed: {text}; the next run resumes from the documents still pending (see data/logs)"
