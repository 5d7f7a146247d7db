"""The `documents` table: one row per distinct content (doc_id), with its status (`PENDING`, `EMBEDDED`,
`QUARANTINED`, `DUPLICATE`, `SUPERSEDED`, `CONTAINER`) and the stage that set it. Statuses change only through
`docmill.state.ledger`; here they are added (pending) and read."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

from docmill.records import SourceFile
from docmill.state.catalog.base import DUPLICATE, EMBEDDED, PENDING, SUPERSEDED, CatalogBase


class Documents(CatalogBase):
    """Queries of the `documents` table (a document's removal takes its chunks with it)."""

    def document(self, doc_id: str) -> sqlite3.Row | None:
        """The catalog row of one document, if known."""
        rows = self.query("SELECT * FROM documents WHERE doc_id=?", (doc_id,))
        return rows[0] if rows else None

    def add_document(self, source: SourceFile, run_id: str) -> None:
        """A new content, pending (inside a transaction)."""
        self._execute(
            "INSERT INTO documents(doc_id, source_uri, status, stage, file_type, run_id) "
            "VALUES (?, ?, ?, 'ingest', ?, ?)",
            (source.doc_id, source.source_uri, PENDING, source.extension.lstrip("."), run_id),
        )

    def pending_documents(self, after: str, limit: int) -> list[sqlite3.Row]:
        """The next page of documents waiting for processing, in source order (keyset pagination).

        Source order makes "the first of two duplicates" the one whose path sorts first, on every run.
        """
        return self.query(
            "SELECT d.doc_id, d.source_uri, s.path, s.extension, s.size, s.mtime, s.version, s.metadata "
            "FROM documents d "
            "JOIN sources s ON s.source_uri = d.source_uri AND s.doc_id = d.doc_id "
            "WHERE d.status=? AND d.source_uri > ? ORDER BY d.source_uri LIMIT ?",
            (PENDING, after, limit),
        )

    def canonical_for_text(self, text_hash: str) -> str | None:
        """The doc_id of an already processed document with the same normalised text, if any."""
        rows = self.query(
            "SELECT doc_id FROM documents WHERE text_hash=? AND status=? ORDER BY doc_id LIMIT 1",
            (text_hash, EMBEDDED),
        )
        return rows[0]["doc_id"] if rows else None

    def documents_since(self, since: float) -> set[str]:
        """Documents last set by a run started at or after `since` (epoch seconds), or by no run the catalog
        knows."""
        rows = self.query(
            "SELECT d.doc_id FROM documents d LEFT JOIN runs r ON r.run_id = d.run_id "
            "WHERE r.started_at IS NULL OR r.started_at >= ?",
            (since,),
        )
        return {row[0] for row in rows}

    def orphan_documents(self) -> list[str]:
        """Documents no source points to any more, previous contents of changed files excepted."""
        sql = "SELECT doc_id FROM documents WHERE doc_id NOT IN (SELECT doc_id FROM sources) AND status != ?"
        return [r[0] for r in self._execute(sql, (SUPERSEDED,))]

    def replaced_contents(self) -> dict[str, str]:
        """Previous contents of sources whose new content is pending, not yet superseded (inside a transaction):
        doc_id -> successor, for `ledger.superseded`."""
        return {
            r["doc_id"]: r["successor"]
            for r in self._execute(
                "SELECT d.doc_id, s.doc_id successor FROM documents d JOIN sources s ON s.source_uri = d.source_uri "
                "WHERE d.doc_id NOT IN (SELECT doc_id FROM sources) AND d.status != ? "
                "AND s.doc_id IN (SELECT doc_id FROM documents WHERE status = ?)",
                (SUPERSEDED, PENDING),
            ).fetchall()
        }

    def relocate_moved(self) -> list[sqlite3.Row]:
        """Documents whose recorded source is gone or holds other bytes while another source still holds theirs
        take that source (the first by URI) as theirs (inside a transaction). Returns rows of `doc_id`, `old`
        and `new` source URI."""
        moved = self._execute(
            "SELECT d.doc_id, d.source_uri old, (SELECT MIN(source_uri) FROM sources s WHERE s.doc_id=d.doc_id) new"
            " FROM documents d WHERE NOT EXISTS (SELECT 1 FROM sources s WHERE s.source_uri=d.source_uri"
            " AND s.doc_id=d.doc_id) AND d.doc_id IN (SELECT doc_id FROM sources)"
        ).fetchall()
        self._execute_many("UPDATE documents SET source_uri=? WHERE doc_id=?", [(r["new"], r["doc_id"]) for r in moved])
        return moved

    def retirable_superseded(self) -> list[str]:
        """Previous contents whose successor has been processed (embedded, quarantined or found a duplicate of
        a published document): a successor that is a duplicate of a document not yet published waits for it."""
        rows = self.query(
            "SELECT doc_id FROM documents WHERE status = ? AND (superseded_by IS NULL OR superseded_by NOT IN "
            "(SELECT doc_id FROM documents WHERE status IN (?, ?) OR (status = ? AND duplicate_of IN "
            "(SELECT doc_id FROM documents WHERE status = ?))))",
            (SUPERSEDED, PENDING, SUPERSEDED, DUPLICATE, PENDING),
        )
        return [r["doc_id"] for r in rows]

    def unsettled_documents(self) -> list[str]:
        """Documents whose points (if any) are about to change: pending ones (processed again when their batch
        comes) and previous contents of changed files (their points go once their successors are processed)."""
        sql = "SELECT doc_id FROM documents WHERE status IN (?, ?) ORDER BY doc_id"
        return [r[0] for r in self.query(sql, (PENDING, SUPERSEDED))]

    def delete_documents(self, doc_ids: Iterable[str]) -> None:
        """Forget documents and their chunks (inside a transaction)."""
        for doc_id in doc_ids:
            self._execute("DELETE FROM chunks WHERE doc_id=?", (doc_id,))
            self._execute("DELETE FROM documents WHERE doc_id=?", (doc_id,))

    def counts(self) -> dict[str, int]:
        """Documents per status plus chunk and source totals."""
        out = {r["status"]: r["n"] for r in self.query("SELECT status, COUNT(*) n FROM documents GROUP BY status")}
        out["sources"] = self.query("SELECT COUNT(*) n FROM sources")[0]["n"]
        out["chunks"] = self.query("SELECT COUNT(*) n FROM chunks")[0]["n"]
        return out

    def counts_by_stage(self) -> list[sqlite3.Row]:
        """Documents by status and the stage that set it: rows of `status`, `stage`, `n`, sorted."""
        return self.query("SELECT status, stage, COUNT(*) n FROM documents GROUP BY status, stage ORDER BY 1, 2")
