"""kill -9 at five points of a run; the next run must converge to exactly the state of an uninterrupted run.

The runs use the shipped default embedding path (`embed.backend: auto`: int8 ONNX Runtime on CPU, one text per
call), whose vectors do not depend on which texts share a batch. torch fp32 pads the texts of a batch
together, so a resumed run (its first batches ramp up again) gives vectors equal to ~1e-7 only
(docs/throughput.md)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
import yaml

from docmill.isolation.faults import POINTS
from docmill.state.audit import AuditLog
from tests.helpers import alive, audit_keyring, comparable, qdrant_points

ROOT = Path(__file__).resolve().parents[2]


def _setup(base: Path, sample_corpus: Path, models_dir: Path) -> Path:
    shutil.copytree(sample_corpus, base / "inbox")
    config = {
        "paths": {"data_dir": str(base / "data")},
        "embed": {"backend": "auto", "models_dir": str(models_dir)},
        "pipeline": {"batch_size": 4},  # several batches: a kill lands between finished and unfinished ones
        "ingest": {"sources": [str(base / "inbox")]},
        "version": {"remote_url": str(base / "remote")},
    }
    (base / "c.yaml").write_text(yaml.safe_dump(config))
    return base / "c.yaml"


def _run(config: Path, api: str, fault: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PREFECT_API_URL": api, "DOCMILL_FAULT": fault or ""}
    command = [sys.executable, "-m", "flows.pipeline", "--config", str(config)]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)


def _state(data: Path) -> dict[str, Any]:
    """What must be identical: Qdrant points (ids, payloads), the dataset rows and vectors, catalog counts."""
    base = data.parent.resolve()
    points = {k: comparable(p, base) for k, p in qdrant_points(data).items()}
    db = sqlite3.connect(data / "catalog.sqlite")
    statuses = dict(db.execute("SELECT status, COUNT(*) FROM documents GROUP BY status").fetchall())
    chunks = db.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]
    db.close()
    rows = [
        comparable(
            {
                **row,
                "metadata": json.loads(row["metadata"]),
                "embedding": hashlib.sha256(json.dumps(row["embedding"]).encode()).hexdigest(),
            },
            base,
        )
        for row in pq.read_table(data / "datasets" / "default" / "chunks.parquet").to_pylist()
    ]
    return {"points": points, "statuses": statuses, "chunks": chunks, "dataset": rows}


@pytest.fixture(scope="module")
def reference(
    prefect_api: str, sample_corpus: Path, models_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    config = _setup(tmp_path_factory.mktemp("uninterrupted"), sample_corpus, models_dir)
    done = _run(config, prefect_api)
    assert done.returncode == 0, done.stderr[-2000:]
    return _state(config.parent / "data")


# the second extract/embed batch and the fifth published document: earlier batches are validated (and mostly
# published: a batch's Qdrant writes run on the publishing thread while the next batches go on) when it dies
KILLS = ["ingest", "extract:2", "embed:2", "publish:5", "version"]


def test_every_fault_point_is_exercised() -> None:
    assert [k.split(":")[0] for k in KILLS] == list(POINTS)


@pytest.mark.parametrize("point", KILLS)
def test_a_run_killed_at_any_point_is_finished_by_the_next(
    point: str, prefect_api: str, reference: dict[str, Any], sample_corpus: Path, models_dir: Path, tmp_path: Path
) -> None:
    config = _setup(tmp_path, sample_corpus, models_dir)
    killed = _run(config, prefect_api, fault=point)
    assert killed.returncode == -9, f"{point}: the fault point was not reached\n{killed.stderr[-2000:]}"
    resumed = _run(config, prefect_api)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    state = _state(tmp_path / "data")
    assert set(state["points"]) == set(reference["points"]), "no duplicate, no orphan, no missing point"
    for point_id, payload in state["points"].items():  # name the first differing field (readable failures)
        expected = reference["points"][point_id]
        assert payload == expected, {
            k: (payload.get(k), expected.get(k)) for k in payload if payload.get(k) != expected.get(k)
        }
    assert state == reference
    assert (
        AuditLog(tmp_path / "data" / "audit" / "audit.jsonl", audit_keyring(tmp_path / "data")).verify().problem is None
    )
    summary = json.loads(resumed.stdout.strip().splitlines()[-1])
    if point == "version":  # everything was published before the kill: nothing is embedded again
        assert summary["chunks_embedded"] == 0


def _catalog_rows(data: Path, sql: str) -> list[tuple[Any, ...]]:
    if not (data / "catalog.sqlite").exists():
        return []
    db = sqlite3.connect(data / "catalog.sqlite", timeout=30)
    try:
        return db.execute(sql).fetchall()
    except sqlite3.OperationalError:  # the tables are not created yet
        return []
    finally:
        db.close()


def test_a_run_killed_with_sigkill_is_recorded_crashed_by_the_next(
    prefect_api: str, sample_corpus: Path, tmp_path: Path
) -> None:
    """`kill -9` of a real run process mid-run: it stays `running` until the next run, which finds the lock's
    holder dead and records it `crashed` in the catalog, in `docmill status`, in the audit trail and in Prefect."""
    from uuid import UUID

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.objects import StateType

    shutil.copytree(sample_corpus, tmp_path / "inbox")
    config = tmp_path / "c.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "paths": {"data_dir": str(tmp_path / "data")},
                "pipeline": {"batch_size": 2},
                "ingest": {"sources": [str(tmp_path / "inbox")]},
                "version": {"remote_url": str(tmp_path / "remote")},
            }
        )
    )
    data = tmp_path / "data"
    env = {**os.environ, "PREFECT_API_URL": prefect_api, "COLUMNS": "250"}
    with (tmp_path / "killed.log").open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "flows.pipeline", "--config", str(config)], cwd=ROOT, env=env, stderr=log
        )
        try:
            deadline = time.monotonic() + 300
            # killed once the run is recorded and its documents are listed: in the middle of its batches
            while not _catalog_rows(data, "SELECT 1 FROM documents WHERE status='pending'") and proc.poll() is None:
                assert time.monotonic() < deadline, "the run never listed its documents"
                time.sleep(0.2)
        finally:
            os.kill(proc.pid, signal.SIGKILL)
            assert proc.wait(timeout=60) == -signal.SIGKILL
    ((killed, status),) = _catalog_rows(data, "SELECT run_id, status FROM runs")
    assert status == "running"
    with get_client(sync_client=True) as client:
        assert client.read_flow_run(UUID(killed)).state.type == StateType.RUNNING
    docmill = str(Path(sys.executable).with_name("docmill"))
    before = subprocess.run([docmill, "status", "-c", str(config)], capture_output=True, text=True, env=env)
    (line,) = [row for row in before.stdout.splitlines() if row.strip("│ ").startswith(killed)]
    assert "process is gone" in line, before.stdout  # said before any run records it

    resumed = _run(config, prefect_api)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    next_run = json.loads(resumed.stdout.strip().splitlines()[-1])["run_id"]
    runs = dict(_catalog_rows(data, "SELECT run_id, status FROM runs"))
    assert runs == {killed: "crashed", next_run: "completed"}
    ((error,),) = _catalog_rows(data, f"SELECT json_extract(summary, '$.error') FROM runs WHERE run_id='{killed}'")
    assert "died without finishing" in error and f"run {killed}, pid {proc.pid}" in error and next_run in error
    status_out = subprocess.run([docmill, "status", "-c", str(config)], capture_output=True, text=True, env=env)
    assert status_out.returncode == 0, status_out.stderr
    (line,) = [row for row in status_out.stdout.splitlines() if row.strip("│ ").startswith(killed)]
    assert "crashed" in line and "running" not in line, status_out.stdout
    with get_client(sync_client=True) as client:
        state = client.read_flow_run(UUID(killed)).state
        assert state.type == StateType.CRASHED and next_run in (state.message or ""), state
        assert client.read_flow_run(UUID(next_run)).state.type == StateType.COMPLETED
    crashed = AuditLog(data / "audit" / "audit.jsonl").show(event="run_crashed")
    assert [(e["run_id"], e["found_by"]) for e in crashed] == [(killed, next_run)]


def test_kill_9_of_docmill_run_ends_the_run_it_started(prefect_api: str, sample_corpus: Path, tmp_path: Path) -> None:
    """`kill -9` of the `docmill run` a user started ends its run: the flow process it started dies with it
    instead of working on headless (holding the data folder's lock, its summary lost); `docmill status` says the
    run's process is gone and the next writer gets the lock at once. The run hangs in its ingest (in the flow
    process) so that the kill lands mid-run."""
    from docmill.state.locks import lock_data_dir

    shutil.copytree(sample_corpus, tmp_path / "inbox")
    config = tmp_path / "c.yaml"
    settings = {
        "paths": {"data_dir": str(tmp_path / "data")},
        "ingest": {"sources": [str(tmp_path / "inbox")]},
        "version": {"remote_url": str(tmp_path / "remote")},
    }
    config.write_text(yaml.safe_dump(settings))
    data = tmp_path / "data"
    env = {**os.environ, "PREFECT_API_URL": prefect_api, "COLUMNS": "250"}
    docmill = str(Path(sys.executable).with_name("docmill"))
    cli = subprocess.Popen(
        [docmill, "run", "-c", str(config)],
        env={**env, "DOCMILL_STEP_HANG": "hash"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    flow = 0
    try:
        deadline = time.monotonic() + 300
        while not flow:  # the run is recorded and its flow process holds the lock
            assert cli.poll() is None and time.monotonic() < deadline, "the run never started"
            holder = (data / "run.lock").read_text() if (data / "run.lock").exists() else ""
            if holder.startswith("run ") and _catalog_rows(data, "SELECT 1 FROM runs WHERE status='running'"):
                flow = int(holder.split(", pid ")[1].split(",")[0])
            time.sleep(0.2)
        assert flow != cli.pid, "the flow runs in a process of its own"
        os.kill(cli.pid, signal.SIGKILL)
        assert cli.wait(timeout=60) == -signal.SIGKILL
        deadline = time.monotonic() + 30
        while alive(flow) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not alive(flow), "the run went on without the docmill run that started it"
        while Path(f"/proc/{flow}").exists() and time.monotonic() < deadline:  # reaped by init, pid free
            time.sleep(0.2)
    finally:
        for pid in (cli.pid, flow):
            if pid and alive(pid):
                os.kill(pid, signal.SIGKILL)
    ((run_id, status),) = _catalog_rows(data, "SELECT run_id, status FROM runs")
    assert status == "running"
    shown = subprocess.run([docmill, "status", "-c", str(config)], capture_output=True, text=True, env=env)
    (line,) = [row for row in shown.stdout.splitlines() if row.strip("│ ").startswith(run_id)]
    assert "process is gone" in line, shown.stdout
    lock_data_dir(data, "the next writer").close()  # free: nobody works on the data folder any more
