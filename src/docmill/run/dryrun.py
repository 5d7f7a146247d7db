"""Dry run: what would the next run process? Lists the sources (hashing local files, comparing remote items'
version markers), compares with the catalog read-only.

Nothing is written: the catalog is opened read-only (and not created when missing), Qdrant, DVC and the audit
trail are not touched, no run lock is taken. Archives are counted as files; their members are not expanded.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from pathlib import Path
from typing import Any

from docmill.config.settings import Settings
from docmill.records import FileItem, Reject, StageResult
from docmill.sources import registry, staging
from docmill.sources.base import Connector, ItemError, scope_prefix
from docmill.sources.folder import FolderSource, sha256_file
from docmill.stages import ingest
from docmill.state.catalog import PENDING, Catalog
from docmill.state.quarantine import REPLAYABLE

LISTED_ROWS = 500  # files named in the plan; the counts cover all of them


def _catalog_ro(path: Path) -> Catalog | None:
    """The catalog, read-only; None when there is none yet."""
    return Catalog(path, read_only=True) if path.exists() else None


def _known(catalog: Catalog | None, uris: list[str]) -> dict[str, sqlite3.Row]:
    return catalog.known_versions(uris) if catalog is not None and uris else {}


def _classify(connector: Connector, items: list[FileItem], known: dict[str, sqlite3.Row]) -> StageResult[Any]:
    """Local items are hashed (as ingest does); remote items are judged by their version marker (etag, row
    version) against the catalog, without fetching them."""
    if isinstance(connector, FolderSource):  # read as a run reads: no link followed, never a FIFO
        digests: dict[str, str] = {}
        refused: list[Reject] = []
        for item in items:
            try:
                digests[item.path] = staging.hash_listed(connector, item)
            except ItemError as exc:
                refused.append(Reject("ingest", exc.reason, exc.message, source_uri=item.source_uri))
        readable = [item for item in items if item.path in digests]
        hashed: StageResult[Any] = ingest.ingest(
            readable, lambda uri: known[uri]["doc_id"] if uri in known else None, digests.__getitem__
        )
        hashed.rejects += refused
        hashed.stats["listed"] = len(items)
        return hashed
    if connector.local:
        return ingest.ingest(items, lambda uri: known[uri]["doc_id"] if uri in known else None, sha256_file)
    result: StageResult[Any] = StageResult(records=[])
    counts = {ingest.NEW: 0, ingest.CHANGED: 0, ingest.UNCHANGED: 0}
    for item in items:
        row = known.get(item.source_uri)
        change = ingest.NEW if row is None else ingest.UNCHANGED if row["version"] == item.version else ingest.CHANGED
        counts[change] += 1
        result.records.append((item, change))
    result.stats = {"listed": len(items), **counts}
    return result


def plan(settings: Settings, reprocess_quarantined: bool = False) -> dict[str, Any]:
    """Counts and a listing of what a run with `settings` would do, without doing it.

    Every configured source is listed (folders and connectors); remote items are not fetched.

    Returns:
        `counts` (listed, new, changed, unchanged, unreadable, deleted, pending, quarantined_to_reprocess) and
        `files` (up to LISTED_ROWS rows of source_uri and change for new and changed files).

    Raises:
        FileNotFoundError: when a source folder does not exist (as a real run would).
        SourceUnavailable: when a connector's source cannot be listed (as a real run would).
    """
    catalog = _catalog_ro(settings.paths.catalog)
    names = _names(settings)
    counts: Counter[str] = Counter()
    files: list[dict[str, str]] = []
    seen: set[str] = set()
    scopes: list[Path | str] = []
    try:
        for connector in registry.connectors(settings.ingest):
            for items, refused in registry.slices(connector):
                result = _classify(connector, items, _known(catalog, [i.source_uri for i in items]))
                counts.update({k: int(v) for k, v in result.stats.items()})
                counts["unreadable"] += len(result.rejects) + len(refused)
                seen.update(i.source_uri for i in items)
                for source, change in result.records:
                    if change != ingest.UNCHANGED and len(files) < LISTED_ROWS:
                        uri = names.uri(source.source_uri) if names else source.source_uri
                        files.append({"source_uri": uri, "change": change})
            scopes.append(connector.scope)
        counts.update(_catalog_counts(catalog, scopes, seen, reprocess_quarantined))
    finally:
        if catalog is not None:
            catalog.close()
    return {"counts": dict(counts), "files": files}


def _names(settings: Settings) -> Any:
    """The redactor of names for the listing (the plan reaches the Prefect UI and the terminal); in `hash`
    mode without a key yet (a dry run creates nothing), typed placeholders instead of pseudonyms."""
    from docmill.text.pii import make_redactor

    try:
        return make_redactor(settings, create_key=False)
    except ValueError:
        config = settings.clean.pii.model_copy(update={"mode": "redact"})
        return make_redactor(settings.model_copy(update={"clean": settings.clean.model_copy(update={"pii": config})}))


def _catalog_counts(
    catalog: Catalog | None, roots: list[Path | str], seen: set[str], reprocess_quarantined: bool
) -> dict[str, int]:
    """Sources the catalog knows under `roots` that the listing no longer shows; documents already pending;
    quarantined documents a `reprocess_quarantined` run would queue."""
    if catalog is None:
        return {"deleted": 0, "pending": 0, "quarantined_to_reprocess": 0}
    deleted = 0
    for prefix in map(scope_prefix, roots):
        deleted += sum(1 for uri in catalog.source_uris_under(prefix) if uri not in seen)
    pending = catalog.counts().get(PENDING, 0)
    quarantined = catalog.count_rejected_documents(REPLAYABLE) if reprocess_quarantined else 0
    return {"deleted": deleted, "pending": int(pending), "quarantined_to_reprocess": quarantined}
