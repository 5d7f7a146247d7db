"""The per-item step runner: one failing item becomes a quarantine row, never the end of the run.

Every per-item step of the pipeline (listing, stat, hashing, staging, archive expansion, parsing, cleaning,
chunking, enrichment) calls its per-item function through `attempt` (or `each`, for a list of items). An
exception the function did not turn into a reject itself becomes a `Reject` with the reason
`step_failed:<step>:<ExceptionClass>`, naming the item; the step goes on with the next item. Exceptions that
are not about the item pass through and stop the run: `PipelineError` (and its subclasses), interrupts,
`SystemExit` and `MemoryError` of the flow process itself.

Each call is also a fault-injection point (`docmill.faults.step_fault`), so a test can make any step fail on
any item and check that the run completes with that item quarantined.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from typing import Generic, TypeVar

from docmill.faults import step_fault
from docmill.records import Reject

T = TypeVar("T")
R = TypeVar("R")
log = logging.getLogger(__name__)
STEPS = ("list", "stat", "stage", "hash", "expand", "parse", "extract", "clean", "dedup", "chunk", "enrich")
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


@dataclass(slots=True)
class Failed(Generic[T]):
    """An item whose step raised: the item and its reject."""

    item: T
    reject: Reject


def reason(step: str, exc: BaseException) -> str:
    """The reject reason of an unexpected exception in `step`: `step_failed:<step>:<ExceptionClass>`."""
    return f"{PREFIX}:{step}:{type(exc).__name__}"


def failure(stage: str, step: str, who: Item, exc: BaseException) -> Reject:
    """The reject of an item whose `step` raised `exc` (the message keeps the first 300 characters)."""
    message = f"{step} raised {type(exc).__name__}: {exc}"[:300]
    return Reject(stage, reason(step, exc), message, who.doc_id, who.source_uri, who.chunk_id)


def attempt(stage: str, step: str, who: Item, work: Callable[[], R]) -> R | Failure:
    """Run one item's `work` in `step` of `stage`; an unexpected exception becomes a `Failure` holding the
    item's reject.

    Raises:
        PipelineError: passed through (an error about the run, not the item); so are `BaseException`s that
            are not `Exception`s (interrupts, exit) and `MemoryError`.
    """
    try:
        step_fault(step, who.label)
        return work()
    except (PipelineError, MemoryError):
        raise
    except Exception as exc:
        log.warning("%s failed on %s: %s: %s", step, who.label, type(exc).__name__, exc)
        return Failure(failure(stage, step, who, exc))


def reject_of(outcome: Failure | Reject) -> Reject:
    """The reject an outcome of `attempt` stands for: a `Failure`'s, or a `Reject` the work returned itself."""
    return outcome.reject if isinstance(outcome, Failure) else outcome


def each(
    stage: str, step: str, items: Iterable[T], identify: Callable[[T], Item], work: Callable[[T], R]
) -> tuple[list[tuple[T, R]], list[Failed[T]]]:
    """`attempt` over items: (item, result) pairs of those that went through, and those that failed."""
    done: list[tuple[T, R]] = []
    failed: list[Failed[T]] = []
    for item in items:
        outcome = attempt(stage, step, identify(item), partial(work, item))
        if isinstance(outcome, Failure):
            failed.append(Failed(item, outcome.reject))
        else:
            done.append((item, outcome))
    return done, failed
