"""The quarantine: why documents, chunks and pages left the pipeline, and replaying them after a fix.

Every reject is a row of the catalog's `quarantine` table (stage, reason code, message, source, and the
chunk id or part such as `page 3` when only a piece of a document was dropped). Replaying marks the
documents pending again, so the next run processes them from their bytes with the settings of that run;
cached vectors make unchanged chunks free. Each replay is an audit entry.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Iterable
from fnmatch import fnmatchcase
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import unquote, urlsplit

from docmill.state import ledger
from docmill.state.audit import AuditLog
from docmill.state.catalog import Catalog

REPLAYABLE = ledger.TRANSITIONS["replayed"].sources  # embedded: documents that lost chunks or pages


def source_path(uri: str) -> str:
    """A source URI as a path to match and show: file URIs decoded (`file:///a/b%20c.pdf` -> `/a/b c.pdf`), other
    URIs (s3://, imap://, archive members `...zip!/x.txt`) unquoted as they are."""
    return unquote(urlsplit(uri).path) if uri.startswith("file://") else unquote(uri)


def listing(
    catalog: Catalog,
    stage: str | None = None,
    reason: str | None = None,
    file_type: str | None = None,
    path: str | None = None,
) -> list[dict[str, Any]]:
    """Quarantine rows (oldest first within stage and reason), each with `file` (the file name) and `file_type`
    (its extension, lower case, no dot), filtered by stage, reason prefix, file type and a shell-style `path`
    glob on the source's path (`*` also crosses folders: `*/hr/*`, `*.pdf`)."""
    wanted_type = (file_type or "").lower().lstrip(".")
    out = []
    for row in catalog.quarantine(stage, reason):
        item = dict(row)
        where = source_path(item["source_uri"] or "")
        name = PurePosixPath(where).name if where else ""
        item["file"] = name or (item["doc_id"] or "")[:12]
        item["file_type"] = PurePosixPath(name).suffix.lower().lstrip(".")
        if wanted_type and item["file_type"] != wanted_type:
            continue
        if path and not fnmatchcase(where, path):
            continue
        out.append(item)
    return out


def totals(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Counts by stage and reason of `rows` (from `listing`): whole documents, chunks and parts separately."""
    counts: dict[tuple[str, str], Counter[str]] = {}
    for row in rows:
        kind = "chunks" if row["chunk_id"] else "parts" if row["part"] else "documents"
        counts.setdefault((row["stage"], row["reason"]), Counter())[kind] += 1
    return [
        {"stage": stage, "reason": reason, **{k: c[k] for k in ("documents", "chunks", "parts")}}
        for (stage, reason), c in sorted(counts.items())
    ]


def find(catalog: Catalog, ident: str) -> list[sqlite3.Row]:
    """Quarantine rows by row id, or by doc_id prefix / source URI substring."""
    return catalog.rejects_named(ident)


def record(catalog: Catalog, audit: AuditLog, ident: str) -> dict[str, Any]:
    """One quarantine record with its context: the document's status, its sources, every reject of the
    document and its audit history.

    Raises:
        KeyError: when no quarantine row matches.
    """
    rows = find(catalog, ident)
    if not rows:
        raise KeyError(f"no quarantine record matches {ident!r}; see `docmill quarantine list`")
    first = dict(rows[0])
    doc_id = first["doc_id"]
    document = catalog.document(doc_id) if doc_id else None
    sources = catalog.sources_of(doc_id) if doc_id else []
    return {
        "record": first,
        "document": dict(document) if document else None,
        "sources": [{k: s[k] for k in ("source_uri", "size", "mtime")} for s in sources],
        "rejects": [dict(r) for r in ((catalog.rejects_of(doc_id) if doc_id else []) or rows)],
        "history": audit.show(doc=doc_id) if doc_id else [],
    }


def select(
    catalog: Catalog, reason: str | None = None, stage: str | None = None, idents: Iterable[str] = ()
) -> list[str]:
    """doc_ids of quarantine rows matching a reason prefix, a stage and/or ids (row id, doc_id prefix, URI
    substring); no filter selects every quarantined document."""
    found = catalog.rejected_doc_ids(reason, stage)
    wanted = [str(i) for i in idents]
    if wanted:
        found &= {r["doc_id"] for i in wanted for r in find(catalog, i) if r["doc_id"]}
    return sorted(found)


def replay(catalog: Catalog, audit: AuditLog, doc_ids: list[str], run_id: str | None = None) -> int:
    """Mark documents pending so that the next run processes them again; returns how many were queued.

    Documents whose source is gone (deleted since) or that are already pending are left as they are."""
    with catalog.transaction():
        queued = [doc_id for doc_id in doc_ids if ledger.replayed(catalog, doc_id)]
    if queued:
        audit.append("quarantine_replayed", run_id=run_id, doc_ids=queued, documents=len(queued))
    return len(queued)
