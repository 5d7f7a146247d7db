"""Dry run: what would the next run process? Lists and hashes the sources, compares with the catalog read-only.

Nothing is written: the catalog is opened read-only (and not created when missing), Qdrant, DVC and the audit
trail are not touched, no run lock is taken. Archives are counted as files; their members are not expanded.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from itertools import islice
from pathlib import Path
from typing import Any

from docmill.quarantine import REPLAYABLE
from docmill.settings import Settings
from docmill.sources.folder import FolderSource, sha256_file
from docmill.stages import ingest

LISTED_ROWS = 500  # files named in the plan; the counts cover all of them


def _catalog_ro(path: Path) -> sqlite3.Connection | None:
    if not path.exists():
        return None
    db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=60)
    db.row_factory = sqlite3.Row
    return db


def _known(db: sqlite3.Connection | None, uris: list[str]) -> dict[str, str]:
    if db is None or not uris:
        return {}
    marks = ",".join("?" * len(uris))
    rows = db.execute(f"SELECT source_uri, doc_id FROM sources WHERE source_uri IN ({marks})", uris)
    return {r["source_uri"]: r["doc_id"] for r in rows}


def _uri_prefix(root: Path) -> str:
    return root.resolve().as_uri().rstrip("/") + "/"


def plan(settings: Settings, reprocess_quarantined: bool = False) -> dict[str, Any]:
    """Counts and a listing of what a run with `settings` would do, without doing it.

    Returns:
        `counts` (listed, new, changed, unchanged, unreadable, deleted, pending, quarantined_to_reprocess) and
        `files` (up to LISTED_ROWS rows of source_uri and change for new and changed files).

    Raises:
        FileNotFoundError: when a source folder does not exist (as a real run would).
    """
    cfg = settings.ingest
    db = _catalog_ro(settings.paths.catalog)
    counts: Counter[str] = Counter()
    files: list[dict[str, str]] = []
    seen: set[str] = set()
    try:
        for root in cfg.sources:
            listing = FolderSource(root, cfg.include, cfg.exclude).list()
            while items := list(islice(listing, 1000)):
                known = _known(db, [i.source_uri for i in items])
                result = ingest.ingest(items, known.get, sha256_file)
                counts.update({k: int(v) for k, v in result.stats.items()})
                counts["unreadable"] += len(result.rejects)
                seen.update(i.source_uri for i in items)
                for source, change in result.records:
                    if change != ingest.UNCHANGED and len(files) < LISTED_ROWS:
                        files.append({"source_uri": source.source_uri, "change": change})
        counts.update(_catalog_counts(db, cfg.sources, seen, reprocess_quarantined))
    finally:
        if db is not None:
            db.close()
    return {"counts": dict(counts), "files": files}


def _catalog_counts(
    db: sqlite3.Connection | None, roots: list[Path], seen: set[str], reprocess_quarantined: bool
) -> dict[str, int]:
    """Sources the catalog knows under `roots` that the listing no longer shows; documents already pending;
    quarantined documents a `reprocess_quarantined` run would queue."""
    if db is None:
        return {"deleted": 0, "pending": 0, "quarantined_to_reprocess": 0}
    deleted = 0
    for prefix in map(_uri_prefix, roots):
        rows = db.execute("SELECT source_uri FROM sources WHERE substr(source_uri, 1, ?) = ?", (len(prefix), prefix))
        deleted += sum(1 for r in rows if r["source_uri"] not in seen)
    pending = db.execute("SELECT COUNT(*) FROM documents WHERE status='pending'").fetchone()[0]
    quarantined = 0
    if reprocess_quarantined:
        marks = ",".join("?" * len(REPLAYABLE))
        quarantined = db.execute(
            "SELECT COUNT(DISTINCT q.doc_id) FROM quarantine q JOIN documents d ON d.doc_id = q.doc_id "
            f"WHERE d.status IN ({marks}) AND EXISTS (SELECT 1 FROM sources s WHERE s.doc_id=d.doc_id)",
            REPLAYABLE,
        ).fetchone()[0]
    return {"deleted": deleted, "pending": int(pending), "quarantined_to_reprocess": int(quarantined)}
