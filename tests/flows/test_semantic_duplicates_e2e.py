"""Semantic near-duplicate chunks through the real flow: real parsing, the bundled model, the embedded Qdrant store.

`a.md` and `b.md` share a paragraph, reworded a little in `b.md` (cosine 0.997 with the bundled model); `c.md`
says the same about other terms (0.92: below the 0.97 threshold). Contextualizing is off so the paragraphs
embed as themselves (with it, each copy embeds with its own document's title first: see docs/quality.md).

- flag: `b.md`'s copy is published with `semantic_duplicate_of` naming `a.md`'s chunk; the summary and the snapshot
  card count it. Once `a.md` is deleted, `b.md` is processed again and its copy is canonical.
- drop: `b.md`'s copy is quarantined (reason `semantic_duplicate`, naming `a.md`), in neither Qdrant nor the
  dataset; `d.md`, holding only another copy, becomes a duplicate of `a.md` (found in the collection). Once `a.md`
  is deleted, `b.md` gets its copy back and `d.md` becomes a duplicate of `b.md`.
- off (the default): nothing of it runs; turned on later, every document is judged again as in a first run.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
import yaml

from docmill.run.params import PipelineParams
from tests.helpers import qdrant_points
from tests.stages.test_semantic_duplicates import CLAIMS, CLAIMS_OTHER_TERMS, CLAIMS_REWORDED

pytestmark = pytest.mark.e2e

A = (
    "# Travel policy\n\nStaff book trains for journeys under four hours and economy flights for longer ones, through "
    "the travel desk, which keeps the company's negotiated rates and the list of approved hotels.\n\n"
    f"## Expense claims\n\n{CLAIMS}\n"
)
B = (
    "# Conference attendance\n\nEach team may send two people to an external conference per year; the talk they "
    "bring back is presented at the monthly engineering forum, and the slides go into the knowledge base.\n\n"
    f"## Expense claims\n\n{CLAIMS_REWORDED}\n"
)
C = (
    "# Contractor rules\n\nContractors keep their own equipment, sign the confidentiality agreement before the "
    "first day and hand their badge back to reception at the end of the engagement.\n\n"
    f"## Expense claims\n\n{CLAIMS_OTHER_TERMS}\n"
)
D = f"## Expense claims\n\n{CLAIMS_REWORDED.replace('all receipts', 'each receipt')}\n"


def _corpus(root: Path, models_dir: Path, semantic: dict[str, Any] | None) -> Path:
    inbox = root / "inbox"
    inbox.mkdir()
    for name, text in (("a.md", A), ("b.md", B), ("c.md", C)):
        (inbox / name).write_text(text)
    config = {
        "paths": {"data_dir": str(root / "data")},
        "ingest": {"sources": [str(inbox)]},
        "chunk": {"contextualize": False},
        "embed": {"models_dir": str(models_dir), **({"semantic_duplicates": semantic} if semantic else {})},
        "version": {"remote_url": str(root / "remote"), "dataset_name": "semdup"},
    }
    (root / "docmill.yaml").write_text(yaml.safe_dump(config))
    return root / "docmill.yaml"


def _run(config: Path, snapshot: str | None = None) -> dict[str, Any]:
    import flows.pipeline as module

    return module.pipeline(params=PipelineParams(config_path=str(config), snapshot_name=snapshot))


def _catalog(data: Path, sql: str) -> list[tuple[Any, ...]]:
    db = sqlite3.connect(data / "catalog.sqlite")
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


def _documents(data: Path) -> dict[str, tuple[str, str, str | None]]:
    """File name -> (doc_id, status, duplicate_of)."""
    rows = _catalog(
        data,
        "SELECT s.source_uri, d.doc_id, d.status, d.duplicate_of FROM sources s JOIN documents d USING(doc_id)",
    )
    return {Path(uri).name: (doc_id, status, duplicate_of) for uri, doc_id, status, duplicate_of in rows}


def _claims(data: Path) -> dict[str, dict[str, Any]]:
    """doc_id -> payload of its `Expense claims` point."""
    return {p["doc_id"]: p for p in qdrant_points(data).values() if p["text"].startswith("Expense claims")}


def test_flag_marks_the_copy_counts_it_and_the_copy_is_canonical_once_its_original_goes(
    prefect_api: str, tmp_path: Path, models_dir: Path
) -> None:
    config = _corpus(tmp_path, models_dir, {"enabled": True, "policy": "flag"})
    data = tmp_path / "data"
    summary = _run(config, snapshot="semdup-ft")

    docs = _documents(data)
    assert {status for _, status, _ in docs.values()} == {"embedded"}
    a, b, c = (docs[name][0] for name in ("a.md", "b.md", "c.md"))
    claims = _claims(data)
    assert claims[b]["semantic_duplicate_of"] == claims[a]["chunk_id"] and claims[b]["semantic_duplicate_doc"] == a
    assert 0.99 < claims[b]["semantic_duplicate_cosine"] <= 1.0
    assert "semantic_duplicate_of" not in claims[a] and "semantic_duplicate_of" not in claims[c], "0.92: not one"
    assert summary["semantic_duplicates"] == {
        "policy": "flag",
        "threshold": 0.97,
        "found": 1,
        "found_in_batch": 0,  # ramp-up: a.md is batch 0 alone, held unpublished while b.md's batch is judged
        "flagged": 1,
        "documents_dropped": 0,
    }
    assert summary["stages"]["semantic_duplicates"]["rejected"] == 0
    stored = _catalog(data, f"SELECT json_extract(metadata, '$.semantic_duplicate_of') FROM chunks WHERE doc_id='{b}'")
    assert claims[a]["chunk_id"] in {row[0] for row in stored}, "the catalog (and so the dataset) carries the flag"

    card = (data / "datasets" / "semdup-ft" / "README.md").read_text()
    assert (
        "## Semantic near-duplicate chunks (flagged with semantic_duplicate_of)\n\n| | |\n|---|---|\n| flagged | 1 |"
        in card
    )
    rows = [r for path in (data / "datasets" / "semdup-ft").glob("*.parquet") for r in pq.read_table(path).to_pylist()]
    assert sum("semantic_duplicate_of" in (r["metadata"] or "") for r in rows) == 1

    (tmp_path / "inbox" / "a.md").unlink()
    summary = _run(config)
    assert _documents(data)["b.md"][1] == "embedded" and "a.md" not in _documents(data)
    assert summary["stages"]["extract"]["in"] == 1, "b.md, whose flagged chunk named a.md's, was processed again"
    assert "semantic_duplicate_of" not in _claims(data)[b] and summary["semantic_duplicates"]["found"] == 0


def test_drop_quarantines_the_copy_and_gives_it_back_once_its_original_goes(
    prefect_api: str, tmp_path: Path, models_dir: Path
) -> None:
    config = _corpus(tmp_path, models_dir, {"enabled": True, "policy": "drop"})
    data = tmp_path / "data"
    summary = _run(config)

    docs = _documents(data)
    a, b = docs["a.md"][0], docs["b.md"][0]
    assert docs["b.md"][1] == "embedded" and set(_claims(data)) == {a, docs["c.md"][0]}, "b.md's copy is dropped"
    canonical = _claims(data)[a]["chunk_id"]
    rejects = _catalog(data, "SELECT doc_id, chunk_id, stage, reason, message, duplicate_of FROM quarantine")
    ((doc_id, chunk_id, stage, reason, message, duplicate_of),) = rejects
    assert (doc_id, stage, reason, duplicate_of) == (b, "semantic_duplicates", "semantic_duplicate", a) and chunk_id
    assert message.startswith("cosine 0.99") and f"chunk {canonical} of document {a}" in message
    assert summary["quarantined_parts"] == {"semantic_duplicates/semantic_duplicate": 1}
    assert summary["semantic_duplicates"]["dropped"] == summary["semantic_duplicates"]["found"] == 1
    assert summary["reject_rates"]["chunks"] == 0.0, "a near-duplicate is no contract violation: the gate ignores it"
    dataset_chunks = _catalog(data, "SELECT chunk_id FROM chunks")
    assert (chunk_id,) not in dataset_chunks and len(dataset_chunks) == len(qdrant_points(data))

    (tmp_path / "inbox" / "d.md").write_text(D)
    summary = _run(config)
    d = _documents(data)["d.md"]
    assert d[1:] == ("duplicate", a), "its only chunk copies a.md's, found in the collection"
    assert summary["semantic_duplicates"]["found"] == 1 and summary["semantic_duplicates"]["found_in_batch"] == 0
    assert summary["semantic_duplicates"]["documents_dropped"] == 1

    (tmp_path / "inbox" / "a.md").unlink()
    summary = _run(config)
    docs = _documents(data)
    assert docs["b.md"][1] == "embedded" and b in _claims(data), "b.md's copy is the only one left: published"
    assert docs["d.md"][1:] == ("duplicate", b), "d.md now copies b.md's chunk"
    assert _catalog(data, "SELECT doc_id, duplicate_of FROM quarantine WHERE chunk_id IS NULL") == [(d[0], b)]


def test_off_by_default_nothing_runs_and_turning_it_on_judges_every_document_as_a_first_run(
    prefect_api: str, tmp_path: Path, models_dir: Path
) -> None:
    """Off: nothing of it runs. Turned on (a settings change: every document is processed again), `a.md` comes
    first again and is canonical: `b.md`'s published points, pending themselves, are no canonical chunks."""
    config = _corpus(tmp_path, models_dir, None)
    data = tmp_path / "data"
    summary = _run(config)
    assert summary["semantic_duplicates"] == {} and "semantic_duplicates" not in summary["stages"]
    assert not any(k.startswith("semantic_duplicate") for p in qdrant_points(data).values() for k in p)
    assert len(_claims(data)) == 3

    settings = yaml.safe_load(config.read_text())
    settings["embed"]["semantic_duplicates"] = {"enabled": True}
    config.write_text(yaml.safe_dump(settings))
    summary = _run(config)
    assert summary["stages"]["extract"]["in"] == 3, "a settings change: every document is processed again"
    docs = _documents(data)
    claims = _claims(data)
    a, b = docs["a.md"][0], docs["b.md"][0]
    assert "semantic_duplicate_of" not in claims[a] and claims[b]["semantic_duplicate_doc"] == a
    assert summary["semantic_duplicates"]["flagged"] == 1
