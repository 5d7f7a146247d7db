"""docmill in Prefect as an operator meets it: `docmill server start` (embedded server + serve process) on a
free port, the registered deployments, the nightly schedule, the concurrency limit, and the UI in a real
browser. One server for the whole module."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml

from tests.flows.test_params_and_dry_run import write_small_corpus
from tests.helpers import alive

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
CRON, TZ = "30 3 * * *", "Europe/Berlin"
DEPLOYMENT = "docmill-pipeline/ingestion"


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cli(*args: str, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    docmill = str(Path(sys.executable).with_name("docmill"))
    return subprocess.run([docmill, *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def _group_members(pgid: int) -> list[int]:
    """Live processes of the process group `pgid` (the flow runs a serve process started, for instance)."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(stat.parent.name))
    return members


@pytest.fixture(scope="module")
def embedded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """`docmill server start` on a free port with a nightly schedule at 03:30 Berlin time; stopped at the end."""
    root = tmp_path_factory.mktemp("ops")
    config = write_small_corpus(root)
    settings = yaml.safe_load(config.read_text())
    port = free_port()
    settings["operations"] = {"server_port": port, "nightly_cron": CRON, "timezone": TZ}
    config.write_text(yaml.safe_dump(settings))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env["PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS"] = "5"  # schedule runs soon after registration
    env["PREFECT_LOGGING_LEVEL"] = "INFO"
    started = _cli("server", "start", "--config", str(config), env=env)
    url = f"http://127.0.0.1:{port}/api"
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        yield {"root": root, "config": config, "url": url, "port": port, "env": env}
    finally:
        stopped = _cli("server", "stop", "--config", str(config), env=env)
        assert "serve: stopped" in stopped.stdout and "server: stopped" in stopped.stdout, stopped.stdout


@pytest.fixture()
def client(embedded: dict[str, Any]) -> Iterator[Any]:
    """A Prefect client on the embedded server."""
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings({PREFECT_API_URL: embedded["url"]}), get_client(sync_client=True) as c:
        yield c


def test_server_status_names_both_processes_and_telemetry_is_off(embedded: dict[str, Any]) -> None:
    status = _cli("server", "status", "--config", str(embedded["config"]), env=embedded["env"])
    assert status.returncode == 0, status.stdout
    assert "healthy" in status.stdout and "serve process: running" in status.stdout
    logs = embedded["root"] / "data" / "logs"
    assert (logs / "prefect-server.log").exists() and (logs / "prefect-serve.log").exists()
    pid = (embedded["root"] / "data" / "prefect" / "server.pid").read_text().strip()
    environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    assert b"PREFECT_SERVER_ANALYTICS_ENABLED=false" in environ and b"DO_NOT_TRACK=1" in environ


def test_nightly_deployment_has_schedule_concurrency_limit_and_scheduled_runs(client: Any) -> None:
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterId,
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType

    deployment = client.read_deployment_by_name(DEPLOYMENT)
    (schedule,) = deployment.schedules
    assert (schedule.schedule.cron, schedule.schedule.timezone, schedule.active) == (CRON, TZ, True)
    assert deployment.global_concurrency_limit.limit == 1
    assert str(deployment.concurrency_options.collision_strategy.value) == "ENQUEUE"
    assert deployment.parameters["params"]["config_path"].endswith("docmill.yaml")
    runs: list[Any] = []
    deadline = time.monotonic() + 90
    while not runs and time.monotonic() < deadline:  # the scheduler service fills the next days
        runs = client.read_flow_runs(
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment.id])),
            flow_run_filter=FlowRunFilter(
                state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.SCHEDULED]))
            ),
        )
        time.sleep(2)
    assert runs, "the scheduler created no runs of the nightly deployment"
    local = [r.expected_start_time.astimezone(ZoneInfo(TZ)) for r in runs]
    assert all((t.hour, t.minute) == (3, 30) for t in local), local
    assert all(t > datetime.now(ZoneInfo(TZ)) for t in local)
    assert len({t.date() for t in local}) == len(local)  # one per night
    snapshot = client.read_deployment_by_name("docmill-snapshot/snapshot")  # the snapshot flow, no schedule
    assert not snapshot.schedules and snapshot.global_concurrency_limit.limit == 1
    assert "name" in snapshot.parameter_openapi_schema["definitions"]["SnapshotParams"]["required"]


def _wait_final(client: Any, run_ids: list[Any], timeout: float = 420) -> list[Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = [client.read_flow_run(i) for i in run_ids]
        if all(r.state and r.state.is_final() for r in runs):
            return runs
        yield_running = [r for r in runs if r.state and r.state.is_running()]
        assert len(yield_running) <= 1, "two ingestions ran at once"
        time.sleep(1)
    raise AssertionError(f"runs did not finish: {[client.read_flow_run(i).state for i in run_ids]}")


def test_a_second_run_waits_while_one_is_running(client: Any, embedded: dict[str, Any]) -> None:
    from prefect.deployments import run_deployment

    # dry runs: quick, and the deployment's limit holds whatever the flow does
    params = {"params": {"config_path": str(embedded["config"]), "dry_run": True}}
    first = run_deployment(DEPLOYMENT, timeout=0, parameters=params)
    second = run_deployment(DEPLOYMENT, timeout=0, parameters=params)
    runs = _wait_final(client, [first.id, second.id])
    assert all(r.state.is_completed() for r in runs), [r.state for r in runs]
    a, b = sorted(runs, key=lambda r: r.start_time)
    assert a.end_time <= b.start_time, "the second run started before the first ended"
    history = [s.name for s in client.read_flow_run_states(b.id)]
    assert "AwaitingConcurrencySlot" in history, history


def _run_with_snapshot_name(client: Any, name: str, timeout: float = 60) -> Any:
    """The id of the flow run the UI created with this snapshot name."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for run in client.read_flow_runs(limit=50):
            if (run.parameters.get("params") or {}).get("snapshot_name") == name:
                return run.id
        time.sleep(1)
    raise AssertionError(f"no flow run with snapshot_name {name!r} was created")


CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


def test_the_ui_shows_the_deployment_and_schedule_and_runs_a_custom_run(
    client: Any, embedded: dict[str, Any], tmp_path: Path
) -> None:
    """Headless Chromium: Deployments page, Run > Custom run with a snapshot name, the run report artifact."""
    sync_api = pytest.importorskip("playwright.sync_api")
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName

    ui = f"http://127.0.0.1:{embedded['port']}"
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        try:
            page.goto(f"{ui}/deployments")
            row = page.get_by_role("link", name="ingestion").first
            row.wait_for()
            sync_api.expect(page.get_by_text("docmill-pipeline").first).to_be_visible()
            sync_api.expect(page.get_by_text("At 03:30 AM every day").first).to_be_visible()
            page.screenshot(path=str(tmp_path / "1-deployments.png"))
            row.click()
            page.get_by_role("button", name="Run", exact=True).click()
            page.get_by_text("Custom run").click()
            label = page.get_by_text("Snapshot Name (Optional)")
            label.wait_for()
            # the innermost block holding the label and its type switch is the field (not a position on the form)
            field = page.locator("div", has=label).filter(has=page.get_by_role("button", name="str", exact=True)).last
            field.get_by_role("button", name="str", exact=True).click()  # Snapshot Name: str, not None
            field.locator("textarea").fill("from-the-ui")
            page.screenshot(path=str(tmp_path / "2-custom-run.png"), full_page=True)
            page.get_by_role("button", name="Submit").click()
            run_id = _run_with_snapshot_name(client, "from-the-ui")
            (run,) = _wait_final(client, [run_id])
            assert run.state.is_completed(), run.state
            assert run.parameters["params"]["snapshot_name"] == "from-the-ui"
            assert run.parameters["params"]["config_path"] == str(embedded["config"].resolve())
            page.goto(f"{ui}/runs/flow-run/{run_id}")
            sync_api.expect(page.get_by_text("Completed").first).to_be_visible(timeout=30_000)
            page.get_by_text("Artifacts", exact=True).click()
            sync_api.expect(page.get_by_text("docmill-run-report")).to_be_visible(timeout=30_000)
            sync_api.expect(page.get_by_text("docmill-stage-counts")).to_be_visible()
            page.screenshot(path=str(tmp_path / "3-artifacts.png"), full_page=True)
        finally:
            page.screenshot(path=str(tmp_path / "last.png"))
            browser.close()
    deployments = client.read_deployments(
        deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=["ingestion"]))
    )
    assert len(deployments) == 1
    report = client.read_artifacts()
    assert any(a.key == "docmill-run-report" and "from-the-ui" in str(a.data) for a in report)


def test_docmill_deploy_puts_the_same_deployment_on_a_process_work_pool(client: Any, embedded: dict[str, Any]) -> None:
    """The production route: `docmill deploy` creates the pool and the deployment a worker runs (last in this
    module: it re-points the served deployment at the pool)."""
    done = _cli("deploy", "--config", str(embedded["config"]), "--pool", "docmill-test", env=embedded["env"])
    assert done.returncode == 0, done.stdout + done.stderr
    assert client.read_work_pool("docmill-test").type == "process"
    deployment = client.read_deployment_by_name(DEPLOYMENT)
    assert deployment.work_pool_name == "docmill-test"
    assert deployment.entrypoint == "flows/pipeline.py:pipeline"
    assert deployment.schedules[0].schedule.cron == CRON and deployment.global_concurrency_limit.limit == 1
    assert any(step.get("prefect.deployments.steps.set_working_directory") for step in deployment.pull_steps or [])


def test_the_demo_leaves_the_server_and_the_deployments_running_until_server_stop(tmp_path: Path) -> None:
    """The real `docmill demo` (small corpus, free port, own data folder): afterwards the server and the serve
    process run, the deployments carry the nightly schedule, the last lines say so; `docmill server stop` ends
    both process groups."""
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    config = write_small_corpus(tmp_path)
    settings = yaml.safe_load(config.read_text())
    port = free_port()
    settings["operations"] = {"server_port": port, "nightly_cron": CRON, "timezone": TZ}
    config.write_text(yaml.safe_dump(settings))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    pids: dict[str, int] = {}
    try:
        demo = _cli("demo", "--config", str(config), env=env, timeout=900)
        for name in ("server", "serve"):
            pid_file = tmp_path / "data" / "prefect" / f"{name}.pid"
            if pid_file.exists():
                pids[name] = int(pid_file.read_text())
        assert demo.returncode == 0, demo.stdout + demo.stderr
        last = demo.stdout.strip().splitlines()[-3:]
        assert "docmill server stop" in last[0], demo.stdout
        assert f"pid {pids['server']}, UI http://127.0.0.1:{port} " in last[1], last
        assert f"pid {pids['serve']}: deployments ingestion, snapshot registered" in last[2], last
        assert CRON in last[2] and TZ in last[2]
        assert all(alive(pid) for pid in pids.values()), pids
        with temporary_settings({PREFECT_API_URL: f"http://127.0.0.1:{port}/api"}), get_client(sync_client=True) as c:
            nightly = c.read_deployment_by_name(DEPLOYMENT)
            (schedule,) = nightly.schedules
            assert (schedule.schedule.cron, schedule.schedule.timezone, schedule.active) == (CRON, TZ, True)
            assert nightly.parameters["params"]["config_path"] == str(config.resolve())
            assert c.read_deployment_by_name("docmill-snapshot/snapshot").name == "snapshot"
            (run,) = [r for r in c.read_flow_runs() if not r.state.is_scheduled()]  # the demo's own run
            assert run.state.is_completed(), run.state
    finally:
        stopped = _cli("server", "stop", "--config", str(config), env=env)
    assert "serve: stopped" in stopped.stdout and "server: stopped" in stopped.stdout, stopped.stdout
    deadline = time.monotonic() + 30
    while any(_group_members(pid) for pid in pids.values()) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not any(alive(pid) for pid in pids.values())
    assert not [m for pid in pids.values() for m in _group_members(pid)], "a process of theirs outlived the stop"
    assert not (tmp_path / "data" / "prefect" / "server.pid").exists()
