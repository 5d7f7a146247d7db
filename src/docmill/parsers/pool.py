"""A pool of parser worker processes that can be killed: per-document time limit, memory limit, crash safety.

A parser that hangs is killed after `timeout_s` (`timeout`); one that exhausts its address-space limit
reports `too_large`; one that dies (segfault in a C library) reports `parser_crashed`; any other exception
becomes `step_failed:parse:<Exception>` through the step runner (`docmill.isolation.steps`). The pool replaces the
worker and goes on with the next document (the mechanism is `docmill.isolation.workers`, shared with cleaning and
chunking). Each worker leads its own process group, so the external tools it runs (soffice, tesseract,
pandoc) die with it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from docmill.isolation.workers import Work, WorkerPool
from docmill.parsers import Parsed, ParseError, describe

_OUT_OF_MEMORY = ("bad_alloc", "failed to map segment", "Cannot allocate memory", "out of memory")
# never imported in a parser process: no parser needs them, but spaCy (through thinc, under unstructured's
# partitioners) imports torch whenever it is installed: ~2 s and ~180 MB more per worker (measured on an XLSX)
PARSE = Work(
    run="docmill.parsers.pool:parse_job",
    setup="docmill.parsers.pool:setup_parser",
    stage="extract",
    step="parse",
    doing="parsing",
    crashed="parser_crashed",
    blocked_imports=("torch",),
)


def setup_parser(options: dict[str, Any], max_memory_mb: int) -> None:
    """A parser worker's options; pymupdf imported ahead when the memory limit leaves room for it."""
    from docmill.parsers import OPTIONS

    OPTIONS.update(options)
    if not max_memory_mb or max_memory_mb >= 2048:  # importing pymupdf maps ~0.5 GB of address space
        import docmill.parsers.pdf  # noqa: F401  # its import (~0.5 s) overlaps the caller's work, not a parse


def parse_job(payload: tuple[str, str], max_memory_mb: int, _options: dict[str, Any]) -> tuple[Any, ...]:
    """One parse as the message the pool receives: ("ok", Parsed) or ("err", reason, message)."""
    from docmill.parsers import parse_file

    path, ext = payload
    try:
        return ("ok", parse_file(Path(path), ext))
    except ParseError as exc:
        return ("err", exc.reason, exc.message)
    except MemoryError:
        return ("err", "too_large", f"parser exceeded the {max_memory_mb} MB memory limit")
    except Exception as exc:
        if max_memory_mb and any(s in str(exc) for s in _OUT_OF_MEMORY):  # a C library hit the limit
            return ("err", "too_large", f"parser exceeded the {max_memory_mb} MB memory limit: {describe(exc)}")
        raise  # the step runner names the step and the exception


class ParserPool(WorkerPool):
    """Parse files in `workers` killable processes (spawned, so no state leaks from the parent)."""

    def __init__(
        self, workers: int, timeout_s: float, max_memory_mb: int = 0, options: dict[str, Any] | None = None
    ) -> None:
        super().__init__(PARSE, workers, timeout_s, max_memory_mb, options)

    def parse_many(self, jobs: list[tuple[str, str, str]]) -> Iterator[tuple[str, Parsed | ParseError]]:
        """Parse (key, path, extension) jobs; yields (key, Parsed or ParseError) as they finish."""
        return self.run_many([(key, path, (path, ext)) for key, path, ext in jobs])
