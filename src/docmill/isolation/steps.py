"""The per-item step runner: one failing item becomes a quarantine row, never the end of the run.

Every per-item step of the pipeline (`STEPS`: listing and stat, staging, hashing, archive expansion, parsing,
cleaning, deduplication, chunking, enrichment) calls its per-item function through `attempt`. An exception
the function did not turn into a reject itself becomes a `Reject` with the reason
`step_failed:<step>:<ExceptionClass>`, naming the item; the step goes on with the next item. Exceptions that
are about the run, not the item, pass through and stop it (`about_the_run`): `PipelineError`, interrupts,
`SystemExit`, `MemoryError` of the process itself, catalog errors (`sqlite3.Error`) and a full disk.

Each call is also a fault-injection point (`docmill.isolation.faults.step_fault`), so a test can make any step fail on
any item and check that the run completes with that item quarantined.
"""

from __future__ import annotations

import errno
import logging
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from docmill.isolation.faults import step_fault
from docmill.records import Reject

R = TypeVar("R")
log = logging.getLogger(__name__)
# list: one listed entry (selection, link check, stat); stage: fetching a remote item; hash: its bytes;
# expand: an archive's or e-mail's whole tree; parse: in a parser process; prepare: a document's cleaning and
# chunking in its worker process (around `clean` and `chunk`); dedup: the duplicate checks
STEPS = ("list", "stage", "hash", "expand", "parse", "prepare", "clean", "dedup", "chunk", "enrich")
PREFIX = "step_failed"


class PipelineError(Exception):
    """An error about the run, not about one item (configuration, catalog, store): it stops the run."""


@dataclass(frozen=True, slots=True)
class Item:
    """Who an item is, for its reject: `label` names it in fault injection and logs (its URI or path)."""

    doc_id: str | None = None
    source_uri: str | None = None
    chunk_id: str | None = None

    @property
    def label(self) -> str:
        """The item's name in messages: its source URI, else its document id."""
        return self.source_uri or self.doc_id or ""


@dataclass(slots=True)
class Failure:
    """What `attempt` returns instead of a result when the step raised: the item's reject."""

    reject: Reject


def about_the_run(exc: Exception) -> bool:
    """True for errors that every next item would hit too: they stop the run instead of quarantining items."""
    if isinstance(exc, PipelineError | MemoryError | sqlite3.Error):
        return True
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)


def reason(step: str, exc: BaseException) -> str:
    """The reject reason of an unexpected exception in `step`: `step_failed:<step>:<ExceptionClass>`."""
    return f"{PREFIX}:{step}:{type(exc).__name__}"


def failure(stage: str, step: str, who: Item, exc: BaseException) -> Reject:
    """The reject of an item whose `step` raised `exc`: the exception's class and position, never the text it
    may quote from the document (`docmill.parsers.describe`)."""
    from docmill.isolation.errors import describe

    message = f"{step} raised {describe(exc)}"[:300]
    return Reject(stage, reason(step, exc), message, who.doc_id, who.source_uri, who.chunk_id)


def attempt(stage: str, step: str, who: Item, work: Callable[[], R]) -> R | Failure:
    """Run one item's `work` in `step` of `stage`; an unexpected exception becomes a `Failure` holding the
    item's reject.

    Raises:
        Exception: an exception `about_the_run` passes through, and `BaseException`s that are not `Exception`s
            (interrupts, exit).
    """
    try:
        step_fault(step, who.label)
        return work()
    except Exception as exc:
        if about_the_run(exc):
            raise
        # logs leave the building: the document id (never a file name) and the exception's class only
        log.warning("%s failed on document %s: %s", step, who.doc_id or "(not yet hashed)", type(exc).__name__)
        return Failure(failure(stage, step, who, exc))


def reject_of(outcome: Failure | Reject) -> Reject:
    """The reject an outcome of `attempt` stands for: a `Failure`'s, or a `Reject` the work returned itself."""
    return outcome.reject if isinstance(outcome, Failure) else outcome
