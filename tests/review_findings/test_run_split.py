"""Hostile review of the run split (issue 21, 606e1d8..2b66590: `RunContext`, `Ingestion`, `Bookkeeping`, the
pipeline as data in `run/plan.py`, `Catalog.transaction()` without a connection).

Tests "Found by review" assert the behaviour a reviewer expected and failed on the reviewed code: each one is a
finding (see the review report). The others pin behaviour that was checked and found right."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from docmill.config.settings import PathsConfig, Settings
from docmill.state.catalog import PENDING, Catalog
from tests.conftest import ROOT

# In a child process (the fault point kills it): one ingested file, then its batch's turn reaches the AT_TURN
# `extract` step with a whole-document reject of that file, taken the one way (`plan.take`).
_EXTRACT_TURN = """
import sys
from pathlib import Path

import pytest
from docmill.config.settings import PathsConfig, Settings
from docmill.records import Reject, StageResult
from docmill.run import plan
from docmill.run.bookkeeping import Bookkeeping
from docmill.run.context import RunContext
from docmill.run.ingestion import Ingestion
from docmill.run.runstats import RunStats
from docmill.sources.folder import FolderSource, sha256_file
from docmill.stages.ingest import ingest

base = Path(sys.argv[1])
ctx = RunContext(Settings(paths=PathsConfig(data_dir=base / "data")), "r1")
items = list(FolderSource(base / "in", ["**/*"], []).list())
Ingestion(ctx).record_sources(ingest(items, lambda uri: None, sha256_file).records)
book = Bookkeeping(ctx)
[sources] = list(book.pending_batches(10))
source = sources[0]
extracted = StageResult([], [Reject("extract", "corrupt_pdf", "broken xref", source.doc_id, source.source_uri)])
batch = plan.Batch(1, sources, extracted=extracted)
book.start_batch(sources)
print("turn", flush=True)
plan.take(plan.AT_TURN[0], batch, extracted, RunStats(), book)
print("survived", flush=True)
"""


def test_extract_fault_point_fires_before_the_batch_is_recorded(tmp_path: Path) -> None:
    """Found by review (low): `DOCMILL_FAULT=extract` is documented (isolation/faults.py) as "a batch parsed,
    nothing recorded", and the old flow (bd7d882 `_process_batch`) killed there before the extract rejects were
    recorded. `plan.take` records the rejects first (`Bookkeeping.record_rejects`: quarantine rows, the
    document's `quarantined` status, `document_quarantined` audit entries) and only then reaches the point, so
    the crash-resume test's `extract:2` no longer kills a batch with nothing of it recorded."""
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "report.pdf").write_bytes(b"%PDF-1.4 not really a pdf")
    env = {**os.environ, "DOCMILL_FAULT": "extract", "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}"}
    child = [sys.executable, "-c", textwrap.dedent(_EXTRACT_TURN), str(tmp_path)]
    done = subprocess.run(child, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert "turn" in done.stdout, done.stderr[-3000:]
    assert done.returncode == -9, f"the fault point did not fire: {done.stdout} {done.stderr[-2000:]}"
    catalog = Catalog(Settings(paths=PathsConfig(data_dir=tmp_path / "data")).paths.catalog, read_only=True)
    statuses = [row["status"] for row in catalog.query("SELECT status FROM documents")]
    rejects = catalog.quarantine()
    assert statuses == [PENDING] and rejects == [], f"recorded before the point: {statuses}, {len(rejects)} rejects"


def test_near_duplicate_index_writes_outside_a_transaction_raise(tmp_path: Path) -> None:
    """Found by review (low): docs/architecture.md says "a write method called outside a transaction raises
    instead of committing half a change", and `Catalog.near_duplicates` says the index's `add` and `remove`
    "never commit on their own". The index writes on the catalog's autocommit connection without the catalog's
    guard (`CatalogBase._execute`): outside `transaction()` every statement commits by itself (here the
    signature row, then its band rows), exactly the half change the guard exists to refuse."""
    from docmill.config.settings import DedupConfig

    path = tmp_path / "catalog.sqlite"
    catalog = Catalog(path)
    with catalog.transaction():
        index = catalog.near_duplicates(DedupConfig())  # opened (tables created) inside one, as the run does
    signature = index.signature("the quarterly maintenance report for the east wing, with its inspection notes")
    with pytest.raises(RuntimeError, match="outside a transaction"):
        index.add("doc-a", signature)
    catalog.close()
    committed = Catalog(path, read_only=True).query("SELECT COUNT(*) n FROM neardup_signatures")[0]["n"]
    assert committed == 0, "the index's write committed on its own"
