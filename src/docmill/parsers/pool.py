"""A pool of parser worker processes that can be killed: per-document time limit, memory limit, crash safety.

A parser that hangs is killed after `timeout_s` (`timeout`); one that exhausts its address-space limit
reports `too_large`; one that dies (segfault in a C library) reports `parser_crashed`; any other exception
becomes `step_failed:parse:<Exception>` through the step runner (`docmill.steps`). The pool replaces
the worker and goes on with the next document. Each worker leads its own process group, so the external
tools it runs (soffice, tesseract, pandoc) die with it.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing as mp
import os
import signal
import sys
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

from docmill.parsers import Parsed, ParseError
from docmill.steps import Failure, Item, attempt

log = logging.getLogger(__name__)
_OUT_OF_MEMORY = ("bad_alloc", "failed to map segment", "Cannot allocate memory", "out of memory")
# never imported in a parser process: no parser needs them, but spaCy (through thinc, under unstructured's
# partitioners) imports torch whenever it is installed: ~2 s and ~180 MB more per worker (measured on an XLSX)
_BLOCKED_IMPORTS = ("torch",)


@dataclass(slots=True)
class _Worker:
    process: Any
    conn: Connection
    job: tuple[str, str, str] | None = None
    started: float = 0.0


def _worker_main(conn: Connection, max_memory_mb: int, options: dict[str, Any]) -> None:
    for name in _BLOCKED_IMPORTS:
        sys.modules[name] = None  # type: ignore[assignment]  # `import torch` raises ImportError here
    from docmill.offline import apply_offline_defaults
    from docmill.parsers import OPTIONS

    os.setsid()  # own process group: killing the worker also kills its soffice/tesseract/pandoc children
    apply_offline_defaults()
    OPTIONS.update(options)
    if max_memory_mb:
        import resource

        limit = max_memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    if not max_memory_mb or max_memory_mb >= 2048:  # importing pymupdf maps ~0.5 GB of address space
        import docmill.parsers.pdf  # noqa: F401  # its import (~0.5 s) overlaps the caller's work, not a parse

    while True:
        job = conn.recv()
        if job is None:
            return
        key, path, ext = job
        outcome = attempt(
            "extract", "parse", Item(doc_id=key, source_uri=path), partial(_parse, path, ext, max_memory_mb)
        )
        conn.send(("err", outcome.reject.reason, outcome.reject.message) if isinstance(outcome, Failure) else outcome)


def _parse(path: str, ext: str, max_memory_mb: int) -> tuple[Any, ...]:
    """One parse as the message the pool receives: ("ok", Parsed) or ("err", reason, message)."""
    from docmill.parsers import parse_file

    try:
        return ("ok", parse_file(Path(path), ext))
    except ParseError as exc:
        return ("err", exc.reason, exc.message)
    except MemoryError:
        return ("err", "too_large", f"parser exceeded the {max_memory_mb} MB memory limit")
    except Exception as exc:
        if max_memory_mb and any(s in str(exc) for s in _OUT_OF_MEMORY):  # a C library hit the limit
            return ("err", "too_large", f"parser exceeded the {max_memory_mb} MB memory limit: {exc}"[:500])
        raise  # the step runner names the step and the exception


class ParserPool:
    """Parse files in `workers` killable processes (spawned, so no state leaks from the parent)."""

    def __init__(
        self, workers: int, timeout_s: float, max_memory_mb: int = 0, options: dict[str, Any] | None = None
    ) -> None:
        self.options = options or {}
        self.size = workers
        self.timeout_s = timeout_s
        self.max_memory_mb = max_memory_mb
        self._ctx = mp.get_context("spawn")
        self._workers: list[_Worker] = []

    def _spawn(self) -> _Worker:
        parent, child = self._ctx.Pipe()
        proc = self._ctx.Process(target=_worker_main, args=(child, self.max_memory_mb, self.options), daemon=True)
        proc.start()
        child.close()
        return _Worker(proc, parent)

    def _replace(self, worker: _Worker) -> _Worker:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(worker.process.pid, signal.SIGKILL)
        worker.process.kill()
        worker.process.join(5)
        worker.conn.close()
        fresh = self._spawn()
        self._workers[self._workers.index(worker)] = fresh
        return fresh

    def parse_many(self, jobs: list[tuple[str, str, str]]) -> Iterator[tuple[str, Parsed | ParseError]]:
        """Parse (key, path, extension) jobs; yields (key, Parsed or ParseError) as they finish."""
        while len(self._workers) < self.size:
            self._workers.append(self._spawn())
        queue = deque(jobs)
        while queue or any(w.job for w in self._workers):
            for worker in list(self._workers):
                if worker.job is None and queue:
                    job = queue.popleft()
                    try:
                        worker.conn.send(job)
                    except OSError:  # died while idle: replace it and hand the job to the new worker
                        worker = self._replace(worker)
                        worker.conn.send(job)
                    worker.job, worker.started = job, time.monotonic()
            busy = [w for w in self._workers if w.job]
            deadline = min(w.started for w in busy) + self.timeout_s
            ready = wait([w.conn for w in busy], timeout=max(0.0, deadline - time.monotonic()))
            for worker in busy:
                if worker.job is None:
                    continue
                key = worker.job[0]
                if worker.conn in ready:
                    yield key, self._receive(worker)
                elif time.monotonic() - worker.started >= self.timeout_s:
                    log.warning("parser timeout after %.0f s: %s", self.timeout_s, worker.job[1])
                    self._replace(worker)
                    yield key, ParseError("timeout", f"parsing took longer than {self.timeout_s:.0f} s")

    def _receive(self, worker: _Worker) -> Parsed | ParseError:
        try:
            message = worker.conn.recv()
        except (EOFError, OSError):
            code = worker.process.exitcode
            self._replace(worker)
            return ParseError("parser_crashed", f"parser process died (exit code {code})")
        worker.job = None
        if message[0] == "ok":
            return message[1]  # type: ignore[no-any-return]
        if message[1] == "too_large":  # a process that hit its memory limit may be left in a bad state
            self._replace(worker)
        return ParseError(message[1], message[2])

    def close(self) -> None:
        """Stop all workers."""
        for worker in self._workers:
            with contextlib.suppress(OSError):
                worker.conn.send(None)
            worker.process.join(5)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(worker.process.pid, signal.SIGKILL)  # children left behind, if any
        self._workers = []

    def __enter__(self) -> ParserPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
