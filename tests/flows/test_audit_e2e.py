"""The audit trail through the real flow (issue 20): each run anchors the trail's head (dataset manifest, git
commit trailer, Prefect artifact) and refuses to append to a trail that was cut, emptied or re-chained, with a
message saying what to do; `docmill audit verify` agrees, and `docmill audit acknowledge` lets runs go on."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
import yaml

from tests.helpers import rechain_plain

pytestmark = pytest.mark.e2e

NOTE = "The facilities team reviewed the {} plan and agreed on the next steps for the coming quarter's budget."


def _cli(config: str, *args: str) -> Any:
    from typer.testing import CliRunner

    from docmill.cli.main import app

    return CliRunner().invoke(app, [*args, "--config", config])


@pytest.fixture()
def world(prefect_api: str, tmp_path: Path, models_dir: Path) -> dict[str, Any]:
    from flows.pipeline import pipeline

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for topic in ("office move", "server room"):
        (inbox / f"{topic.replace(' ', '-')}.md").write_text(NOTE.format(topic))
    config = {
        "paths": {"data_dir": str(tmp_path / "data")},
        "ingest": {"sources": [str(inbox)]},
        "embed": {"models_dir": str(models_dir)},
        "version": {"remote_url": str(tmp_path / "remote"), "dataset_name": "audited"},
    }
    (tmp_path / "docmill.yaml").write_text(yaml.safe_dump(config))
    summary = pipeline(config_path=str(tmp_path / "docmill.yaml"))
    data = tmp_path / "data"
    return {
        "config": str(tmp_path / "docmill.yaml"),
        "data": data,
        "log": data / "audit" / "audit.jsonl",
        "summary": summary,
    }


def _second_run(world: dict[str, Any]) -> Any:
    from flows.pipeline import pipeline

    return pipeline(config_path=world["config"], return_state=True)


def test_a_run_anchors_the_head_and_verify_cross_checks(world: dict[str, Any]) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    data, summary = world["data"], world["summary"]
    manifest = json.loads((data / "datasets" / "audited" / "manifest.json").read_text())
    entries = [json.loads(line) for line in world["log"].read_text().splitlines()]
    anchored = next(e for e in entries if e["seq"] == manifest["audit_head"]["seq"])
    assert anchored["hash"] == manifest["audit_head"]["hash"] and all("key" in e for e in entries)
    message = subprocess.run(
        ["git", "-C", str(data / "datasets"), "log", "-1", "--format=%B"], capture_output=True, text=True
    ).stdout
    assert f"Audit-Head: {anchored['seq']} {anchored['hash']}" in message
    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[UUID(summary["run_id"])]))
        )
    head = json.loads(next(a for a in found if a.key == "docmill-audit-head").data)  # type: ignore[arg-type]
    assert head == [{"seq": entries[-1]["seq"], "hash": entries[-1]["hash"]}]
    verified = _cli(world["config"], "audit", "verify")
    assert verified.exit_code == 0 and "intact" in verified.output and "1 anchors" in verified.output, verified.output
    assert "1 runs and 2 documents" in verified.output, verified.output


def test_a_cut_tail_stops_the_next_run_instead_of_being_healed(world: dict[str, Any]) -> None:
    log: Path = world["log"]
    lines = log.read_text().splitlines(keepends=True)
    log.write_text("".join(lines[:-1]))
    before = log.read_bytes(), log.with_name("audit.jsonl.head").read_bytes()
    state = _second_run(world)
    assert state.is_failed() and "audit trail" in (state.message or "") and "acknowledge" in (state.message or "")
    assert (log.read_bytes(), log.with_name("audit.jsonl.head").read_bytes()) == before  # nothing appended
    assert _cli(world["config"], "audit", "verify").exit_code == 1


def test_a_cut_tail_with_a_rewritten_head_is_caught_by_the_dataset_anchor(world: dict[str, Any]) -> None:
    log: Path = world["log"]
    manifest = json.loads((world["data"] / "datasets" / "audited" / "manifest.json").read_text())
    keep = [
        line
        for line in log.read_text().splitlines(keepends=True)
        if json.loads(line)["seq"] < manifest["audit_head"]["seq"]
    ]
    log.write_text("".join(keep))
    last = json.loads(keep[-1])
    log.with_name("audit.jsonl.head").write_text(f"{last['seq']} {last['hash']}\n")
    verified = _cli(world["config"], "audit", "verify")
    assert verified.exit_code == 1 and "is missing" in verified.output, verified.output
    state = _second_run(world)
    assert state.is_failed() and "is missing" in (state.message or ""), state.message


def test_a_deleted_trail_is_not_intact_while_the_catalog_holds_runs(world: dict[str, Any]) -> None:
    world["log"].unlink()
    world["log"].with_name("audit.jsonl.head").unlink()
    verified = _cli(world["config"], "audit", "verify")
    assert verified.exit_code == 1 and "runs have no run_started entry" in verified.output, verified.output
    assert _second_run(world).is_failed()
    acknowledged = _cli(world["config"], "audit", "acknowledge", "--reason", "trail lost in a disk failure")
    assert acknowledged.exit_code == 0, acknowledged.output
    state = _second_run(world)  # an explicit gap: runs go on, and the new trail verifies
    assert state.is_completed(), state.message
    verified = _cli(world["config"], "audit", "verify")
    assert verified.exit_code == 0 and "gap acknowledged" in verified.output, verified.output


def test_a_trail_re_chained_with_plain_sha256_is_broken(world: dict[str, Any]) -> None:
    log: Path = world["log"]
    rechain_plain(
        log, {"source_uri": "file:///elsewhere/innocent.md"}, 1
    )  # write access to the data folder, not the key
    verified = _cli(world["config"], "audit", "verify")
    assert verified.exit_code == 1 and "broken" in verified.output, verified.output
    assert _second_run(world).is_failed()
