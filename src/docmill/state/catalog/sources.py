"""The `sources` table: every listed file, object, row or message, with the doc_id of its current bytes."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator

from docmill.records import SourceFile
from docmill.state.catalog.base import UNDER, CatalogBase


class Sources(CatalogBase):
    """Queries of the `sources` table."""

    def source(self, source_uri: str) -> sqlite3.Row | None:
        """The catalog row of one source, if known."""
        rows = self.query("SELECT * FROM sources WHERE source_uri=?", (source_uri,))
        return rows[0] if rows else None

    def sources_of(self, doc_id: str) -> list[sqlite3.Row]:
        """Every source that holds a document's bytes."""
        return self.query("SELECT * FROM sources WHERE doc_id=?", (doc_id,))

    def known_sources(self, source_uris: list[str]) -> dict[str, str]:
        """source_uri -> doc_id for the URIs the catalog knows."""
        sql = "SELECT source_uri, doc_id FROM sources WHERE source_uri IN ({marks})"
        return {row["source_uri"]: row["doc_id"] for row in self._in_pages(sql, source_uris)}

    def known_versions(self, source_uris: list[str]) -> dict[str, sqlite3.Row]:
        """source_uri -> its row (doc_id, version, path) for the URIs the catalog knows."""
        sql = "SELECT source_uri, doc_id, version, path FROM sources WHERE source_uri IN ({marks})"
        return {row["source_uri"]: row for row in self._in_pages(sql, source_uris)}

    def source_paths(self) -> Iterator[str]:
        """The local path of every source."""
        return (row[0] for row in self._db.execute("SELECT path FROM sources WHERE path IS NOT NULL"))

    def count_sources_under(self, prefix: str) -> int:
        """How many sources the catalog knows under a URI prefix (a folder, a connector's scope)."""
        return int(self.query(f"SELECT COUNT(*) n FROM sources WHERE {UNDER}", (len(prefix), prefix))[0]["n"])

    def source_uris_under(self, prefix: str) -> Iterator[str]:
        """The URIs of the sources under a URI prefix."""
        return (
            row[0] for row in self._db.execute(f"SELECT source_uri FROM sources WHERE {UNDER}", (len(prefix), prefix))
        )

    def upsert_source(self, item: SourceFile, run_id: str) -> None:
        """Insert or update a source row (inside a transaction)."""
        self._execute(
            "INSERT INTO sources(source_uri, doc_id, path, size, mtime, extension, first_seen_run, last_seen_run, "
            "version, metadata) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(source_uri) DO UPDATE SET "
            "doc_id=excluded.doc_id, path=excluded.path, size=excluded.size, mtime=excluded.mtime, "
            "extension=excluded.extension, last_seen_run=excluded.last_seen_run, version=excluded.version, "
            "metadata=excluded.metadata",
            (
                item.source_uri,
                item.doc_id,
                item.path,
                item.size,
                item.mtime,
                item.extension,
                run_id,
                run_id,
                item.version,
                json.dumps(item.metadata) if item.metadata else None,
            ),
        )

    def mark_seen(self, source_uri: str, run_id: str, subtree: bool = False) -> None:
        """Record a source as seen by `run_id` although it could not be read, so that it keeps its documents;
        with `subtree` (a folder that could not be listed: its URI ends in `/`) every source under it too, found
        through the primary key's range (`/` < ... < `0`), not a scan of the table."""
        self._execute("UPDATE sources SET last_seen_run=? WHERE source_uri=?", (run_id, source_uri))
        if subtree and source_uri.endswith("/"):
            upper = source_uri[:-1] + "0"  # the first string after every one that starts with the prefix
            self._execute(
                "UPDATE sources SET last_seen_run=? WHERE source_uri >= ? AND source_uri < ?",
                (run_id, source_uri, upper),
            )

    def forget_unseen_sources(self, prefix: str, run_id: str) -> list[tuple[str, str]]:
        """Delete the sources under a URI prefix that `run_id` did not see (inside a transaction). Returns their
        (source_uri, doc_id)."""
        where, args = f"last_seen_run != ? AND {UNDER}", (run_id, len(prefix), prefix)
        gone = [(r[0], r[1]) for r in self._execute(f"SELECT source_uri, doc_id FROM sources WHERE {where}", args)]
        self._execute(f"DELETE FROM sources WHERE {where}", args)
        return gone
