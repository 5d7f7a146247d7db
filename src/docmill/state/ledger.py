"""The ledger: the one place that changes a document's status (the diagram is in docs/architecture.md,
"Document states").

`TRANSITIONS` names every event that moves a document, the statuses it may leave and the status it enters.
A single-document event (`published`, `rejected`, `duplicate`, `expanded`, `superseded`) reads the current
status first and raises `IllegalTransition` when the table does not allow the move: that is a bug in docmill,
never a property of a document. A bulk event (`requeued_for_new_settings`, `canonical_removed`,
`semantic_canonical_removed`, `replayed`) is one SQL statement whose WHERE clause holds exactly the allowed
from-statuses, so documents in other statuses are left as they are. A document the catalog does not know is
not changed (as before the ledger).

Every function takes the catalog and runs inside its transaction (`with catalog.transaction():`); a call
outside one raises.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from docmill.state.catalog import CONTAINER, DUPLICATE, EMBEDDED, PENDING, QUARANTINED, SUPERSEDED, Catalog


@dataclass(frozen=True)
class Transition:
    """An event's move: the statuses a document may be in (`sources`) and the status it enters (`target`)."""

    sources: tuple[str, ...]
    target: str


_ANY_LIVE = (PENDING, EMBEDDED, QUARANTINED, DUPLICATE, CONTAINER)

TRANSITIONS: dict[str, Transition] = {
    # its chunks are in the store and the catalog (published again: its points are replaced)
    "published": Transition((PENDING, EMBEDDED), EMBEDDED),
    # a stage dropped the whole document; at ingest, expanding a new copy of a known archive or e-mail may
    # reject a content in whatever status it holds: superseded too (an old version copied back into the share
    # before a crashed run retired it lives again; refusing the move would stop every run at ingest)
    "rejected": Transition((*_ANY_LIVE, SUPERSEDED), QUARANTINED),
    # its text is (nearly) the text of a published document, `duplicate_of`
    "duplicate": Transition((PENDING,), DUPLICATE),
    # an archive whose members were recorded as documents; a new copy of a known content is expanded too,
    # whatever status the content holds
    "expanded": Transition((*_ANY_LIVE, SUPERSEDED), CONTAINER),
    # its file now holds other bytes, still pending: it keeps its points until the successor is processed
    "superseded": Transition(_ANY_LIVE, SUPERSEDED),
    # processed under other settings (see `RunContext.config_key`): goes through the pipeline again
    "requeued_for_new_settings": Transition((EMBEDDED, DUPLICATE, QUARANTINED), PENDING),
    # the document it duplicates is removed or quarantined: it may now hold the only copy of the text
    "canonical_removed": Transition((DUPLICATE,), PENDING),
    # a chunk of it was a semantic near-duplicate (flagged or dropped) of a chunk of a document removed or
    # quarantined: that chunk may now hold the only copy of its text
    "semantic_canonical_removed": Transition((EMBEDDED,), PENDING),
    # `docmill quarantine replay` (embedded: documents that lost chunks or pages)
    "replayed": Transition((QUARANTINED, DUPLICATE, EMBEDDED), PENDING),
}


class IllegalTransition(RuntimeError):
    """A status change the ledger's table does not allow: a bug in docmill."""

    def __init__(self, doc_id: str, event: str, current: str) -> None:
        """Name the document, the event and both statuses."""
        self.doc_id, self.event, self.current = doc_id, event, current
        target = TRANSITIONS[event].target
        super().__init__(
            f"document {doc_id}: {event} moves {current} -> {target}, which the ledger does not allow "
            f"(allowed from: {', '.join(TRANSITIONS[event].sources)})"
        )


def _allowed(catalog: Catalog, doc_id: str, event: str) -> bool:
    """Whether `doc_id` is known (False: nothing to change); raises `IllegalTransition` when its status does not
    allow `event`."""
    row = catalog._execute("SELECT status FROM documents WHERE doc_id=?", (doc_id,)).fetchone()
    if row is None:
        return False
    if row[0] not in TRANSITIONS[event].sources:
        raise IllegalTransition(doc_id, event, row[0])
    return True


def _move(catalog: Catalog, doc_id: str, event: str, stage: str, run_id: str, **cols: Any) -> None:
    """Check and apply one document's transition, with the stage and run that caused it and extra columns."""
    if not _allowed(catalog, doc_id, event):
        return
    extra = "".join(f", {name}=?" for name in cols)
    catalog._execute(
        f"UPDATE documents SET status=?, stage=?, run_id=?, updated_at=?{extra} WHERE doc_id=?",
        (TRANSITIONS[event].target, stage, run_id, time.time(), *cols.values(), doc_id),
    )


def published(
    catalog: Catalog,
    doc_id: str,
    run_id: str,
    config_key: str,
    *,
    n_chunks: int,
    text_hash: str | None,
    title: str | None,
) -> None:
    """`pending | embedded -> embedded`: its chunks are written, under the settings `config_key`."""
    cols = {"n_chunks": n_chunks, "text_hash": text_hash, "title": title, "config_key": config_key}
    _move(catalog, doc_id, "published", "validate", run_id, **cols)


def rejected(catalog: Catalog, doc_id: str, stage: str, run_id: str, config_key: str) -> None:
    """`* -> quarantined` (superseded excepted): `stage` dropped the whole document (its reject row says why)."""
    _move(catalog, doc_id, "rejected", stage, run_id, config_key=config_key)


def duplicate(catalog: Catalog, doc_id: str, stage: str, run_id: str, config_key: str, duplicate_of: str) -> None:
    """`pending -> duplicate`: `stage` found its text to be the text of `duplicate_of`."""
    _move(catalog, doc_id, "duplicate", stage, run_id, config_key=config_key, duplicate_of=duplicate_of)


def expanded(catalog: Catalog, doc_id: str, run_id: str) -> None:
    """`* -> container` (superseded excepted): an archive whose members were recorded as documents."""
    _move(catalog, doc_id, "expanded", "ingest", run_id)


def superseded(catalog: Catalog, doc_id: str, successor: str) -> None:
    """`* -> superseded`: its file now holds the pending content `successor` (stage and run are kept: the
    row still describes how its points were made)."""
    if _allowed(catalog, doc_id, "superseded"):
        catalog._execute(
            "UPDATE documents SET status=?, superseded_by=? WHERE doc_id=?", (SUPERSEDED, successor, doc_id)
        )


def requeued_for_new_settings(catalog: Catalog, config_key: str) -> tuple[dict[str, int], int]:
    """`embedded | duplicate | quarantined -> pending` for documents whose settings key is not `config_key`.
    Returns how many had each previous key, and how many were queued."""
    sources = TRANSITIONS["requeued_for_new_settings"].sources
    processed = f"status IN ({_marks(sources)}) AND (config_key IS NULL OR config_key != ?)"
    args = (*sources, config_key)
    counts = catalog._execute(
        f"SELECT config_key, COUNT(*) n FROM documents WHERE {processed} GROUP BY config_key", args
    )
    previous = {str(r["config_key"]): r["n"] for r in counts}
    requeued = catalog._execute(f"UPDATE documents SET status=?, stage='ingest' WHERE {processed}", (PENDING, *args))
    return previous, requeued.rowcount


def canonical_removed(catalog: Catalog, doc_ids: Iterable[str]) -> int:
    """`duplicate -> pending` for the duplicates of `doc_ids` (documents removed or quarantined). Returns how
    many were queued."""
    sources = TRANSITIONS["canonical_removed"].sources
    return sum(
        catalog._execute(
            f"UPDATE documents SET status=?, stage='ingest', duplicate_of=NULL "
            f"WHERE status IN ({_marks(sources)}) AND duplicate_of=?",
            (PENDING, *sources, doc_id),
        ).rowcount
        for doc_id in doc_ids
    )


def semantic_canonical_removed(catalog: Catalog, doc_ids: Iterable[str]) -> int:
    """`embedded -> pending` for the documents with a chunk that is a semantic near-duplicate (flagged in its
    metadata, or dropped into the quarantine) of a chunk of `doc_ids` (documents removed or quarantined). Returns
    how many were queued."""
    sources = TRANSITIONS["semantic_canonical_removed"].sources
    queued = 0
    for doc_id in catalog.semantic_duplicates_of(list(doc_ids)):
        queued += catalog._execute(
            f"UPDATE documents SET status=?, stage='ingest' WHERE doc_id=? AND status IN ({_marks(sources)})",
            (PENDING, doc_id, *sources),
        ).rowcount
    return queued


def replayed(catalog: Catalog, doc_id: str) -> bool:
    """`quarantined | duplicate | embedded -> pending` if a source still holds its bytes. Returns whether it
    was queued (a pending document, or one whose source is gone, is left as it is)."""
    sources = TRANSITIONS["replayed"].sources
    return bool(
        catalog._execute(
            f"UPDATE documents SET status=?, stage='ingest', duplicate_of=NULL WHERE doc_id=? "
            f"AND status IN ({_marks(sources)}) AND EXISTS (SELECT 1 FROM sources s WHERE s.doc_id=documents.doc_id)",
            (PENDING, doc_id, *sources),
        ).rowcount
    )


def _marks(values: tuple[str, ...]) -> str:
    """`?, ?, ...` for an IN list of `values`."""
    return ", ".join("?" * len(values))
