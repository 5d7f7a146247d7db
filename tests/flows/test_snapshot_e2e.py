"""Snapshots end to end: the real pipeline flow builds the catalog, the real snapshot flow and CLI cut
versions, DVC and git keep them, HF `datasets` loads the exports and headless Chromium renders the card.

Planted between v1 and v2: one file edited (changed document), one deleted (removed), one added (added), the
rest untouched; a PII value (e-mail), an exact duplicate (CRLF copy) and an empty file (quarantined).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from docmill.cli.main import app
from docmill.state.audit import AuditLog
from tests.helpers import audit_keyring, qdrant_records

pytestmark = pytest.mark.e2e
FILES = {
    "finance/budget.txt": "Budget review\n\nThe finance team approved the quarterly budget for the new warehouse. "
    "Questions about the figures go to anna.berg@example.com before Friday.\n",
    "notes/plan.txt": "Project plan\n\nThe migration of the archive starts in spring. Every team labels its boxes "
    "and the movers collect them on Monday morning.\n",
    "notes/old.txt": "Old notice\n\nThe canteen closes early on the last Friday of the month because of the "
    "cleaning contract with the building services company.\n",
    "hr/policy.md": "# Travel policy\n\nEmployees book trains for trips under five hours. Flights need the approval "
    "of the department head and a written reason.\n",
    "empty.txt": "",
}
CHANGED = (
    "Project plan\n\nThe migration of the archive is postponed to autumn. The movers need a new date and the "
    "budget for extra storage must be approved first.\n"
)
ADDED = (
    "Meeting minutes\n\nThe works council discussed the new parking rules and the bicycle shelter next to the "
    "north entrance of the main building.\n"
)


def _tree_hashes(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


def _cli(config: Path, *args: str) -> Any:
    result = CliRunner().invoke(app, [*args, "--config", str(config)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def _chunks_by_uri(data: Path) -> dict[str, set[str]]:
    db = sqlite3.connect(data / "catalog.sqlite")
    out: dict[str, set[str]] = {}
    for chunk_id, meta in db.execute("SELECT chunk_id, metadata FROM chunks"):
        out.setdefault(json.loads(meta)["source_uri"], set()).add(chunk_id)
    db.close()
    return out


@pytest.fixture(scope="module")
def world(prefect_api: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Two pipeline runs with the planted changes between them; v1 cut by the flow after the first."""
    from flows.pipeline import pipeline
    from flows.snapshot import SnapshotParams, snapshot_flow

    root = tmp_path_factory.mktemp("snap")
    inbox = root / "inbox"
    for rel, text in FILES.items():
        (inbox / rel).parent.mkdir(parents=True, exist_ok=True)
        (inbox / rel).write_text(text)
    (inbox / "hr/policy-crlf.md").write_bytes(FILES["hr/policy.md"].replace("\n", "\r\n").encode())
    config = root / "docmill.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "paths": {"data_dir": str(root / "data")},
                "ingest": {"sources": [str(inbox)]},
                "enrich": {"rules": [{"pattern": "**/finance/**", "department": "finance"}]},
                "version": {"remote_url": str(root / "remote"), "dataset_name": "pipeline"},
                "snapshot": {"splits": {"train": 0.5, "eval": 0.5}, "seed": 7, "license": "cc-by-sa-4.0"},
            }
        )
    )
    data = root / "data"

    pipeline(config_path=str(config))
    chunks_v1 = _chunks_by_uri(data)
    points_v1 = qdrant_records(data)  # the collection as the first run left it (ids, vectors, payloads)
    params = SnapshotParams(name="ft", config_path=str(config), splits={"train": 0.5, "eval": 0.5}, seed=7)
    v1 = snapshot_flow(params)
    files_v1 = _tree_hashes(data / "datasets" / "ft")
    again = json.loads(_cli(config, "snapshot", "create", "ft", "--json").output)  # CLI, same request as the flow
    (inbox / "notes/plan.txt").write_text(CHANGED)
    (inbox / "notes/old.txt").unlink()
    (inbox / "notes/new.txt").write_text(ADDED)
    pipeline(config_path=str(config))
    v2 = json.loads(_cli(config, "snapshot", "create", "ft", "--json").output)
    return {
        "root": root,
        "inbox": inbox,
        "config": config,
        "data": data,
        "v1": v1,
        "again": again,
        "v2": v2,
        "files_v1": files_v1,
        "chunks_v1": chunks_v1,
        "points_v1": points_v1,
        "chunks_v2": _chunks_by_uri(data),
    }


def test_versions_are_content_addressed_and_tagged(world: dict[str, Any]) -> None:
    assert world["v1"]["tag"] == "ft@v1" and world["v1"]["new"]
    assert world["again"]["tag"] == "ft@v1" and not world["again"]["new"], "same content, same version"
    assert world["again"]["version"] == world["v1"]["version"]
    assert world["v2"]["tag"] == "ft@v2" and world["v2"]["new"] and world["v2"]["version"] != world["v1"]["version"]
    listing = json.loads(_cli(world["config"], "snapshot", "list", "--json").output)
    assert [r["tag"] for r in listing if r["tag"].startswith("ft@")] == ["ft@v1", "ft@v2"]
    events = [e for e in AuditLog(world["data"] / "audit/audit.jsonl").entries() if e["event"] == "snapshot_created"]
    assert [e["tag"] for e in events] == ["ft@v1", "ft@v2"]


def test_diff_reports_exactly_the_planted_changes(world: dict[str, Any]) -> None:
    uri = {
        rel: (world["inbox"] / rel).resolve().as_uri() for rel in ("notes/plan.txt", "notes/old.txt", "notes/new.txt")
    }
    result = json.loads(_cli(world["config"], "snapshot", "diff", "ft@v1", "ft@v2", "--json").output)
    assert result["documents"] == {
        "added": [uri["notes/new.txt"]],
        "removed": [uri["notes/old.txt"]],
        "changed": [uri["notes/plan.txt"]],
    }
    before, after = world["chunks_v1"], world["chunks_v2"]
    expected_added = after[uri["notes/new.txt"]] | after[uri["notes/plan.txt"]]
    expected_removed = before[uri["notes/old.txt"]] | before[uri["notes/plan.txt"]]
    assert {c["chunk_id"] for c in result["chunks"]["added"]} == expected_added
    assert {c["chunk_id"] for c in result["chunks"]["removed"]} == expected_removed
    assert result["chunks"]["changed"] == []
    untouched = sum(len(ids) for u, ids in after.items() if u not in (uri["notes/new.txt"], uri["notes/plan.txt"]))
    assert result["chunks"]["unchanged"] == untouched


def test_checkout_restores_v1_byte_for_byte_from_the_remote(world: dict[str, Any]) -> None:
    repo = world["data"] / "datasets"
    shutil.rmtree(repo / ".dvc" / "cache")
    shutil.rmtree(repo / "ft")
    out = _cli(world["config"], "snapshot", "checkout", "ft@v1").output
    assert "ft@v1" in out
    assert _tree_hashes(repo / "ft") == world["files_v1"]
    assert (repo / ".dvc" / "cache").is_dir(), "the files came back through the cache from the remote"


def test_registry_answers_both_directions(world: dict[str, Any], tmp_path: Path) -> None:
    params = tmp_path / "params.yaml"
    params.write_text("learning_rate: 0.0002\nepochs: 3\n")
    metrics = tmp_path / "metrics.json"
    metrics.write_text('{"eval_loss": 1.25}')
    config = world["config"]
    log = AuditLog(world["data"] / "audit/audit.jsonl", audit_keyring(world["data"]))
    recorded_before = len([e for e in log.entries() if e["event"] == "training_recorded"])
    for model, dataset, run, extra in (
        ("llama-ft", "ft@v1", "r1", ["--params", str(params)]),
        ("llama-ft", "ft@v2", "r2", ["--metrics", str(metrics)]),
        ("mistral-ft", "ft@v2", "r3", []),
    ):
        _cli(config, "trainings", "record", "--model", model, "--dataset", dataset, "--run-id", run, *extra)
    by_model = json.loads(_cli(config, "trainings", "list", "--model", "llama-ft", "--json").output)
    assert [r["dataset_tag"] for r in by_model] == ["ft@v1", "ft@v2"]
    by_dataset = json.loads(_cli(config, "trainings", "list", "--dataset", "ft@v2", "--json").output)
    assert sorted(r["model"] for r in by_dataset) == ["llama-ft", "mistral-ft"]
    first = json.loads(_cli(config, "trainings", "show", by_model[0]["id"]).output)
    assert first["dataset_version"] == world["v1"]["version"] and first["params"]["epochs"] == 3
    assert first["config_hash"] and len(first["data_git_rev"]) == 40
    repo = world["data"] / "datasets"
    tracked = subprocess.run(["git", "-C", str(repo), "ls-files", "trainings"], capture_output=True, text=True).stdout
    assert len(tracked.split()) == 3, "every record is committed in the data repository"
    assert len([e for e in log.entries() if e["event"] == "training_recorded"]) == recorded_before + 3
    assert log.verify().problem is None


def test_splits_are_deterministic_and_leak_free(world: dict[str, Any]) -> None:
    import pyarrow.parquet as pq

    from docmill.snapshots.spec import split_of

    folder = world["data"] / "datasets" / "ft"
    owner: dict[str, str] = {}
    for path in folder.glob("*.parquet"):
        for row in pq.read_table(path, columns=["doc_id", "split"]).to_pylist():
            assert row["split"] == path.stem == split_of(row["doc_id"], 7, {"train": 0.5, "eval": 0.5})
            assert owner.setdefault(row["doc_id"], row["split"]) == row["split"], "a document in two splits"
    assert owner


def test_filters_select_by_source_and_department(world: dict[str, Any]) -> None:
    args = ["snapshot", "create", "ft-finance", "--filter", "source=**/finance/**", "--filter", "department=finance"]
    out = json.loads(_cli(world["config"], *args, "--json").output)
    assert out["documents"] == 1 and out["tag"] == "ft-finance@v1"
    shown = json.loads(_cli(world["config"], "snapshot", "show", "ft-finance", "--json").output)["manifest"]
    table = _cli(world["config"], "snapshot", "show", "ft-finance@v1").output
    assert "finance 1" in table and "email 1" in table and "config hash" in table
    assert shown["departments"] == {"finance": 1} and shown["excluded_chunks"]["source"] >= 3
    assert shown["pii"] == {"email": 1}
    assert shown["quarantine"] == {} and shown["dedup"] == {}, "rejects of other sources are not this dataset's"
    folder = world["data"] / "datasets" / "ft-finance"
    card, page = (folder / "README.md").read_text(), (folder / "card.html").read_text()
    for heading in ("Duplicates removed", "Quarantine by reason"):  # nothing to list says so
        assert f"## {heading}\n\n| | |\n|---|---|\n| none |  |\n" in card
        assert f"<h2>{heading}</h2><table>\n<tr><td>none</td><td></td></tr>" in page


def test_exports_load_with_hf_datasets(world: dict[str, Any], tmp_path: Path) -> None:
    from datasets import load_dataset

    from docmill.snapshots.export import JSONL_COLUMNS

    folder = world["data"] / "datasets" / "ft"
    manifest = json.loads((folder / "manifest.json").read_text())
    for fmt, builder in (("parquet", "parquet"), ("jsonl", "json")):
        files = {p.stem: str(p) for p in sorted(folder.glob(f"*.{fmt}"))}
        loaded = load_dataset(builder, data_files=files, cache_dir=str(tmp_path / "hf"))
        for split, part in loaded.items():
            assert part.num_rows == manifest["splits"][split]["chunks"]
            assert part.column_names == manifest["columns"][fmt]
        if fmt == "jsonl":
            assert manifest["columns"]["jsonl"] == list(JSONL_COLUMNS)
        else:
            first = next(iter(loaded.values()))[0]
            assert len(first["embedding"]) == manifest["embedding_dimension"] == 384
    card = (folder / "README.md").read_text()
    meta = yaml.safe_load(card.split("---\n")[1])
    assert meta["license"] == "cc-by-sa-4.0", "the flow's run takes the config's licence"
    assert meta["language"] == ["en"], "no languages configured: the documents' detected languages"
    assert "## Chunks left out by the filters\n\n| | |\n|---|---|\n| none |  |\n" in card, "no filter: none"
    folder_loaded = load_dataset(str(folder), cache_dir=str(tmp_path / "hf"))  # through the folder's README.md card
    assert sorted(folder_loaded) == ["train", "validation"]
    assert folder_loaded["validation"].num_rows == manifest["splits"]["eval"]["chunks"]
    assert folder_loaded["train"].column_names == manifest["columns"]["parquet"]


def test_card_renders_in_chromium_with_the_manifest_numbers(world: dict[str, Any], tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    for model, run in (("llama-ft", "r2"), ("mistral-ft", "r3")):  # the same ids as the registry test records
        _cli(world["config"], "trainings", "record", "--model", model, "--dataset", "ft@v2", "--run-id", run)
    _cli(world["config"], "snapshot", "checkout", "ft@v2")
    out = _cli(world["config"], "snapshot", "card", "ft@v2", "--out", str(tmp_path)).output
    page_path = tmp_path / "ft-v2.html"
    assert str(page_path) in out.replace("\n", "")
    manifest = json.loads((world["data"] / "datasets/ft/manifest.json").read_text())
    args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
    args += ["--disable-component-update", "--no-first-run", "--disable-sync"]
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=args)
        page = browser.new_page()
        errors: list[str] = []
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(page_path.as_uri())
        page.screenshot(path=str(tmp_path / "card.png"), full_page=True)
        charts = page.eval_on_selector_all(
            "img[data-chart]", "els => els.map(e => [e.dataset.chart, e.complete && e.naturalWidth])"
        )
        metrics = page.eval_on_selector_all("[data-metric]", "els => els.map(e => [e.dataset.metric, e.textContent])")
        trainings = page.inner_text("body")
        browser.close()
    assert errors == []
    assert (tmp_path / "card.png").stat().st_size > 10_000
    names = [name for name, _ in charts]
    assert names == ["token_length", "file_types", "languages", "splits", "quality", "pii", "quarantine"]
    assert all(width and width > 0 for _, width in charts)
    assert len(metrics) > 15
    for path, text in metrics:
        value: Any = manifest
        for key in path.split("."):
            value = value[key]
        assert text == str(value), path
    assert manifest["dedup"] == {"clean/duplicate": 1} and manifest["quarantine"], (
        "the planted duplicate and empty file"
    )
    assert "mistral-ft" in trainings and "llama-ft" in trainings


def test_index_restore_brings_back_the_v1_collection_next_to_the_live_one(world: dict[str, Any]) -> None:
    from qdrant_client import QdrantClient

    config, data, before = world["config"], world["data"], world["points_v1"]
    out = _cli(config, "index", "restore", "ft@v1", "--collection", "ft-v1").output
    assert "ft@v1" in out and "ft-v1" in out and "run_id" not in out
    assert qdrant_records(data, "ft-v1") == before, "same point ids, vectors (exact) and payloads as at v1"
    live = qdrant_records(data)
    assert live != before and set(live) - set(before), "the live collection holds v2 and stays as it is"
    out = _cli(config, "index", "restore", "pipeline@v1").output  # the pipeline's own dataset, default name
    assert "docmill-pipeline-v1" in out and "without run_id" in out
    pipeline_v1 = qdrant_records(data, "docmill-pipeline-v1")
    assert {i: (v, {k: x for k, x in p.items() if k != "run_id"}) for i, (v, p) in before.items()} == pipeline_v1
    gone = next(i for i, (_, p) in before.items() if p["source_uri"].endswith("notes/old.txt"))
    assert gone not in live
    client = QdrantClient(path=str(data / "qdrant"))
    try:
        hits = client.query_points("ft-v1", query=before[gone][0], using="dense", limit=3, with_payload=True).points
    finally:
        client.close()
    assert str(hits[0].id) == gone and hits[0].score > 0.999, "the old chunk is found by its vector in the restore"
    again = CliRunner().invoke(app, ["index", "restore", "ft@v1", "--collection", "ft-v1", "--config", str(config)])
    assert again.exit_code == 1 and "exists" in again.output and "--replace" in again.output
    _cli(config, "index", "restore", "ft@v1", "--collection", "ft-v1", "--replace")
    assert qdrant_records(data, "ft-v1") == before
    live_name = CliRunner().invoke(app, ["index", "restore", "ft@v1", "--collection", "docmill", "-c", str(config)])
    assert live_name.exit_code == 1 and "live collection" in live_name.output
    assert qdrant_records(data) == live
    events = [e for e in AuditLog(data / "audit/audit.jsonl").entries() if e["event"] == "index_restored"]
    assert [(e["tag"], e["collection"], e["points"]) for e in events] == [
        ("ft@v1", "ft-v1", len(before)),
        ("pipeline@v1", "docmill-pipeline-v1", len(before)),
        ("ft@v1", "ft-v1", len(before)),
    ]
