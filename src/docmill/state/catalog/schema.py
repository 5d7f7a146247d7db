"""The catalog's schema: numbered migrations, applied in order and recorded in `PRAGMA user_version`.

A catalog's `user_version` is the number of migrations applied to it. Opening a catalog applies the ones it
lacks in one transaction; a catalog whose version is higher than the code knows (written by a newer docmill)
is refused, never altered. To change the schema, append a migration: never edit one that has shipped.

Catalogs written before migrations were numbered have version 0 but may already hold any of the changes of
migrations 1-6 (they were applied by checks on open): those migrations tolerate finding their change made.

The near-duplicate index's `neardup_*` tables are not migrations: `neardup.NearDupIndex` creates them when it
is opened (on the catalog or on any connection) and empties them when its parameters change.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

_BASE = (
    "CREATE TABLE IF NOT EXISTS runs (run_id TEXT PRIMARY KEY, started_at REAL, finished_at REAL, status TEXT, "
    "config_hash TEXT, code_version TEXT, summary TEXT)",
    "CREATE TABLE IF NOT EXISTS sources (source_uri TEXT PRIMARY KEY, doc_id TEXT NOT NULL, path TEXT, size INTEGER, "
    "mtime REAL, extension TEXT, first_seen_run TEXT, last_seen_run TEXT)",
    "CREATE INDEX IF NOT EXISTS sources_doc ON sources(doc_id)",
    "CREATE TABLE IF NOT EXISTS documents (doc_id TEXT PRIMARY KEY, source_uri TEXT, status TEXT NOT NULL, "
    "stage TEXT, file_type TEXT, title TEXT, text_hash TEXT, duplicate_of TEXT, n_chunks INTEGER DEFAULT 0, "
    "run_id TEXT, updated_at REAL)",
    "CREATE INDEX IF NOT EXISTS documents_status ON documents(status, source_uri)",
    "CREATE INDEX IF NOT EXISTS documents_text ON documents(text_hash)",
    "CREATE TABLE IF NOT EXISTS chunks (chunk_id TEXT PRIMARY KEY, doc_id TEXT NOT NULL, chunk_index INTEGER, "
    "text TEXT, text_hash TEXT, token_count INTEGER, char_start INTEGER, char_end INTEGER, page_start INTEGER, "
    "page_end INTEGER, metadata TEXT, model_key TEXT, vector BLOB, point_id TEXT, run_id TEXT)",
    "CREATE INDEX IF NOT EXISTS chunks_doc ON chunks(doc_id)",
    "CREATE INDEX IF NOT EXISTS chunks_cache ON chunks(text_hash, model_key)",
    "CREATE TABLE IF NOT EXISTS quarantine (id INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT, doc_id TEXT, "
    "source_uri TEXT, chunk_id TEXT, stage TEXT, reason TEXT, message TEXT, created_at REAL)",
    "CREATE INDEX IF NOT EXISTS quarantine_doc ON quarantine(doc_id)",
)


class CatalogVersionError(RuntimeError):
    """The catalog was written by a newer docmill (its schema version is unknown to this code)."""


def _base(db: sqlite3.Connection) -> None:
    """1: runs, sources, documents, chunks (with their vectors) and the quarantine."""
    for statement in _BASE:
        db.execute(statement)


def _embedding_cache(db: sqlite3.Connection) -> None:
    """2: the embedding cache as a table of its own (it outlives the chunks), seeded with the chunks' vectors."""
    if _exists(db, "embeddings"):
        return
    db.execute(
        "CREATE TABLE embeddings (text_hash TEXT NOT NULL, model_key TEXT NOT NULL, vector BLOB NOT NULL, "
        "last_run TEXT, PRIMARY KEY (text_hash, model_key))"
    )
    db.execute(
        "INSERT OR IGNORE INTO embeddings SELECT text_hash, model_key, vector, run_id FROM chunks "
        "WHERE vector IS NOT NULL AND model_key IS NOT NULL"
    )


def _superseded_by(db: sqlite3.Connection) -> None:
    """3: a changed file's previous content names the document that replaces it."""
    _add_column(db, "documents", "superseded_by")


def _config_key(db: sqlite3.Connection) -> None:
    """4: the settings a document was processed with (new settings reprocess it)."""
    _add_column(db, "documents", "config_key")


def _source_version(db: sqlite3.Connection) -> None:
    """5: connectors' change markers (etag, row version) and source metadata."""
    _add_column(db, "sources", "version")
    _add_column(db, "sources", "metadata")


def _quarantine_part(db: sqlite3.Connection) -> None:
    """6: rejects of a part of a document that goes on (`page 3`)."""
    _add_column(db, "quarantine", "part")


def _quarantine_duplicate_of(db: sqlite3.Connection) -> None:
    """7: a duplicate reject's canonical document (`semantic_duplicate` chunks: requeued when it goes)."""
    _add_column(db, "quarantine", "duplicate_of")


MIGRATIONS: tuple[Callable[[sqlite3.Connection], None], ...] = (
    _base,
    _embedding_cache,
    _superseded_by,
    _config_key,
    _source_version,
    _quarantine_part,
    _quarantine_duplicate_of,
)
VERSION = len(MIGRATIONS)  # the schema version this code writes


def version(db: sqlite3.Connection) -> int:
    """The catalog's schema version (0: new, or written before migrations were numbered)."""
    return int(db.execute("PRAGMA user_version").fetchone()[0])


def check(db: sqlite3.Connection, path: Path) -> int:
    """The catalog's schema version, if this code can read it.

    Raises:
        CatalogVersionError: when the catalog was written by a newer docmill.
    """
    found = version(db)
    if found > VERSION:
        raise CatalogVersionError(
            f"catalog {path} has schema version {found} but this docmill knows versions up to {VERSION}: it was "
            "written by a newer docmill. Run that version (or restore a backup of the catalog); nothing was changed."
        )
    return found


def migrate(db: sqlite3.Connection, path: Path) -> int:
    """Apply the migrations the catalog lacks, in order, in one transaction. Returns how many were applied.

    The version is read again once the write lock is held: of two processes opening an old catalog at once,
    the second finds it migrated.

    Raises:
        CatalogVersionError: when the catalog was written by a newer docmill.
    """
    if check(db, path) == VERSION:
        return 0
    db.execute("BEGIN IMMEDIATE")
    try:
        start = check(db, path)
        for step in MIGRATIONS[start:]:
            step(db)
        db.execute(f"PRAGMA user_version = {VERSION}")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
    return VERSION - start


def _exists(db: sqlite3.Connection, table: str) -> bool:
    return db.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (table,)).fetchone() is not None


def _add_column(db: sqlite3.Connection, table: str, column: str) -> None:
    """Add a TEXT column unless an unnumbered catalog already has it."""
    if column not in {row[1] for row in db.execute(f"PRAGMA table_info({table})")}:
        db.execute(f"ALTER TABLE {table} ADD COLUMN {column} TEXT")
