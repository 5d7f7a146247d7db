"""A Qdrant outage: the publish task retries, the run fails with one line that says what to do, and the next run
completes with every document exactly once.

The outage is real network behaviour for the Qdrant server code path (`embed.qdrant_url`): a loopback TCP
server that accepts each connection and closes it at once, as a crashing or restarting Qdrant does. No Qdrant
server binary exists here, so the recovery run uses the embedded store in the same data folder."""

from __future__ import annotations

import socket
import sqlite3
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from docmill.run.params import PipelineParams
from tests.flows.test_params_and_dry_run import write_small_corpus
from tests.helpers import qdrant_points

pytestmark = pytest.mark.e2e


@pytest.fixture()
def dead_qdrant() -> Iterator[dict[str, object]]:
    """A loopback server that drops every connection; yields its URL and the count of connections it took."""
    listener = socket.create_server(("127.0.0.1", 0))
    seen: Counter[str] = Counter()
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            seen["connections"] += 1
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield {"url": f"http://127.0.0.1:{listener.getsockname()[1]}", "seen": seen}
    stop.set()
    thread.join()
    listener.close()


def test_outage_retries_then_one_line_failure_then_the_next_run_completes(
    prefect_api: str, tmp_path: Path, dead_qdrant: dict[str, object], monkeypatch: pytest.MonkeyPatch
) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    import flows.pipeline as module
    from flows import publishing

    config = write_small_corpus(tmp_path)
    settings = yaml.safe_load(config.read_text())
    settings["embed"] = {"qdrant_url": dead_qdrant["url"]}
    settings["pipeline"] = {"batch_size": 2}
    outage = tmp_path / "outage.yaml"
    outage.write_text(yaml.safe_dump(settings))
    # the production delays are 2, 10 and 30 s; the count of retries is what this test is about
    monkeypatch.setattr(publishing, "publish_task", publishing.publish_task.with_options(retry_delay_seconds=0))

    state = module.pipeline(params=PipelineParams(config_path=str(outage)), return_state=True)
    assert state.is_failed()
    line = f"Qdrant unreachable at {dead_qdrant['url']} after 3 retries; check the qdrant service"
    assert line in (state.message or ""), state.message
    with get_client(sync_client=True) as client:
        flow_run = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[state.state_details.flow_run_id]))
        )[0]
        tasks = {
            t.name: t
            for t in client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run.id])))
        }
    assert tasks["publish-batch-0000"].run_count == 4  # 1 try + 3 retries
    assert tasks["prepare-batch-0000"].run_count == 1  # deterministic stages are not retried
    assert dead_qdrant["seen"]["connections"] >= 4  # type: ignore[index]

    db = sqlite3.connect(tmp_path / "data" / "catalog.sqlite")
    statuses = Counter(r[0] for r in db.execute("SELECT status FROM documents"))
    assert statuses["embedded"] == 0 and statuses["pending"] >= 2, statuses  # nothing half-published
    assert [r[0] for r in db.execute("SELECT status FROM runs")] == ["failed"]
    failed = _metrics(tmp_path / "data")  # a failed run writes its outcome and the catalog's counts
    assert failed["docmill_last_run_success"] == 0 and failed["docmill_runs_total", ("outcome", "failed")] == 1
    assert failed["docmill_documents", ("status", "pending")] == statuses["pending"]
    assert not [k for k in failed if k[0] == "docmill_last_run_stage_seconds"]  # no half numbers of a failed run

    summary = module.pipeline(params=PipelineParams(config_path=str(config)))  # Qdrant back (embedded here)
    points = qdrant_points(tmp_path / "data")
    table = pq.read_table(tmp_path / "data" / "datasets" / "small" / "chunks.parquet")
    assert summary["documents"]["embedded"] == 3 and summary["quarantine"] == {"extract/empty": 1}
    assert len(points) == table.num_rows == summary["points"]  # no duplicates
    assert sorted(set(table.column("point_id").to_pylist())) == sorted(points)
    texts = " ".join(p["text"] for p in points.values())
    assert all(word in texts for word in ("alpha", "beta", "gamma"))  # no gaps
    assert Counter(r[0] for r in db.execute("SELECT status FROM runs")) == {"failed": 1, "completed": 1}
    db.close()
    after = _metrics(tmp_path / "data")
    assert after["docmill_last_run_success"] == 1 and after["docmill_runs_total", ("outcome", "failed")] == 1
    assert after["docmill_runs_total", ("outcome", "completed")] == 1
    assert after["docmill_last_run_info", ("outcome", "completed"), ("run_id", summary["run_id"])] == 1

    # a failed night after it: the dataset that stays current and the quarantine are still in the file, so the
    # dashboard's panels do not go blank (found by review: the failed run's file held only document counts)
    state = module.pipeline(params=PipelineParams(config_path=str(outage)), return_state=True)
    assert state.is_failed()
    failed_again = _metrics(tmp_path / "data")
    assert failed_again["docmill_last_run_success"] == 0
    info = ("docmill_dataset_info", ("dataset", "small"), ("tag", summary["dataset_tag"]))
    assert failed_again[(*info, ("version", summary["dataset_version"]))] == 1
    assert failed_again["docmill_dataset_rows", ("dataset", "small")] == table.num_rows
    assert failed_again["docmill_quarantined_documents", ("reason", "empty"), ("stage", "extract")] == 1


def _metrics(data: Path) -> dict[object, float]:
    """The metrics file as {name or (name, *sorted label pairs): value}, read by prometheus_client's parser."""
    from prometheus_client.parser import text_string_to_metric_families

    text = (data / "metrics" / "docmill.prom").read_text()
    return {
        ((s.name, *sorted(s.labels.items())) if s.labels else s.name): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
