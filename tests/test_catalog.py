"""Catalog: numbered schema migrations (catalogs written before them, newer ones refused, read-only mode),
migration of catalogs written before quarantine parts, part rejects, dataset-level PII totals."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from docmill.records import Reject
from docmill.state import ledger
from docmill.state.catalog import Catalog, CatalogVersionError, schema

# The schema the code wrote before migrations were numbered (user_version 0), and what it added on open.
_UNNUMBERED = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY, started_at REAL, finished_at REAL, status TEXT,
    config_hash TEXT, code_version TEXT, summary TEXT);
CREATE TABLE IF NOT EXISTS sources (
    source_uri TEXT PRIMARY KEY, doc_id TEXT NOT NULL, path TEXT, size INTEGER, mtime REAL,
    extension TEXT, first_seen_run TEXT, last_seen_run TEXT);
CREATE INDEX IF NOT EXISTS sources_doc ON sources(doc_id);
CREATE TABLE IF NOT EXISTS documents (
    doc_id TEXT PRIMARY KEY, source_uri TEXT, status TEXT NOT NULL, stage TEXT, file_type TEXT,
    title TEXT, text_hash TEXT, duplicate_of TEXT, n_chunks INTEGER DEFAULT 0, run_id TEXT, updated_at REAL,
    superseded_by TEXT, config_key TEXT);
CREATE INDEX IF NOT EXISTS documents_status ON documents(status, source_uri);
CREATE INDEX IF NOT EXISTS documents_text ON documents(text_hash);
CREATE TABLE IF NOT EXISTS chunks (
    chunk_id TEXT PRIMARY KEY, doc_id TEXT NOT NULL, chunk_index INTEGER, text TEXT, text_hash TEXT,
    token_count INTEGER, char_start INTEGER, char_end INTEGER, page_start INTEGER, page_end INTEGER,
    metadata TEXT, model_key TEXT, vector BLOB, point_id TEXT, run_id TEXT);
CREATE INDEX IF NOT EXISTS chunks_doc ON chunks(doc_id);
CREATE INDEX IF NOT EXISTS chunks_cache ON chunks(text_hash, model_key);
CREATE TABLE IF NOT EXISTS embeddings (
    text_hash TEXT NOT NULL, model_key TEXT NOT NULL, vector BLOB NOT NULL, last_run TEXT,
    PRIMARY KEY (text_hash, model_key));
CREATE TABLE IF NOT EXISTS quarantine (
    id INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT, doc_id TEXT, source_uri TEXT, chunk_id TEXT,
    stage TEXT, reason TEXT, message TEXT, created_at REAL, part TEXT);
CREATE INDEX IF NOT EXISTS quarantine_doc ON quarantine(doc_id);
ALTER TABLE sources ADD COLUMN version TEXT;
ALTER TABLE sources ADD COLUMN metadata TEXT;
"""

# An older layout still: chunks held the only copy of their vectors, no superseded, settings, versions or parts.
_OLDEST = """
CREATE TABLE sources (source_uri TEXT PRIMARY KEY, doc_id TEXT NOT NULL, path TEXT, size INTEGER, mtime REAL,
    extension TEXT, first_seen_run TEXT, last_seen_run TEXT);
CREATE TABLE documents (doc_id TEXT PRIMARY KEY, source_uri TEXT, status TEXT NOT NULL, stage TEXT, file_type TEXT,
    title TEXT, text_hash TEXT, duplicate_of TEXT, n_chunks INTEGER DEFAULT 0, run_id TEXT, updated_at REAL);
CREATE TABLE chunks (chunk_id TEXT PRIMARY KEY, doc_id TEXT NOT NULL, chunk_index INTEGER, text TEXT, text_hash TEXT,
    token_count INTEGER, char_start INTEGER, char_end INTEGER, page_start INTEGER, page_end INTEGER,
    metadata TEXT, model_key TEXT, vector BLOB, point_id TEXT, run_id TEXT);
"""


def _old_catalog(path: Path, script: str) -> None:
    """A catalog as an earlier docmill left it: one source, its embedded document and chunk with a vector."""
    db = sqlite3.connect(path)
    db.executescript(script)
    db.execute("INSERT INTO sources(source_uri, doc_id, path) VALUES ('file:///a.txt', 'a', '/a.txt')")
    db.execute("INSERT INTO documents(doc_id, source_uri, status) VALUES ('a', 'file:///a.txt', 'embedded')")
    vector = np.ones(4, dtype=np.float32).tobytes()
    db.execute(
        "INSERT INTO chunks(chunk_id, doc_id, chunk_index, text, text_hash, model_key, vector, run_id) "
        "VALUES ('c', 'a', 0, 'text', 'h', 'm@1', ?, 'r0')",
        (vector,),
    )
    if "embeddings" in script:  # written with the chunk since the cache has a table of its own
        db.execute("INSERT INTO embeddings VALUES ('h', 'm@1', ?, 'r0')", (vector,))
    db.commit()
    db.close()


def _layout(path: Path) -> dict[str, list[tuple[str, str]]]:
    """Every table's columns (name, type) in order, and the catalog's schema version."""
    db = sqlite3.connect(path)
    tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")]
    layout = {t: [(c[1], c[2]) for c in db.execute(f"PRAGMA table_info({t})")] for t in tables}
    layout["user_version"] = [("", str(db.execute("PRAGMA user_version").fetchone()[0]))]
    db.close()
    return layout


def test_a_new_catalog_has_the_latest_schema_version(tmp_path: Path) -> None:
    Catalog(tmp_path / "catalog.sqlite").close()
    layout = _layout(tmp_path / "catalog.sqlite")
    assert layout["user_version"] == [("", str(schema.VERSION))] and len(schema.MIGRATIONS) == schema.VERSION
    assert [c for c, _ in layout["sources"]][-2:] == ["version", "metadata"]
    assert [c for c, _ in layout["documents"]][-2:] == ["superseded_by", "config_key"]
    assert [c for c, _ in layout["quarantine"]][-2:] == ["part", "duplicate_of"] and "embeddings" in layout
    Catalog(tmp_path / "catalog.sqlite").close()  # opening again applies nothing
    assert _layout(tmp_path / "catalog.sqlite") == layout


@pytest.mark.parametrize("script", [_UNNUMBERED, _OLDEST], ids=["unnumbered", "oldest"])
def test_a_catalog_from_before_numbered_migrations_is_migrated_and_keeps_its_rows(tmp_path: Path, script: str) -> None:
    """Version 0 with some or all of the changes already made (by the old checks on open): the same layout as a
    new catalog, the rows kept, the chunks' vectors in the embedding cache."""
    Catalog(tmp_path / "new.sqlite").close()
    path = tmp_path / "catalog.sqlite"
    _old_catalog(path, script)
    catalog = Catalog(path)
    assert _layout(path) == _layout(tmp_path / "new.sqlite")
    assert catalog.document("a")["status"] == "embedded" and catalog.source("file:///a.txt")["version"] is None
    assert list(catalog.cached_vectors(["h"], "m@1")["h"]) == [1.0] * 4
    with catalog.transaction():
        catalog.add_rejects([Reject("clean", "too_short", "3 characters", "b", part="page 1")], "r1")
        ledger.superseded(catalog, "a", "b")
    assert [r["part"] for r in catalog.quarantine()] == ["page 1"]
    assert catalog.document("a")["superseded_by"] == "b"
    catalog.close()


def test_a_catalog_written_by_a_newer_docmill_is_refused_and_left_as_it_is(tmp_path: Path) -> None:
    path = tmp_path / "catalog.sqlite"
    Catalog(path).close()
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {schema.VERSION + 1}")
    db.close()
    before = _layout(path)
    for read_only in (False, True):
        with pytest.raises(CatalogVersionError, match=f"schema version {schema.VERSION + 1}.*newer docmill"):
            Catalog(path, read_only=read_only)
    assert _layout(path) == before


def test_read_only_mode_reads_and_never_writes(tmp_path: Path) -> None:
    path = tmp_path / "catalog.sqlite"
    with pytest.raises(FileNotFoundError):
        Catalog(path, read_only=True)
    assert not path.exists()
    _old_catalog(path, _UNNUMBERED)
    catalog = Catalog(path, read_only=True)
    assert catalog.known_versions(["file:///a.txt"])["file:///a.txt"]["doc_id"] == "a"
    with pytest.raises(sqlite3.OperationalError, match="readonly"), catalog.transaction():
        catalog.clear_rejects(["a"])
    catalog.close()
    assert _layout(path)["user_version"] == [("", "0")], "a read-only open migrates nothing"


def test_an_older_catalog_gains_the_part_column_and_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "catalog.sqlite"
    old = sqlite3.connect(path)
    old.execute(
        "CREATE TABLE quarantine (id INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT, doc_id TEXT, source_uri TEXT, "
        "chunk_id TEXT, stage TEXT, reason TEXT, message TEXT, created_at REAL)"
    )
    old.execute("INSERT INTO quarantine(doc_id, stage, reason, message) VALUES ('d', 'extract', 'timeout', 'slow')")
    old.commit()
    old.close()
    catalog = Catalog(path)
    with catalog.transaction():
        page = Reject("clean", "quality.damaged_char_share", "page 2 dropped", "e", "file:///e.pdf", part="page 2")
        catalog.add_rejects([page], "run-1")
    rows = {r["doc_id"]: dict(r) for r in catalog.quarantine()}
    assert rows["d"]["part"] is None and rows["e"]["part"] == "page 2"
    assert catalog.quarantine_counts() == {"clean/quality.damaged_char_share": 1, "extract/timeout": 1}
    assert not page.whole_document and Reject("clean", "too_short", "", "e").whole_document


def test_pii_totals_count_each_document_once(tmp_path: Path) -> None:
    catalog = Catalog(tmp_path / "catalog.sqlite")
    with catalog.transaction():
        for doc, index, pii in [("a", 0, {"email": 2}), ("a", 1, {"email": 2}), ("b", 3, {"email": 1, "iban": 4})]:
            catalog._execute(
                "INSERT INTO chunks(chunk_id, doc_id, chunk_index, text, metadata) VALUES (?, ?, ?, '', ?)",
                (f"{doc}{index}", doc, index, json.dumps({"pii": pii})),
            )
        catalog._execute(
            "INSERT INTO chunks(chunk_id, doc_id, chunk_index, text, metadata) VALUES ('c0', 'c', 0, '', '{}')"
        )
    assert catalog.pii_totals() == {"email": 3, "iban": 4}


def test_lookups_by_many_keys_are_paged_under_the_parameter_limit(tmp_path: Path) -> None:
    """1,200 URIs and doc ids: three pages of 500 each, every row found once."""
    catalog = Catalog(tmp_path / "catalog.sqlite")
    uris = [f"file:///f{n:04}.txt" for n in range(1200)]
    with catalog.transaction():
        catalog._execute_many(
            "INSERT INTO sources(source_uri, doc_id, version) VALUES (?, ?, 'v1')", [(u, u[-8:-4]) for u in uris]
        )
        catalog._execute_many(
            "INSERT INTO chunks(chunk_id, doc_id, point_id) VALUES (?, ?, ?)", [(u, u[-8:-4], u) for u in uris]
        )
    assert catalog.known_sources(uris) == {u: u[-8:-4] for u in uris}
    assert len(catalog.known_versions([*uris, "file:///unknown"])) == 1200
    assert sum(map(len, catalog.point_ids(u[-8:-4] for u in uris).values())) == 1200
    assert (
        catalog.count_sources_under("file:///f1") == 200 and len(list(catalog.source_uris_under("file:///f00"))) == 100
    )


def test_quarantine_breakdown_tells_whole_documents_from_pieces(tmp_path: Path) -> None:
    catalog = Catalog(tmp_path / "catalog.sqlite")
    with catalog.transaction():
        catalog.add_rejects(
            [
                Reject("extract", "timeout", "slow", "a"),
                Reject("chunk", "too_long", "over the limit", "b", chunk_id="b1"),
                Reject("chunk", "too_long", "over the limit", "c"),
                Reject("clean", "quality.damaged_char_share", "page 2 dropped", "d", part="page 2"),
            ],
            "r1",
        )
    assert catalog.quarantine_breakdown() == {
        "chunk/too_long": {"documents": 1, "pieces": 1},
        "clean/quality.damaged_char_share": {"documents": 0, "pieces": 1},
        "extract/timeout": {"documents": 1, "pieces": 0},
    }
    assert catalog.quarantine_counts() == {
        "chunk/too_long": 2,
        "clean/quality.damaged_char_share": 1,
        "extract/timeout": 1,
    }


def test_a_write_outside_a_transaction_raises_and_the_connection_is_never_handed_out(tmp_path: Path) -> None:
    """Every write method runs inside `transaction()`: outside one it would commit on its own, half a change."""
    catalog = Catalog(tmp_path / "catalog.sqlite")
    with pytest.raises(RuntimeError, match="outside a transaction"):
        catalog.add_rejects([Reject("clean", "too_short", "3 characters", "b")], "r1")
    with catalog.transaction() as handed_out:
        assert handed_out is None
        catalog.add_rejects([Reject("clean", "too_short", "3 characters", "b")], "r1")
    assert [r["doc_id"] for r in catalog.quarantine()] == ["b"]
    catalog.close()
