"""Switching the embedding backend through the real flow: every document is reprocessed (config_key), every
chunk embedded again (model_key -> cache miss), and every point ends with vectors and lineage of the new
backend only."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from docmill.embedding.onnx import EXPORT_VERSION
from tests.helpers import qdrant_points

ROOT = Path(__file__).resolve().parents[2]


def _run(config: Path, api: str) -> dict:
    env = {**os.environ, "PREFECT_API_URL": api}
    command = [sys.executable, "-m", "flows.pipeline", "--config", str(config)]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_switching_backend_reprocesses_and_re_embeds_without_mixing(
    prefect_api: str, shared_corpus: Path, tmp_path: Path, models_dir: Path
) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for name in ("book-war-and-peace-1p.txt", "README.md", "fake-text.txt"):
        (inbox / name).write_bytes((shared_corpus / name).read_bytes())
    config = {
        "paths": {"data_dir": str(tmp_path / "data")},
        "ingest": {"sources": [str(inbox)]},
        "version": {"remote_url": str(tmp_path / "remote")},
        "embed": {"backend": "torch", "precision": "fp32", "models_dir": str(models_dir)},
    }
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(config))
    first = _run(path, prefect_api)
    torch_points = qdrant_points(tmp_path / "data")
    assert first["chunks_embedded"] > 0 and {p["model"].rsplit("+", 1)[1] for p in torch_points.values()} == {
        "torch-fp32"
    }

    config["embed"] = {**config["embed"], "backend": "onnx", "precision": "int8"}
    path.write_text(yaml.safe_dump(config))
    second = _run(path, prefect_api)
    assert second["ingest"]["requeued_for_new_settings"] == first["documents"]["embedded"]
    assert second["chunks_cached"] == 0 and second["chunks_embedded"] == first["chunks_embedded"]
    onnx_points = qdrant_points(tmp_path / "data")
    assert set(onnx_points) == set(torch_points)  # same chunks, same point ids
    assert {p["model"].rsplit("+", 1)[1] for p in onnx_points.values()} == {f"onnx-int8-r{EXPORT_VERSION}"}
    assert second["dataset_version"] != first["dataset_version"]  # the vectors changed: a new version

    third = _run(path, prefect_api)  # unchanged settings: nothing to do
    assert third["chunks_embedded"] == 0 and third["ingest"]["requeued_for_new_settings"] == 0
