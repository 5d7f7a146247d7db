"""Scale-out: the same corpus through the thread runner and through a real `distributed.LocalCluster` of two
worker processes (prefect-dask) gives the same points, payloads and dataset content, and the stage work
really ran in the Dask workers."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import yaml

from tests.helpers import qdrant_points

ROOT = Path(__file__).resolve().parents[2]
MIXED = ("fake-email.eml", "fake-html.html", "docx-tables.docx", "pdf/fake-bold-sample.pdf", "norwich-city.txt")


def _run(base: Path, inbox: Path, api: str, pipeline: dict[str, Any]) -> dict[str, Any]:
    config = {
        "paths": {"data_dir": str(base / "data")},
        "pipeline": {"batch_size": 3, **pipeline},  # several batches: extraction runs one batch ahead
        "ingest": {"sources": [str(inbox)]},
        "version": {"remote_url": str(base / "remote")},
    }
    (base / "c.yaml").write_text(yaml.safe_dump(config))
    command = [sys.executable, "-m", "flows.pipeline", "--config", str(base / "c.yaml")]
    env = {**os.environ, "PREFECT_API_URL": api}
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _normalised(values: dict[str, Any], data: Path) -> str:
    """JSON of a payload or dataset row without what differs between two data folders: the run id, and for
    archive members (extracted into the data folder) the folder's path and the extraction time."""
    text = json.dumps({k: v for k, v in values.items() if k != "run_id"}, sort_keys=True, default=str)
    if str(data.resolve()) in text:
        text = text.replace(str(data.resolve()), "<data>")
        text = re.sub(r'"file_mtime": "[^"]*"', '"file_mtime": null', text)
    return text


def _payload_hashes(data: Path) -> dict[str, str]:
    """point id -> sha256 of its normalised payload."""
    return {
        point_id: hashlib.sha256(_normalised(payload, data).encode()).hexdigest()
        for point_id, payload in qdrant_points(data).items()
    }


def _dataset(data: Path) -> list[str]:
    """The dataset's rows (embeddings included, exactly), normalised."""
    table = pq.read_table(data / "datasets" / "default" / "chunks.parquet")
    return [_normalised({**row, "metadata": json.loads(row["metadata"])}, data) for row in table.to_pylist()]


def _manifest(data: Path) -> dict[str, Any]:
    return json.loads((data / "datasets" / "default" / "manifest.json").read_text())


def test_thread_and_dask_runners_give_the_same_dataset(
    prefect_api: str, sample_corpus: Path, shared_corpus: Path, tmp_path: Path
) -> None:
    inbox = tmp_path / "inbox"  # one folder read by both runs: same URIs, same mtimes
    shutil.copytree(sample_corpus, inbox)
    for name in MIXED:
        shutil.copy2(shared_corpus / name, inbox / Path(name).name)
    (tmp_path / "threads").mkdir(), (tmp_path / "dask").mkdir()
    threads = _run(tmp_path / "threads", inbox, prefect_api, {"task_runner": "thread"})
    dask = _run(tmp_path / "dask", inbox, prefect_api, {"task_runner": "dask", "dask_workers": 2})

    flow_pids = {w.split(" ", 1)[1] for w in threads["workers"]}
    dask_pids = {w.split(" ", 1)[1] for w in dask["workers"]}
    assert len(flow_pids) == 1, "the thread runner works in the flow process"
    assert len(dask_pids) == 2, f"both Dask workers did stage work: {dask['workers']}"
    assert {w.split(" ", 1)[0] for w in dask["workers"]} == {"extract", "chunk", "enrich", "embed"}

    assert threads["documents"] == dask["documents"] and threads["quarantine"] == dask["quarantine"]
    hashes = _payload_hashes(tmp_path / "threads" / "data")
    assert len(hashes) == threads["points"] > 0
    assert hashes == _payload_hashes(tmp_path / "dask" / "data"), "same point ids, same payloads"
    one, two = _manifest(tmp_path / "threads" / "data"), _manifest(tmp_path / "dask" / "data")
    assert one["rows"] == two["rows"] == threads["dataset_rows"] and threads["dataset_tag"] == dask["dataset_tag"]
    assert _dataset(tmp_path / "threads" / "data") == _dataset(tmp_path / "dask" / "data")
    derived = sum("<data>" in row for row in _dataset(tmp_path / "dask" / "data"))
    assert 0 < derived < one["rows"], "archive members are compared normalised, every other row byte for byte"
