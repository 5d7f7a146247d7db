"""Catalog: migration of catalogs written before quarantine parts, part rejects, dataset-level PII totals."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from docmill.records import Reject
from docmill.state.catalog import Catalog


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
    with catalog.transaction() as db:
        page = Reject("clean", "quality.damaged_char_share", "page 2 dropped", "e", "file:///e.pdf", part="page 2")
        catalog.add_rejects(db, [page], "run-1")
    rows = {r["doc_id"]: dict(r) for r in catalog.quarantine()}
    assert rows["d"]["part"] is None and rows["e"]["part"] == "page 2"
    assert catalog.quarantine_counts() == {"clean/quality.damaged_char_share": 1, "extract/timeout": 1}
    assert not page.whole_document and Reject("clean", "too_short", "", "e").whole_document


def test_pii_totals_count_each_document_once(tmp_path: Path) -> None:
    catalog = Catalog(tmp_path / "catalog.sqlite")
    with catalog.transaction() as db:
        for doc, index, pii in [("a", 0, {"email": 2}), ("a", 1, {"email": 2}), ("b", 3, {"email": 1, "iban": 4})]:
            db.execute(
                "INSERT INTO chunks(chunk_id, doc_id, chunk_index, text, metadata) VALUES (?, ?, ?, '', ?)",
                (f"{doc}{index}", doc, index, json.dumps({"pii": pii})),
            )
        db.execute("INSERT INTO chunks(chunk_id, doc_id, chunk_index, text, metadata) VALUES ('c0', 'c', 0, '', '{}')")
    assert catalog.pii_totals() == {"email": 3, "iban": 4}
