"""Snapshots load the way users load datasets: Hugging Face `datasets`, offline, every way (the folder through
its README.md card, Parquet and JSONL files, one split and all splits together) on a snapshot whose splits
differ in which columns are empty. The snapshots are cut through the real CLI from a real catalog."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import dvc  # noqa: F401  # DVC binds its log handlers to sys.stdout on import: not to a CliRunner's stream
import pytest
import yaml
from typer.testing import CliRunner

from docmill.cli.main import app
from docmill.snapshots.spec import split_of
from tests.snapshot_catalog import DIM, fill_catalog

SPLITS = {"train": 0.5, "eval": 0.5}
SEED = 3
HEADINGS = ["Quarterly report", "Finance"]


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """No hub lookup: the offline switches (the network guard of conftest blocks any other connection)."""
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import datasets

    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)


def _cli(config: Path, *args: str) -> Any:
    result = CliRunner().invoke(app, [*args, "--config", str(config)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A catalog where only eval documents have a category and only eval chunks have no page, so `category` is
    null in every train row and `page_start`/`page_end` are null in every eval row; train chunks have a heading
    path of two headings, eval chunks only their document's title."""
    root = tmp_path_factory.mktemp("loading")
    catalog = fill_catalog(root / "data" / "catalog.sqlite", documents=12)
    with catalog.transaction():
        for (doc_id,) in catalog._execute("SELECT DISTINCT doc_id FROM chunks").fetchall():
            if split_of(doc_id, SEED, SPLITS) == "eval":
                catalog.update_chunk_metadata(doc_id, {"category": "contracts"})
                catalog._execute("UPDATE chunks SET page_start=NULL, page_end=NULL WHERE doc_id=?", (doc_id,))
                catalog.update_chunk_metadata(doc_id, {"headings": HEADINGS[:1]})
            else:
                catalog.update_chunk_metadata(doc_id, {"headings": HEADINGS})
    catalog.close()
    config = root / "docmill.yaml"
    settings = {
        "paths": {"data_dir": str(root / "data")},
        "ingest": {"sources": [str(root / "corpus")]},
        "version": {"remote_url": str(root / "remote")},
        "snapshot": {"splits": SPLITS, "seed": SEED, "license": "cc-by-4.0", "languages": ["en", "de"]},
    }
    config.write_text(yaml.safe_dump(settings))
    _cli(config, "snapshot", "create", "both")
    text_only = ["--format", "jsonl", "--license", "other", "--split", "train=0.7,test=0.3"]
    _cli(config, "snapshot", "create", "text-only", *text_only)
    return root / "data" / "datasets"


def _load(*args: Any, **kwargs: Any) -> Any:
    from datasets import load_dataset

    return load_dataset(*args, **kwargs)


def test_the_planted_splits_differ_in_which_columns_are_empty(data: Path) -> None:
    import pyarrow.parquet as pq

    train = pq.read_table(data / "both" / "train.parquet").to_pylist()
    evals = pq.read_table(data / "both" / "eval.parquet").to_pylist()
    assert train and evals
    assert all(r["category"] is None and r["page_start"] == 1 for r in train)
    assert all(r["category"] == "contracts" and r["page_start"] is None for r in evals)
    assert {r["run_id"] for r in train + evals} == {"run-1"}
    assert pq.read_schema(data / "both" / "train.parquet") == pq.read_schema(data / "both" / "eval.parquet")


@pytest.mark.parametrize("order", [("train", "eval"), ("eval", "train")])
def test_jsonl_files_load_all_splits_together_in_any_order(data: Path, tmp_path: Path, order: tuple[str, str]) -> None:
    folder = data / "both"
    files = {name: str(folder / f"{name}.jsonl") for name in order}
    loaded = _load("json", data_files=files, cache_dir=str(tmp_path))
    manifest = json.loads((folder / "manifest.json").read_text())
    assert {s: loaded[s].num_rows for s in order} == {s: manifest["splits"][s]["chunks"] for s in order}
    assert loaded["train"].features == loaded["eval"].features
    assert loaded["train"].features["category"].dtype == "string"
    assert loaded["eval"].features["page_start"].dtype == "int64"
    assert set(loaded["train"]["category"]) == {""} and set(loaded["eval"]["category"]) == {"contracts"}
    assert set(loaded["eval"]["page_start"]) == {0} and set(loaded["train"]["page_start"]) == {1}


@pytest.mark.parametrize("fmt,builder", [("jsonl", "json"), ("parquet", "parquet")])
def test_one_split_alone_loads_from_its_file(data: Path, tmp_path: Path, fmt: str, builder: str) -> None:
    for split in ("train", "eval"):
        loaded = _load(builder, data_files={split: str(data / "both" / f"{split}.{fmt}")}, cache_dir=str(tmp_path))
        assert list(loaded) == [split] and loaded[split].num_rows > 0


def test_parquet_files_load_all_splits_with_one_schema(data: Path, tmp_path: Path) -> None:
    files = {name: str(data / "both" / f"{name}.parquet") for name in ("eval", "train")}
    loaded = _load("parquet", data_files=files, cache_dir=str(tmp_path))
    assert loaded["train"].features == loaded["eval"].features
    assert set(loaded["train"]["category"]) == {None} and set(loaded["eval"]["page_start"]) == {None}
    assert len(loaded["train"][0]["embedding"]) == DIM


def test_the_folder_loads_train_and_validation_through_its_card(data: Path, tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    folder = data / "both"
    text = (folder / "README.md").read_text()
    meta = yaml.safe_load(text.split("---\n")[1])
    assert meta["license"] == "cc-by-4.0" and meta["language"] == ["en", "de"] and meta["pretty_name"] == "both"
    assert "# Dataset card: both" in text
    loaded = _load(str(folder), cache_dir=str(tmp_path))
    assert sorted(loaded) == ["train", "validation"], "eval is the validation split (not test)"
    manifest = json.loads((folder / "manifest.json").read_text())
    assert loaded["validation"].num_rows == manifest["splits"]["eval"]["chunks"]
    assert loaded["train"].column_names == manifest["columns"]["parquet"]
    assert loaded["train"].features["embedding"].length == DIM
    assert loaded["validation"]["chunk_id"] == pq.read_table(folder / "eval.parquet")["chunk_id"].to_pylist()
    assert set(loaded["validation"]["category"]) == {"contracts"} and set(loaded["train"]["category"]) == {None}
    assert loaded["validation"].features["page_start"].dtype == "int32", "the card's types"
    snippet = text.split("```python\n")[1].split("```")[0].replace("path/to", str(data))
    calls = [line for line in snippet.splitlines() if line.startswith("ds = ")]
    assert len(calls) == 3, "the folder, the Parquet files, the JSONL files"
    for call in calls:  # the card's own instructions work as written
        scope: dict[str, Any] = {"load_dataset": lambda *a, **k: _load(*a, **k, cache_dir=str(tmp_path))}
        exec(call, scope)
        assert sorted(scope["ds"]) == ["train", "validation"]
    one = _load(str(folder), split="validation", cache_dir=str(tmp_path))
    assert one.num_rows == manifest["splits"]["eval"]["chunks"]


def test_headings_load_as_lists_of_strings_from_every_format(data: Path, tmp_path: Path) -> None:
    folder = data / "both"
    meta = yaml.safe_load((folder / "README.md").read_text().split("---\n")[1])
    assert {"name": "headings", "sequence": "string"} in meta["dataset_info"]["features"]
    through_card = _load(str(folder), cache_dir=str(tmp_path / "card"))
    jsonl = _load(
        "json", data_files={s: str(folder / f"{s}.jsonl") for s in ("eval", "train")}, cache_dir=str(tmp_path)
    )
    for train, evals in ((through_card["train"], through_card["validation"]), (jsonl["train"], jsonl["eval"])):
        assert {tuple(h) for h in train["headings"]} == {tuple(HEADINGS)}
        assert {tuple(h) for h in evals["headings"]} == {tuple(HEADINGS[:1])}
        assert train.features["headings"] == evals.features["headings"]


def test_a_jsonl_only_folder_loads_its_jsonl_as_the_default(data: Path, tmp_path: Path) -> None:
    folder = data / "text-only"
    meta = yaml.safe_load((folder / "README.md").read_text().split("---\n")[1])
    assert [f["path"] for f in meta["configs"][0]["data_files"]] == ["test.jsonl", "train.jsonl"]
    assert meta["license"] == "other"
    loaded = _load(str(folder), cache_dir=str(tmp_path))
    assert sorted(loaded) == ["test", "train"]
    assert loaded["train"].column_names == json.loads((folder / "manifest.json").read_text())["columns"]["jsonl"]
    assert loaded["train"].features["chunk_index"].dtype == "int32", "the card's types, not the JSON's int64"


def test_index_restore_rebuilds_points_from_the_parquet_and_refuses_what_it_cannot(data: Path) -> None:
    import numpy as np
    import pyarrow.parquet as pq
    from qdrant_client import QdrantClient, models

    config = data.parent.parent / "docmill.yaml"
    out = _cli(config, "index", "restore", "both", "--collection", "both-v1").output
    assert "both@v1" in out and "without run_id" not in out
    rows = {
        r["point_id"]: r for s in ("train", "eval") for r in pq.read_table(data / "both" / f"{s}.parquet").to_pylist()
    }
    client = QdrantClient(path=str(data.parent / "qdrant"))
    try:
        points = client.scroll("both-v1", limit=100, with_payload=True, with_vectors=True)[0]
    finally:
        client.close()
    assert {str(p.id) for p in points} == set(rows) and len(points) == 36
    for point in points:
        row = rows[str(point.id)]
        assert point.payload == {
            **json.loads(row["metadata"]),
            **{k: row[k] for k in ("text", "doc_id", "chunk_id", "chunk_index", "char_start", "char_end")},
            **{k: row[k] for k in ("page_start", "page_end", "token_count", "run_id")},
        }
        assert np.allclose(point.vector["dense"], row["embedding"], atol=1e-6)  # type: ignore[index,call-overload]  # unit vectors: cosine keeps them
        assert point.vector["sparse"].indices  # type: ignore[index,union-attr]  # from the payload's text
    live = CliRunner().invoke(app, ["index", "drop", "docmill", "--config", str(config)])
    assert live.exit_code == 1 and "live collection" in live.output
    assert "dropped" in _cli(config, "index", "drop", "both-v1").output
    client = QdrantClient(path=str(data.parent / "qdrant"))
    try:
        assert not client.collection_exists("both-v1")
    finally:
        client.close()
    refused = CliRunner().invoke(app, ["index", "restore", "text-only", "--config", str(config)])
    assert refused.exit_code == 1 and "no Parquet files" in refused.output
    cache = data / ".dvc" / "cache"
    wanted = (data / "both" / "eval.parquet").read_bytes()
    damaged = next(p for p in cache.rglob("*") if p.is_file() and p.read_bytes() == wanted)
    damaged.chmod(0o644)
    damaged.write_bytes(wanted[:-9] + b"corrupted")
    try:
        broken = CliRunner().invoke(app, ["index", "restore", "both", "-c", str(config), "--collection", "x"])
    finally:
        damaged.write_bytes(wanted)
    assert broken.exit_code == 1 and "does not match its manifest" in broken.output
    client = QdrantClient(path=str(data.parent / "qdrant"))
    try:
        assert not client.collection_exists("x"), "nothing written from a damaged version"
        client.create_collection("foreign", vectors_config=models.VectorParams(size=4, distance=models.Distance.DOT))
    finally:
        client.close()
    # a collection docmill did not restore (another application's, on a shared server) is never dropped
    foreign = CliRunner().invoke(app, ["index", "drop", "foreign", "--config", str(config)])
    assert foreign.exit_code == 1 and "not made by docmill index restore" in " ".join(foreign.output.split())
    # a version whose file is in neither the cache nor the remote: a message naming both, no traceback
    moved = [(p, p.with_name(p.name + ".away")) for p in (damaged, data.parent.parent / "remote")]
    for path, away in moved:
        path.rename(away)
    try:
        gone = CliRunner().invoke(app, ["index", "restore", "both", "-c", str(config), "--collection", "y"])
    finally:
        for path, away in moved:
            away.rename(path)
    assert gone.exit_code == 1 and "neither the DVC cache" in " ".join(gone.output.split()), gone.output


def test_restoring_the_pipelines_own_version_says_why_payloads_lack_run_id(tmp_path: Path) -> None:
    """The pipeline's own dataset versions (`chunks.parquet`) never carry `run_id`: restoring one says so, instead
    of blaming the version's age (it was cut a moment ago)."""
    from docmill.config.settings import load_settings
    from docmill.stages.version import version
    from docmill.state.datarepo import DataRepo

    catalog = fill_catalog(tmp_path / "data" / "catalog.sqlite", documents=3)
    config = tmp_path / "docmill.yaml"
    settings = {"paths": {"data_dir": str(tmp_path / "data")}, "version": {"remote_url": str(tmp_path / "remote")}}
    config.write_text(yaml.safe_dump(settings))
    repo = DataRepo.from_settings(load_settings(config))
    repo.ensure()
    try:
        cut = version(catalog.iter_chunks(), load_settings(config).version, repo, DIM, {"run_id": "run-1"})
    finally:
        catalog.close()
    out = " ".join(_cli(config, "index", "restore", cut.tag).output.split())
    assert f"9 points in 'docmill-{cut.tag.replace('@', '-')}'" in out
    assert "payloads without run_id" in out and "predates" not in out
    assert "the pipeline's own dataset versions" in out, out
