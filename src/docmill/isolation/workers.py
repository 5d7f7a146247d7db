"""Killable worker processes: per-item time limit, memory limit, crash safety, for any per-item work.

A job that runs longer than `timeout_s` is killed with its worker (`timeout`); one that exhausts the worker's
address-space limit reports `too_large`; a worker that dies (segfault in a C library) reports `Work.crashed`.
The pool replaces the worker and goes on with the next item. Each worker leads its own process group, so the
external tools it runs (soffice, tesseract, pandoc) die with it. Inside the worker every job runs through the
step runner (`docmill.isolation.steps`), so any other exception becomes `step_failed:<step>:<Exception>`.

What a pool's workers do is a `Work`: a `setup` run once per worker and a `run` per job, both module-level
functions named `module:function` (so a spawned process can import them). Parsing (`docmill.parsers.pool`)
and cleaning with chunking (`docmill.run.preparing`) are the two kinds.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import multiprocessing as mp
import os
import signal
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from multiprocessing.connection import Connection, wait
from typing import Any

from docmill.isolation.errors import ParseError
from docmill.isolation.steps import Failure, Item, attempt

log = logging.getLogger(__name__)
Job = tuple[str, str, Any]  # (key, label: the item's path or URI, payload)
READY = ("ready",)
SETUP_TIMEOUT_S = 600.0


@dataclass(frozen=True, slots=True)
class Work:
    """A kind of work for a `WorkerPool`. `run(payload, max_memory_mb, options)` returns ("ok", value) or
    ("err", reason, message); `setup(options, max_memory_mb)` prepares a fresh worker (after its limit is set)."""

    run: str
    setup: str
    stage: str  # the reject's stage
    step: str  # the step runner's step name
    doing: str  # for messages: "parsing took longer than ..."
    crashed: str  # the reason when the process dies
    blocked_imports: tuple[str, ...] = ()  # never imported in these workers (`import x` raises ImportError)


def _resolve(name: str) -> Callable[..., Any]:
    module, _, function = name.partition(":")
    return getattr(importlib.import_module(module), function)  # type: ignore[no-any-return]


def _worker_main(conn: Connection, max_memory_mb: int, options: dict[str, Any], work: Work) -> None:
    for name in work.blocked_imports:
        sys.modules[name] = None  # type: ignore[assignment]
    from docmill.config.offline import apply_offline_defaults

    os.setsid()  # own process group: killing the worker also kills its soffice/tesseract/pandoc children
    apply_offline_defaults()
    if max_memory_mb:
        import resource

        limit = max_memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    run = _resolve(work.run)
    _resolve(work.setup)(options, max_memory_mb)
    conn.send(READY)  # a job's time limit starts after the worker's setup (imports, models)
    while True:
        job = conn.recv()
        if job is None:
            return
        key, label, payload = job
        outcome = attempt(work.stage, work.step, Item(key, label), partial(run, payload, max_memory_mb, options))
        conn.send(("err", outcome.reject.reason, outcome.reject.message) if isinstance(outcome, Failure) else outcome)


@dataclass(slots=True)
class _Worker:
    process: Any
    conn: Connection
    job: Job | None = None
    started: float = 0.0


class WorkerPool:
    """Run `work` on jobs in `workers` killable processes (spawned, so no state leaks from the parent)."""

    def __init__(
        self, work: Work, workers: int, timeout_s: float, max_memory_mb: int = 0, options: dict[str, Any] | None = None
    ) -> None:
        self.work = work
        self.options = options or {}
        self.size = workers
        self.timeout_s = timeout_s
        self.max_memory_mb = max_memory_mb
        self._ctx = mp.get_context("spawn")
        self._workers: list[_Worker] = []

    def _spawn(self) -> _Worker:
        parent, child = self._ctx.Pipe()
        args = (child, self.max_memory_mb, self.options, self.work)
        proc = self._ctx.Process(target=_worker_main, args=args, daemon=True)
        proc.start()
        child.close()
        return _Worker(proc, parent)

    def _await_ready(self, worker: _Worker) -> None:
        """Wait for a fresh worker's setup.

        Raises:
            RuntimeError: the worker died or did not finish its setup within `SETUP_TIMEOUT_S` (a broken
                installation, not a document: the run stops).
        """
        try:
            if worker.conn.poll(SETUP_TIMEOUT_S) and worker.conn.recv() == READY:
                return
        except (EOFError, OSError):
            pass
        raise RuntimeError(f"a {self.work.doing} worker did not start (exit code {worker.process.exitcode})")

    def start(self) -> None:
        """Start the missing workers and wait for their setup."""
        fresh = [self._spawn() for _ in range(self.size - len(self._workers))]
        self._workers += fresh
        for worker in fresh:
            self._await_ready(worker)

    def _replace(self, worker: _Worker) -> _Worker:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(worker.process.pid, signal.SIGKILL)
        worker.process.kill()
        worker.process.join(5)
        worker.conn.close()
        fresh = self._spawn()
        self._workers[self._workers.index(worker)] = fresh
        self._await_ready(fresh)
        return fresh

    def run_many(self, jobs: list[Job]) -> Iterator[tuple[str, Any]]:
        """Run (key, label, payload) jobs; yields (key, value or ParseError with the reason) as they finish."""
        self.start()
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
                    log.warning("%s timeout after %.0f s (job %s)", self.work.doing, self.timeout_s, worker.job[0])
                    self._replace(worker)
                    yield key, ParseError("timeout", f"{self.work.doing} took longer than {self.timeout_s:.0f} s")

    def _receive(self, worker: _Worker) -> Any:
        try:
            message = worker.conn.recv()
        except (EOFError, OSError):
            code = worker.process.exitcode
            self._replace(worker)
            return ParseError(self.work.crashed, f"{self.work.doing} process died (exit code {code})")
        worker.job = None
        if message[0] == "ok":
            return message[1]
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

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
