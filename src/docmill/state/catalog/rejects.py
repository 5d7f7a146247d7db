"""The `quarantine` table: every reject (a whole document, one of its chunks, or a part such as `page 3`) with
its stage, reason code and message."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable, Sequence

from docmill.records import Reject
from docmill.state.catalog.base import CatalogBase, text


class Rejects(CatalogBase):
    """Queries of the `quarantine` table."""

    def add_rejects(self, rejects: Iterable[Reject], run_id: str) -> None:
        """Append reject rows (inside a transaction)."""
        now = time.time()
        self._execute_many(
            "INSERT INTO quarantine(run_id, doc_id, source_uri, chunk_id, part, stage, reason, message, created_at, "
            "duplicate_of) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    run_id,
                    r.doc_id,
                    text(r.source_uri),
                    r.chunk_id,
                    text(r.part),
                    r.stage,
                    r.reason,
                    text(r.message),
                    now,
                    r.duplicate_of,
                )
                for r in rejects
            ],
        )

    def clear_rejects(self, doc_ids: Iterable[str]) -> None:
        """Forget earlier rejects of documents that are being processed again."""
        self._execute_many("DELETE FROM quarantine WHERE doc_id=?", [(d,) for d in doc_ids])

    def clear_stage_rejects(self, stage: str) -> None:
        """Forget every reject of a stage that each run recomputes (ingest)."""
        self._execute("DELETE FROM quarantine WHERE stage=?", (stage,))

    def quarantine(self, stage: str | None = None, reason: str | None = None) -> list[sqlite3.Row]:
        """Current reject rows, optionally filtered by stage and reason prefix."""
        sql, params = "SELECT * FROM quarantine WHERE 1=1", list[str]()
        if stage:
            sql, params = sql + " AND stage=?", [*params, stage]
        if reason:
            sql, params = sql + " AND reason LIKE ?", [*params, reason + "%"]
        return self.query(sql + " ORDER BY stage, reason, source_uri", params)

    def rejects_named(self, ident: str) -> list[sqlite3.Row]:
        """Reject rows by row id, else by doc_id prefix or source URI substring (oldest first)."""
        if ident.isdigit():
            rows = self.query("SELECT * FROM quarantine WHERE id=?", (int(ident),))
            if rows:
                return rows
        sql = "SELECT * FROM quarantine WHERE doc_id LIKE ? OR source_uri LIKE ? ORDER BY id"
        return self.query(sql, (ident + "%", f"%{ident}%"))

    def rejects_of(self, doc_id: str) -> list[sqlite3.Row]:
        """Every reject row of a document."""
        return self.query("SELECT * FROM quarantine WHERE doc_id=?", (doc_id,))

    def rejected_doc_ids(self, reason: str | None = None, stage: str | None = None) -> set[str]:
        """The documents with a reject, optionally of a reason prefix and a stage."""
        sql, params = "SELECT DISTINCT doc_id FROM quarantine WHERE doc_id IS NOT NULL", list[str]()
        if reason:
            sql, params = sql + " AND reason LIKE ?", [*params, reason + "%"]
        if stage:
            sql, params = sql + " AND stage=?", [*params, stage]
        return {r["doc_id"] for r in self.query(sql, params)}

    def quarantine_breakdown(self) -> dict[str, dict[str, int]]:
        """Current rejects by `stage/reason` (sorted): how many are whole `documents`, and how many are
        `pieces` (chunks and dropped parts of documents that went on)."""
        rows = self.query(
            "SELECT stage || '/' || reason r, SUM(chunk_id IS NULL AND part IS NULL) documents, "
            "SUM(chunk_id IS NOT NULL OR part IS NOT NULL) pieces FROM quarantine GROUP BY r ORDER BY r"
        )
        return {row["r"]: {"documents": row["documents"], "pieces": row["pieces"]} for row in rows}

    def quarantine_counts(self) -> dict[str, int]:
        """Current quarantine rows by `stage/reason` (documents, chunks and dropped parts alike)."""
        return {key: n["documents"] + n["pieces"] for key, n in self.quarantine_breakdown().items()}

    def count_rejected_documents(self, statuses: Sequence[str]) -> int:
        """Documents with a reject, in one of `statuses`, whose bytes a source still holds (those a replay of
        the quarantine would queue)."""
        marks = ",".join("?" * len(statuses))
        return int(
            self.query(
                "SELECT COUNT(DISTINCT q.doc_id) n FROM quarantine q JOIN documents d ON d.doc_id = q.doc_id "
                f"WHERE d.status IN ({marks}) AND EXISTS (SELECT 1 FROM sources s WHERE s.doc_id=d.doc_id)",
                statuses,
            )[0]["n"]
        )
