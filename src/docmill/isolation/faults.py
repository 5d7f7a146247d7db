"""Fault injection for crash tests: `DOCMILL_FAULT=<point>[:<n>]` kills the process with SIGKILL the n-th time
(default: the first) the run reaches that point.

Points: `ingest` (sources recorded, vanished ones not yet removed), `extract` (a batch parsed, nothing
recorded), `embed` (a batch embedded, nothing published), `publish` (a document's points written to Qdrant,
the catalog not yet committed), `version` (dataset folder added to DVC, pointer not yet committed). Unset in
production; `tests/flows/test_crash_resume.py` uses it to prove that the next run converges to the state of
an uninterrupted run.

`DOCMILL_STEP_FAULT=<step>[:<text>][,<step>[:<text>]...]` makes a per-item step (`docmill.isolation.steps.STEPS`) raise
`InjectedFault` on every item whose label (source URI, path or document id) contains `<text>` (every item
without it): the step runner must turn it into that item's quarantine row and go on
(`tests/flows/test_item_isolation.py`). `DOCMILL_STEP_HANG` (same syntax) makes the step hang instead, as a
pathological document would: only the killable worker's time limit ends it (`tests/test_stagework.py`).
"""

from __future__ import annotations

import os
import signal
import time
from collections import Counter

POINTS = ("ingest", "extract", "embed", "publish", "version")
_reached: Counter[str] = Counter()


class InjectedFault(RuntimeError):
    """The exception `DOCMILL_STEP_FAULT` raises in a per-item step."""


def step_fault(step: str, label: str) -> None:
    """Raise `InjectedFault` when `DOCMILL_STEP_FAULT` names `step` (and a text found in `label`); hang (an hour)
    when `DOCMILL_STEP_HANG` does."""
    if _named("DOCMILL_STEP_FAULT", step, label):
        raise InjectedFault(f"fault injected into step {step!r}")
    if _named("DOCMILL_STEP_HANG", step, label):
        time.sleep(3600)


def _named(variable: str, step: str, label: str) -> bool:
    for target in filter(None, os.environ.get(variable, "").split(",")):
        name, _, text = target.partition(":")
        if name == step and text in label:
            return True
    return False


def checkpoint(point: str) -> None:
    """Die here, as `kill -9` would, when `DOCMILL_FAULT` names this point (and occurrence)."""
    target = os.environ.get("DOCMILL_FAULT", "")
    if not target.startswith(point):
        return
    name, _, nth = target.partition(":")
    if name != point:
        return
    _reached[point] += 1
    if _reached[point] == int(nth or 1):
        os.kill(os.getpid(), signal.SIGKILL)
