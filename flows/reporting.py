"""What a run shows in the Prefect UI: artifacts (stage table, quarantine reasons, progress, run report, dry-run
plan), the one-line explanation of a failure, and the `Crashed` state of earlier runs whose process died."""

from __future__ import annotations

import logging
from typing import Any
from uuid import UUID

from prefect.artifacts import (
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)

from docmill.run.runstats import stage_rows
from docmill.state.audit import AuditBroken
from docmill.state.store import StoreUnavailable

log = logging.getLogger(__name__)


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
        f"{_semantic_line(summary.get('semantic_duplicates'))}"
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


def mark_crashed(run_ids: list[str], found_by: str) -> list[str]:
    """Give the flow runs of runs found dead (`RunContext.crashed_runs`) the state `Crashed`, unless Prefect already
    has them in a final state; returns the ids changed. Never fails the run: a run id that is no flow run (a run
    outside Prefect) or an unreachable API is logged."""
    from prefect.client.orchestration import get_client
    from prefect.states import Crashed

    changed = []
    with get_client(sync_client=True) as client:
        for run_id in run_ids:
            try:
                state = client.read_flow_run(UUID(run_id)).state
                if state is not None and state.is_final():
                    continue
                message = f"the run's process died without finishing (killed?); found by run {found_by}"
                client.set_flow_run_state(UUID(run_id), Crashed(message=message), force=True)
                changed.append(run_id)
            except Exception as exc:  # an old run must never fail the new one
                log.warning("could not mark flow run %s crashed in Prefect: %s", run_id, exc)
    return changed


def _semantic_line(semantic: dict[str, Any] | None) -> str:
    """The report's line on semantic near-duplicate chunks (none when `embed.semantic_duplicates` is off)."""
    if not semantic:
        return ""
    outcome = next(f"{k} {semantic[k]}" for k in ("kept", "flagged", "dropped") if k in semantic)
    return f"- semantic near-duplicate chunks (cosine >= {semantic['threshold']}): {semantic['found']}, {outcome}\n"
