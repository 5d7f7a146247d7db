import json
import subprocess
import sys
from dataclasses import FrozenInstanceError
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from docmill.config.settings import VersionConfig
from docmill.records import DatasetVersion
from docmill.stages.version import version
from docmill.state.datarepo import DataRepo, file_sha256

DIM = 3


def _rows(texts: list[str]) -> list[dict]:
    rows = []
    for i, text in enumerate(texts):
        vector = np.array([1.0, float(i), 0.0], dtype=np.float32)
        rows.append(
            {
                "chunk_id": f"c{i}",
                "doc_id": "d" * 64,
                "chunk_index": i,
                "point_id": f"p{i}",
                "text": text,
                "token_count": 2,
                "char_start": 0,
                "char_end": len(text),
                "page_start": 1,
                "page_end": 1,
                "metadata": json.dumps({"source_uri": "file:///x", "title": "X", "model": "m@1"}),
                "vector": (vector / np.linalg.norm(vector)).tobytes(),
            }
        )
    return rows


def test_versions_are_content_addressed_tagged_and_pushed(tmp_path: Path) -> None:
    repo = DataRepo(tmp_path / "datasets", "local", str(tmp_path / "remote"))
    repo.ensure()
    config = VersionConfig(dataset_name="demo")
    first = version([_rows(["alpha", "beta"])], config, repo, DIM, {"run_id": "r1"})
    version_id, tag = first.version_id, first.tag
    assert tag == "demo@v1" and version_id.endswith(".dir") and first.stats["new_version"] == 1
    table = pq.read_table(repo.dataset_dir("demo") / "chunks.parquet")
    assert table.column("text").to_pylist() == ["alpha", "beta"]
    assert table.schema.field("embedding").type.list_size == DIM
    manifest = json.loads((repo.dataset_dir("demo") / "manifest.json").read_text())
    assert manifest["rows"] == 2 and manifest["run_id"] == "r1"

    same = version([_rows(["alpha", "beta"])], config, repo, DIM, {"run_id": "r2"})
    assert [same.version_id, same.tag] == [version_id, "demo@v1"] and same.stats["new_version"] == 0

    changed = version([_rows(["alpha", "gamma"])], config, repo, DIM, {"run_id": "r3"})
    assert changed.tag == "demo@v2" and changed.version_id != version_id
    assert repo.status_clean()
    tags = subprocess.run(["git", "-C", str(repo.root), "tag"], capture_output=True, text=True).stdout.split()
    assert tags == ["demo@v1", "demo@v2"]
    remote_files = [p for p in (tmp_path / "remote").rglob("*") if p.is_file()]
    assert len(remote_files) >= 4, "both versions' files and directory listings were pushed"
    dvc = Path(sys.executable).with_name("dvc")
    out = subprocess.run([str(dvc), "status", "--cloud"], cwd=repo.root, capture_output=True, text=True)
    assert out.returncode == 0 and "in sync" in out.stdout


def test_a_version_whose_push_failed_is_completed_by_the_next_attempt(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the remote folder should be")
    repo = DataRepo(tmp_path / "datasets", "local", str(tmp_path / "remote"))
    repo.ensure()
    from dvc.repo import Repo

    with Repo(str(repo.root)) as dvc_repo, dvc_repo.config.edit() as conf:
        conf["remote"]["local"] = {"url": str(blocker / "remote")}
    config = VersionConfig(dataset_name="demo")
    with pytest.raises(Exception):  # noqa: B017  # DVC's own error type for an unusable remote
        version([_rows(["alpha"])], config, repo, DIM, {"run_id": "r1"})
    assert not repo.is_committed("demo")
    with Repo(str(repo.root)) as dvc_repo, dvc_repo.config.edit() as conf:
        conf["remote"]["local"] = {"url": str(tmp_path / "remote")}
    retry = version([_rows(["alpha"])], config, repo, DIM, {"run_id": "r2"})
    assert retry.tag == "demo@v1" and retry.stats["new_version"] == 1
    assert repo.is_committed("demo") and repo.status_clean()


def test_a_git_lock_left_by_a_killed_run_does_not_block_the_next_version(tmp_path: Path) -> None:
    repo = DataRepo(tmp_path / "datasets", "local", str(tmp_path / "remote"))
    repo.ensure()
    (repo.root / ".git" / "index.lock").write_text("")  # as if a run died inside `git commit`
    result = version([_rows(["alpha"])], VersionConfig(dataset_name="demo"), repo, DIM, {"run_id": "r1"})
    assert result.tag == "demo@v1" and repo.is_committed("demo")


def test_a_cut_reports_a_typed_dataset_version_and_the_repository_writes_its_files(tmp_path: Path) -> None:
    repo = DataRepo(tmp_path / "datasets", "local", str(tmp_path / "remote"))
    repo.ensure()
    config = VersionConfig(dataset_name="demo")
    first = version([_rows(["alpha"]), _rows(["beta", "gamma"])], config, repo, DIM, {"run_id": "r1"})
    assert isinstance(first, DatasetVersion)
    assert first.rows == 3 and first.new and first.seconds > 0
    assert first.version_id == repo.version_id("demo") and first.tag == repo.current_tag("demo") == "demo@v1"
    assert first.stats == {"rows": 3, "new_version": 1, "seconds": first.seconds}
    assert not repo.staging_dir("demo").exists(), "the staged version was put in place"
    manifest = repo.manifest("demo")
    assert manifest is not None and manifest["data_sha256"] == file_sha256(repo.dataset_dir("demo") / "chunks.parquet")
    with pytest.raises(FrozenInstanceError):
        first.tag = "other"  # type: ignore[misc]

    again = version([_rows(["alpha"]), _rows(["beta", "gamma"])], config, repo, DIM, {"run_id": "r2"})
    assert (again.version_id, again.tag, again.rows, again.new) == (first.version_id, "demo@v1", 3, False)
    assert again.stats["new_version"] == 0 and not repo.staging_dir("demo").exists()
    assert repo.manifest("demo") == manifest, "an unchanged cut leaves the current version's files alone"
