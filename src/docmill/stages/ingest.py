"""Ingest: hash each listed file and classify it against what the catalog already knows."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import partial
from pathlib import PurePath

from docmill.isolation import steps
from docmill.records import FileItem, Reject, SourceFile, StageResult

NEW, CHANGED, UNCHANGED = "new", "changed", "unchanged"


def classify(known_doc_id: str | None, doc_id: str) -> str:
    """new (never seen this source), changed (bytes differ) or unchanged."""
    if known_doc_id is None:
        return NEW
    return UNCHANGED if known_doc_id == doc_id else CHANGED


def read_error_reason(exc: OSError) -> str:
    """`permission_denied` for a file the process may not read, else `unreadable`."""
    return "permission_denied" if isinstance(exc, PermissionError) else "unreadable"


def ingest(
    items: Iterable[FileItem],
    known: Callable[[str], str | None],
    hasher: Callable[[str], str],
) -> StageResult[tuple[SourceFile, str]]:
    """Hash a batch of listed files and pair each with its change class.

    Args:
        items: files from a source listing.
        known: source_uri -> doc_id recorded by the previous run (None if unknown).
        hasher: path -> sha256 of the file's bytes.

    Returns:
        (SourceFile, change) pairs; unreadable files become `unreadable` rejects.
    """
    result: StageResult[tuple[SourceFile, str]] = StageResult(records=[])
    counts = {NEW: 0, CHANGED: 0, UNCHANGED: 0}
    for item in items:
        outcome = steps.attempt(
            "ingest", "hash", steps.Item(source_uri=item.source_uri), partial(_hashed, item, hasher)
        )
        if not isinstance(outcome, SourceFile):
            result.rejects.append(steps.reject_of(outcome))
            continue
        change = classify(known(item.source_uri), outcome.doc_id)
        counts[change] += 1
        result.records.append((outcome, change))
    result.stats = {"listed": len(result.records) + len(result.rejects), **counts}
    return result


def _hashed(item: FileItem, hasher: Callable[[str], str]) -> SourceFile | Reject:
    """The item as a `SourceFile` (its bytes hashed), or an `unreadable`/`permission_denied` reject."""
    try:
        doc_id = hasher(item.path)
    except OSError as exc:
        return Reject("ingest", read_error_reason(exc), str(exc), source_uri=item.source_uri)
    extension = PurePath(item.path).suffix.lower()
    return SourceFile(item.source_uri, item.path, item.size, item.mtime, doc_id, extension, item.version, item.metadata)
