"""One item never stops the run, through the real flow (Prefect test server, embedded Qdrant, the real model):
an exception injected into each per-item step quarantines that item with the step and the exception named,
a ZIP member Python cannot decompress is refused alone, and fuzzed copies of shared-corpus files (truncated,
bit-flipped, spliced) all end accounted for in a completed run."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from benchmarks.fuzz_corpus import accounted, write_corpus
from docmill.samples import paragraphs
from tests.helpers import qdrant_points
from tests.test_archives import iwork_zip

pytestmark = pytest.mark.e2e
FAULTED = ("list", "hash", "expand", "parse", "prepare", "clean", "dedup", "chunk", "enrich")  # all but `stage`:
# remote items only (tests/sources/test_sql.py)


def _config(root: Path, inbox: Path, **extra: Any) -> Path:
    config = {
        "paths": {"data_dir": str(root / "data")},
        "pipeline": {"batch_size": 8},
        "ingest": {"sources": [str(inbox)]},
        "version": {"remote_url": str(root / "remote"), "dataset_name": "isolation"},
        **extra,
    }
    (root / "docmill.yaml").write_text(yaml.safe_dump(config))
    return root / "docmill.yaml"


def _run(config: Path) -> dict[str, Any]:
    from flows.pipeline import pipeline

    return pipeline(config_path=str(config))


def test_an_exception_in_each_per_item_step_quarantines_that_item_and_the_run_completes(
    prefect_api: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    texts = iter(paragraphs(11, 12, 4))
    for step in FAULTED:
        if step == "expand":
            with zipfile.ZipFile(inbox / "f-expand.zip", "w") as archive:
                archive.writestr("member.txt", next(texts))
        else:
            (inbox / f"f-{step}.txt").write_text(next(texts))
    (inbox / "fine.md").write_text("# Fine\n\n" + next(texts))
    (inbox / "report.pages").write_bytes(iwork_zip(next(texts).encode()))  # Apple iWork: method 25451
    monkeypatch.setenv("DOCMILL_STEP_FAULT", ",".join(f"{step}:f-{step}." for step in FAULTED))
    # a parser pool of its own (another timeout): its worker processes start with the fault in their environment
    summary = _run(_config(tmp_path, inbox, extract={"timeout_s": 97}))

    assert summary["dataset_version"]  # the run completed and versioned its dataset
    rows = {r["source_uri"].rsplit("/", 1)[-1]: r for r in _rows(tmp_path / "data")}
    for step in FAULTED:
        name = f"f-{step}.zip" if step == "expand" else f"f-{step}.txt"
        assert rows[name]["reason"] == f"step_failed:{step}:InjectedFault", (name, dict(rows.get(name, {})))
        assert f"{step} raised InjectedFault" in rows[name]["message"]
    assert rows["Document.iwa"]["reason"] == "unsupported_compression"
    embedded = {p["source_uri"].split("/inbox/", 1)[1] for p in qdrant_points(tmp_path / "data").values()}
    assert embedded == {"fine.md", "report.pages!/preview.txt"}
    outcomes, missing = accounted(tmp_path / "data", inbox)
    assert not missing and outcomes["report.pages"] == "container"


def _rows(data: Path) -> list[Any]:
    import sqlite3

    db = sqlite3.connect(data / "catalog.sqlite")
    db.row_factory = sqlite3.Row
    return db.execute("SELECT * FROM quarantine WHERE chunk_id IS NULL AND part IS NULL").fetchall()


def test_a_fuzzed_slice_of_the_shared_corpora_ends_with_every_file_accounted_for(
    prefect_api: str, shared_corpus: Path, tmp_path: Path
) -> None:
    inbox = tmp_path / "inbox"
    # the smallest file of each of the 40 format kinds of the three corpora, each with one of the 8 mutations in turn
    files = write_corpus(shared_corpus.parent, inbox, kinds=True, rotate=True)
    summary = _run(_config(tmp_path, inbox, extract={"timeout_s": 10}))
    outcomes, missing = accounted(tmp_path / "data", inbox)
    assert files >= 40 and not missing, missing
    assert summary["dataset_version"] and len(outcomes) == files
