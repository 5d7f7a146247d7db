"""The `runs` table: one row per flow run, with its status and summary."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable
from typing import Any

from docmill.state.catalog.base import CatalogBase


class Runs(CatalogBase):
    """Queries of the `runs` table."""

    def start_run(self, run_id: str, config_hash: str, code_version: str) -> None:
        """Record a run as started (idempotent for a retried flow run)."""
        with self.transaction():
            self._execute(
                "INSERT OR REPLACE INTO runs(run_id, started_at, status, config_hash, code_version) "
                "VALUES (?, ?, 'running', ?, ?)",
                (run_id, time.time(), config_hash, code_version),
            )

    def finish_run(self, run_id: str, status: str, summary: dict[str, Any]) -> None:
        """Record the end of a run with its summary."""
        with self.transaction():
            self._execute(
                "UPDATE runs SET finished_at=?, status=?, summary=? WHERE run_id=?",
                (time.time(), status, json.dumps(summary, default=str), run_id),
            )

    def mark_crashed(self, except_run: str, error: Callable[[str], str]) -> list[str]:
        """Record every run still `running` other than `except_run` as `crashed`, its summary's error being
        `error(run_id)` (call it holding the data folder's run lock: then no such run is alive). Returns their ids."""
        with self.transaction():
            running = self._execute("SELECT run_id FROM runs WHERE status='running' AND run_id != ?", (except_run,))
            ids = [r[0] for r in running]
            for run_id in ids:
                self._execute(
                    "UPDATE runs SET finished_at=?, status='crashed', summary=? WHERE run_id=?",
                    (time.time(), json.dumps({"error": error(run_id)}), run_id),
                )
        return ids

    def run(self, run_id: str) -> sqlite3.Row | None:
        """The row of one run, if known."""
        rows = self.query("SELECT * FROM runs WHERE run_id=?", (run_id,))
        return rows[0] if rows else None

    def runs_since(self, since: float) -> dict[str, float]:
        """run_id -> start time of the runs started at or after `since` (epoch seconds)."""
        rows = self.query("SELECT run_id, started_at FROM runs WHERE started_at >= ?", (since,))
        return {r["run_id"]: r["started_at"] for r in rows}

    def run_totals(self) -> dict[str, Any]:
        """Runs by status, and chunks embedded by all completed runs (from their summaries)."""
        runs = {r["status"]: r["n"] for r in self.query("SELECT status, COUNT(*) n FROM runs GROUP BY status")}
        embedded = self.query(
            "SELECT COALESCE(SUM(json_extract(summary, '$.chunks_embedded')), 0) n FROM runs WHERE status='completed'"
        )[0]["n"]
        return {"runs": runs, "chunks_embedded": int(embedded)}

    def last_completed_summary(self) -> dict[str, Any] | None:
        """The summary of the most recent completed run (None before the first)."""
        rows = self.query("SELECT summary FROM runs WHERE status='completed' ORDER BY started_at DESC LIMIT 1")
        return json.loads(rows[0]["summary"] or "{}") if rows else None

    def last_runs(self, limit: int = 5) -> list[sqlite3.Row]:
        """Most recent runs first."""
        return self.query("SELECT * FROM runs ORDER BY started_at DESC LIMIT ?", (limit,))
