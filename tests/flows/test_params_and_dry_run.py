"""Typed run parameters (the UI form) and an honest dry run, through the real flow on the test Prefect server."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import yaml

from docmill.run.params import PipelineParams
from docmill.state.audit import AuditLog
from tests.helpers import qdrant_points

TEXTS = {
    "alpha.txt": "Alpha report\n\nThe alpha team finished the migration of the archive to the new storage.\n",
    "beta.txt": "Beta notes\n\nThe beta group reviewed the supplier contracts and renewed two of them.\n",
    "gamma.txt": "Gamma memo\n\nThe gamma office moves to the third floor at the end of the month.\n",
    "empty.txt": "",
}


def write_small_corpus(root: Path) -> Path:
    """Four text files (one empty: quarantined) and a config for them; returns the config path."""
    inbox = root / "inbox"
    inbox.mkdir(parents=True)
    for name, text in TEXTS.items():
        (inbox / name).write_text(text)
    config = {
        "paths": {"data_dir": str(root / "data")},
        "ingest": {"sources": [str(inbox)]},
        "version": {"remote_url": str(root / "remote"), "dataset_name": "small"},
    }
    (root / "docmill.yaml").write_text(yaml.safe_dump(config))
    return root / "docmill.yaml"


def _catalog_digest(data: Path) -> str:
    db = sqlite3.connect(data / "catalog.sqlite")
    try:
        return hashlib.sha256("\n".join(db.iterdump()).encode()).hexdigest()
    finally:
        db.close()


def test_the_flow_parameters_are_one_typed_model_the_ui_renders() -> None:
    from prefect.utilities.callables import parameter_schema

    from flows.pipeline import pipeline

    schema = parameter_schema(pipeline.fn).model_dump_for_openapi()
    model = schema["definitions"]["PipelineParams"]["properties"]
    assert {"sources", "config_path", "batch_size", "dry_run", "reprocess_quarantined", "snapshot_name"} <= set(model)
    assert model["dry_run"]["type"] == "boolean" and model["batch_size"]["anyOf"][0]["minimum"] == 1
    assert all(field.get("description") for field in model.values())
    with pytest.raises(ValueError, match="snapshot_name"):
        PipelineParams(snapshot_name="../escape")


def test_profile_names_resolve_to_config_files() -> None:
    assert PipelineParams(config_path="nightly").config_file() == Path("configs/nightly.yaml")
    assert PipelineParams(config_path="/etc/docmill.yaml").config_file() == Path("/etc/docmill.yaml")
    assert PipelineParams().config_file() is None


def _run(config: Path, **params: Any) -> dict[str, Any]:
    from flows.pipeline import pipeline

    return pipeline(params=PipelineParams(config_path=str(config), **params))


def test_dry_run_reports_without_writing_then_a_real_run_matches_it(prefect_api: str, tmp_path: Path) -> None:
    config = write_small_corpus(tmp_path)
    data, inbox = tmp_path / "data", tmp_path / "inbox"

    plan = _run(config, dry_run=True)
    assert plan["dry_run"] and plan["counts"]["new"] == 4 and plan["counts"]["listed"] == 4
    assert {Path(f["source_uri"]).name for f in plan["files"]} == set(TEXTS)
    assert not data.exists() or not any(data.iterdir()), "a dry run wrote under data/"

    first = _run(config)
    assert first["documents"]["embedded"] == 3 and first["quarantine"] == {"extract/empty": 1}
    points = qdrant_points(data)
    before = _catalog_digest(data)

    (inbox / "alpha.txt").write_text(TEXTS["alpha.txt"] + "\nA second paragraph about the alpha archive.\n")
    (inbox / "gamma.txt").unlink()
    (inbox / "delta.txt").write_text("Delta minutes\n\nThe delta board approved the new travel budget today.\n")
    plan = _run(config, dry_run=True, reprocess_quarantined=True)
    counts = plan["counts"]
    assert (counts["new"], counts["changed"], counts["unchanged"], counts["deleted"]) == (1, 1, 2, 1)
    assert counts["quarantined_to_reprocess"] == 1 and counts["pending"] == 0
    assert _catalog_digest(data) == before, "a dry run changed the catalog"
    assert qdrant_points(data) == points, "a dry run changed Qdrant"

    second = _run(config, reprocess_quarantined=True, snapshot_name="after-edit")
    assert second["documents"]["embedded"] == 3 and second["snapshot_name"] == "after-edit"
    assert second["snapshot"]["tag"] == "after-edit@v1" and second["snapshot"]["rows"] > 0  # cut from this run
    assert second["dataset_version"] != first["dataset_version"]
    replayed = AuditLog(data / "audit" / "audit.jsonl").show(event="quarantine_replayed")
    assert replayed and replayed[-1]["run_id"] == second["run_id"]
    _check_artifacts(second)


def _check_artifacts(summary: dict[str, Any]) -> None:
    """The run's artifacts: progress at 100 %, stage rows with throughput, the report naming the dataset tag."""
    import json
    from uuid import UUID

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[UUID(summary["run_id"])]))
        )
    by_key = {a.key: a for a in found}
    assert float(by_key["docmill-progress"].data) == 100.0  # type: ignore[arg-type]
    stages = json.loads(by_key["docmill-stage-counts"].data)  # type: ignore[arg-type]
    assert [r["stage"] for r in stages][:2] == ["ingest", "extract"]
    extract = next(r for r in stages if r["stage"] == "extract")
    assert (
        extract["in"] == 3 and extract["rejected"] == 1
    )  # alpha (changed), delta (new), empty (replayed) and extract["per_second"] > 0
    assert summary["dataset_tag"] in str(by_key["docmill-run-report"].data)
    assert "after-edit" in str(by_key["docmill-run-report"].data)
