"""The catalog: a SQLite database under `data/` recording every source, document, chunk, run and reject.

It is the source of truth for incrementality (what changed since the last run), for the embedding cache
(vectors keyed by chunk text hash and model id) and for answering "why is this document missing".
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from docmill.records import Chunk, Reject, SourceFile
from docmill.state import schema
from docmill.state.schema import CatalogVersionError as CatalogVersionError

PENDING, EMBEDDED, QUARANTINED, DUPLICATE = "pending", "embedded", "quarantined", "duplicate"
DUPLICATE_REASONS = ("duplicate", "near_duplicate")  # rejects that make a document a duplicate of another
CONTAINER = "container"  # an archive: its members are documents of their own
SUPERSEDED = "superseded"  # a changed file's previous content: served until its successor is processed


def _text(value: str | None) -> str | None:
    """A text column's value: a file name that is not UTF-8 (bytes kept by Python as surrogates) is written
    with those bytes as `\\xNN` escapes instead of failing the insert."""
    if value is None or value.isascii():
        return value
    try:
        return value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # a surrogate that is no escaped byte
        return value.encode("utf-8", "backslashreplace").decode("utf-8")


class Catalog:
    """Thin, typed access to the catalog database. One instance per thread."""

    def __init__(self, path: Path, read_only: bool = False) -> None:
        """Open (and create) the catalog at `path`, applying the schema migrations it lacks (see `schema`).

        Args:
            path: the database file.
            read_only: open an existing catalog without writing anything, not even a migration (the dry run).

        Raises:
            CatalogVersionError: when the catalog was written by a newer docmill.
            FileNotFoundError: in read-only mode, when there is no catalog at `path`.
        """
        self.path = path
        if read_only:
            if not path.exists():
                raise FileNotFoundError(f"no catalog at {path}")
            self._db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=60)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, timeout=60, isolation_level=None, check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        try:
            if read_only:
                schema.check(self._db, path)
                return
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            schema.migrate(self._db, path)
        except BaseException:
            self._db.close()
            raise

    @property
    def connection(self) -> sqlite3.Connection:
        """The database connection, for adapters that keep their own tables here (the near-duplicate index)."""
        return self._db

    def pii_totals(self) -> dict[str, int]:
        """PII values redacted (or flagged) in the current dataset's documents, by type; never the values."""
        totals: dict[str, int] = {}
        rows = self.query(
            "SELECT json_extract(metadata, '$.pii') pii FROM chunks WHERE chunk_index = "
            "(SELECT MIN(chunk_index) FROM chunks c WHERE c.doc_id = chunks.doc_id) AND metadata LIKE '%\"pii\"%'"
        )
        for row in rows:
            for kind, n in json.loads(row["pii"] or "{}").items():
                totals[kind] = totals.get(kind, 0) + int(n)
        return dict(sorted(totals.items()))

    def quarantine_counts(self) -> dict[str, int]:
        """Current quarantine rows by `stage/reason` (documents, chunks and dropped parts alike)."""
        rows = self.query("SELECT stage || '/' || reason r, COUNT(*) n FROM quarantine GROUP BY r ORDER BY r")
        return {row["r"]: row["n"] for row in rows}

    def close(self) -> None:
        """Close the connection."""
        self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One atomic write: everything inside commits together or not at all."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def query(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        """Run a read query."""
        return list(self._db.execute(sql, tuple(params)))

    # runs ---------------------------------------------------------------------------------------------
    def start_run(self, run_id: str, config_hash: str, code_version: str) -> None:
        """Record a run as started (idempotent for a retried flow run)."""
        with self.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO runs(run_id, started_at, status, config_hash, code_version) "
                "VALUES (?, ?, 'running', ?, ?)",
                (run_id, time.time(), config_hash, code_version),
            )

    def finish_run(self, run_id: str, status: str, summary: dict[str, Any]) -> None:
        """Record the end of a run with its summary."""
        with self.transaction() as db:
            db.execute(
                "UPDATE runs SET finished_at=?, status=?, summary=? WHERE run_id=?",
                (time.time(), status, json.dumps(summary, default=str), run_id),
            )

    def mark_crashed(self, except_run: str, error: Callable[[str], str]) -> list[str]:
        """Record every run still `running` other than `except_run` as `crashed`, its summary's error being
        `error(run_id)` (call it holding the data folder's run lock: then no such run is alive). Returns their ids."""
        with self.transaction() as db:
            running = db.execute("SELECT run_id FROM runs WHERE status='running' AND run_id != ?", (except_run,))
            ids = [r[0] for r in running]
            for run_id in ids:
                db.execute(
                    "UPDATE runs SET finished_at=?, status='crashed', summary=? WHERE run_id=?",
                    (time.time(), json.dumps({"error": error(run_id)}), run_id),
                )
        return ids

    def run_totals(self) -> dict[str, Any]:
        """Runs by status, and chunks embedded by all completed runs (from their summaries)."""
        runs = {r["status"]: r["n"] for r in self.query("SELECT status, COUNT(*) n FROM runs GROUP BY status")}
        embedded = self.query(
            "SELECT COALESCE(SUM(json_extract(summary, '$.chunks_embedded')), 0) n FROM runs WHERE status='completed'"
        )[0]["n"]
        return {"runs": runs, "chunks_embedded": int(embedded)}

    def last_runs(self, limit: int = 5) -> list[sqlite3.Row]:
        """Most recent runs first."""
        return self.query("SELECT * FROM runs ORDER BY started_at DESC LIMIT ?", (limit,))

    # sources and documents ---------------------------------------------------------------------------
    def source(self, source_uri: str) -> sqlite3.Row | None:
        """The catalog row of one source, if known."""
        rows = self.query("SELECT * FROM sources WHERE source_uri=?", (source_uri,))
        return rows[0] if rows else None

    def known_sources(self, source_uris: list[str]) -> dict[str, str]:
        """source_uri -> doc_id for the URIs the catalog knows (one query per 500 URIs)."""
        known: dict[str, str] = {}
        for start in range(0, len(source_uris), 500):
            part = source_uris[start : start + 500]
            marks = ",".join("?" * len(part))
            rows = self.query(f"SELECT source_uri, doc_id FROM sources WHERE source_uri IN ({marks})", part)
            known.update({row["source_uri"]: row["doc_id"] for row in rows})
        return known

    def known_versions(self, source_uris: list[str]) -> dict[str, sqlite3.Row]:
        """source_uri -> its row (doc_id, version, path) for the URIs the catalog knows."""
        known: dict[str, sqlite3.Row] = {}
        for start in range(0, len(source_uris), 500):
            part = source_uris[start : start + 500]
            marks = ",".join("?" * len(part))
            sql = f"SELECT source_uri, doc_id, version, path FROM sources WHERE source_uri IN ({marks})"
            known.update({row["source_uri"]: row for row in self.query(sql, part)})
        return known

    def source_paths(self) -> Iterator[str]:
        """The local path of every source."""
        return (row[0] for row in self._db.execute("SELECT path FROM sources WHERE path IS NOT NULL"))

    def document(self, doc_id: str) -> sqlite3.Row | None:
        """The catalog row of one document, if known."""
        rows = self.query("SELECT * FROM documents WHERE doc_id=?", (doc_id,))
        return rows[0] if rows else None

    def upsert_source(self, db: sqlite3.Connection, item: SourceFile, run_id: str) -> None:
        """Insert or update a source row (inside a transaction)."""
        db.execute(
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

    def update_chunk_metadata(self, db: sqlite3.Connection, doc_id: str, values: dict[str, Any]) -> None:
        """Merge `values` into the stored metadata of every chunk of a document (None removes a key)."""
        for row in db.execute("SELECT chunk_id, metadata FROM chunks WHERE doc_id=?", (doc_id,)).fetchall():
            meta = {**json.loads(row["metadata"] or "{}"), **values}
            meta = {k: v for k, v in meta.items() if v is not None}
            db.execute("UPDATE chunks SET metadata=? WHERE chunk_id=?", (json.dumps(meta), row["chunk_id"]))

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

    def set_status(
        self, db: sqlite3.Connection, doc_id: str, status: str, stage: str, run_id: str, **cols: Any
    ) -> None:
        """Set a document's status and any extra columns (inside a transaction)."""
        sets = ", ".join(f"{name}=?" for name in cols)
        extra = (", " + sets) if sets else ""
        db.execute(
            f"UPDATE documents SET status=?, stage=?, run_id=?, updated_at=?{extra} WHERE doc_id=?",
            (status, stage, run_id, time.time(), *cols.values(), doc_id),
        )

    def canonical_for_text(self, text_hash: str) -> str | None:
        """The doc_id of an already processed document with the same normalised text, if any."""
        rows = self.query(
            "SELECT doc_id FROM documents WHERE text_hash=? AND status=? ORDER BY doc_id LIMIT 1",
            (text_hash, EMBEDDED),
        )
        return rows[0]["doc_id"] if rows else None

    def requeue_duplicates_of(self, db: sqlite3.Connection, doc_ids: Iterable[str]) -> int:
        """Queue again the duplicates of documents that go or end quarantined (inside a transaction): they may
        now hold the only copy of the text. Returns how many were queued."""
        return sum(
            db.execute(
                "UPDATE documents SET status=?, stage='ingest', duplicate_of=NULL WHERE status=? AND duplicate_of=?",
                (PENDING, DUPLICATE, doc_id),
            ).rowcount
            for doc_id in doc_ids
        )

    # quarantine --------------------------------------------------------------------------------------
    def add_rejects(self, db: sqlite3.Connection, rejects: Iterable[Reject], run_id: str) -> None:
        """Append reject rows (inside a transaction)."""
        now = time.time()
        db.executemany(
            "INSERT INTO quarantine(run_id, doc_id, source_uri, chunk_id, part, stage, reason, message, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    run_id,
                    r.doc_id,
                    _text(r.source_uri),
                    r.chunk_id,
                    _text(r.part),
                    r.stage,
                    r.reason,
                    _text(r.message),
                    now,
                )
                for r in rejects
            ],
        )

    def clear_rejects(self, db: sqlite3.Connection, doc_ids: Iterable[str]) -> None:
        """Forget earlier rejects of documents that are being processed again."""
        db.executemany("DELETE FROM quarantine WHERE doc_id=?", [(d,) for d in doc_ids])

    def quarantine(self, stage: str | None = None, reason: str | None = None) -> list[sqlite3.Row]:
        """Current reject rows, optionally filtered by stage and reason prefix."""
        sql, params = "SELECT * FROM quarantine WHERE 1=1", list[str]()
        if stage:
            sql, params = sql + " AND stage=?", [*params, stage]
        if reason:
            sql, params = sql + " AND reason LIKE ?", [*params, reason + "%"]
        return self.query(sql + " ORDER BY stage, reason, source_uri", params)

    # chunks ------------------------------------------------------------------------------------------
    def cached_vectors(self, text_hashes: list[str], model_key: str) -> dict[str, np.ndarray]:
        """Vectors already computed for these chunk texts with this model (the embedding cache, which outlives
        the documents that produced them; see `prune_embeddings`)."""
        found: dict[str, np.ndarray] = {}
        for start in range(0, len(text_hashes), 500):
            part = text_hashes[start : start + 500]
            marks = ",".join("?" * len(part))
            for row in self.query(
                f"SELECT text_hash, vector FROM embeddings WHERE model_key=? AND text_hash IN ({marks})",
                (model_key, *part),
            ):
                found[row["text_hash"]] = np.frombuffer(row["vector"], dtype=np.float32)
        return found

    def replace_chunks(
        self, db: sqlite3.Connection, doc_id: str, chunks: list[Chunk], model_key: str, run_id: str
    ) -> None:
        """Make `chunks` the only chunks of `doc_id` (inside a transaction)."""
        db.execute("DELETE FROM chunks WHERE doc_id=?", (doc_id,))
        db.executemany(
            "INSERT INTO chunks VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    c.chunk_id,
                    c.doc_id,
                    c.index,
                    c.text,
                    c.text_hash,
                    c.token_count,
                    c.char_start,
                    c.char_end,
                    c.page_start,
                    c.page_end,
                    json.dumps(c.metadata, sort_keys=True, default=str),
                    model_key,
                    np.asarray(c.vector, dtype=np.float32).tobytes(),
                    c.point_id,
                    run_id,
                )
                for c in chunks
            ],
        )
        db.executemany(
            "INSERT OR REPLACE INTO embeddings(text_hash, model_key, vector, last_run) VALUES (?, ?, ?, ?)",
            [(c.text_hash, model_key, np.asarray(c.vector, dtype=np.float32).tobytes(), run_id) for c in chunks],
        )

    def point_ids(self, doc_ids: Iterable[str]) -> dict[str, list[str]]:
        """The Qdrant point ids of these documents' current chunks (doc_id -> ids)."""
        out: dict[str, list[str]] = {}
        ids = list(doc_ids)
        for start in range(0, len(ids), 500):
            part = ids[start : start + 500]
            for row in self.query(
                f"SELECT doc_id, point_id FROM chunks WHERE doc_id IN ({','.join('?' * len(part))})", part
            ):
                out.setdefault(row["doc_id"], []).append(row["point_id"])
        return out

    def all_point_ids(self) -> set[str]:
        """Every current chunk's point id."""
        return {row[0] for row in self.connection.execute("SELECT point_id FROM chunks")}

    def prune_embeddings(self, keep_runs: int) -> int:
        """Drop cached vectors no chunk uses that were last used before the `keep_runs` most recent runs."""
        recent = [
            r["run_id"] for r in self.query("SELECT run_id FROM runs ORDER BY started_at DESC LIMIT ?", (keep_runs,))
        ]
        marks = ",".join("?" * len(recent)) or "NULL"
        with self.transaction() as db:
            return db.execute(
                "DELETE FROM embeddings WHERE NOT EXISTS (SELECT 1 FROM chunks c WHERE c.text_hash = "
                "embeddings.text_hash AND c.model_key = embeddings.model_key) "
                f"AND (last_run IS NULL OR last_run NOT IN ({marks}))",
                recent,
            ).rowcount

    def iter_chunks(self, page: int = 2000) -> Iterator[list[sqlite3.Row]]:
        """All current chunks in (doc_id, chunk_index) order, page by page (bounded memory)."""
        last = ("", -1)
        while True:
            rows = self.query(
                "SELECT * FROM chunks WHERE (doc_id, chunk_index) > (?, ?) ORDER BY doc_id, chunk_index LIMIT ?",
                (*last, page),
            )
            if not rows:
                return
            yield rows
            last = (rows[-1]["doc_id"], rows[-1]["chunk_index"])

    def counts(self) -> dict[str, int]:
        """Documents per status plus chunk and source totals."""
        out = {r["status"]: r["n"] for r in self.query("SELECT status, COUNT(*) n FROM documents GROUP BY status")}
        out["sources"] = self.query("SELECT COUNT(*) n FROM sources")[0]["n"]
        out["chunks"] = self.query("SELECT COUNT(*) n FROM chunks")[0]["n"]
        return out
