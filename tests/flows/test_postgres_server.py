"""Prefect's server mode as docker-compose.yml runs it: a real PostgreSQL (Debian's package, started here as the
`postgres` user on a free loopback port) initialised with deploy/postgres-init.sql (pg_trgm), a Prefect
server started by docmill with `PREFECT_API_DATABASE_CONNECTION_URL=postgresql+asyncpg://...`, a flow run."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from docmill.run import server
from docmill.run.params import PipelineParams
from tests.flows.test_operations import free_port
from tests.flows.test_params_and_dry_run import write_small_corpus

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]


def _pg_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found or shutil.which("runuser") is None:
        message = "PostgreSQL server binaries not installed (scripts/install.sh installs them as root)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return Path(found[-1]).parent


def _as_postgres(*args: str) -> str:
    done = subprocess.run(["runuser", "-u", "postgres", "--", *args], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.fixture()
def postgres() -> Iterator[dict[str, str]]:
    """A PostgreSQL cluster in a temporary folder owned by `postgres`; the `prefect` database has pg_trgm."""
    pg = _pg_bin()
    base = Path(tempfile.mkdtemp(prefix="docmill-pg-"))  # pytest's tmp folders are closed to other users
    cluster = base / "cluster"
    cluster.mkdir()
    shutil.chown(base, "postgres")
    shutil.chown(cluster, "postgres")
    port = str(free_port())
    _as_postgres(str(pg / "initdb"), "-D", str(cluster), "-A", "trust", "-U", "postgres", "--no-sync")
    options = f"-p {port} -k {cluster} -c listen_addresses=127.0.0.1"
    _as_postgres(str(pg / "pg_ctl"), "-D", str(cluster), "-o", options, "-l", str(cluster / "log"), "-w", "start")
    psql = [str(pg / "psql"), "-h", "127.0.0.1", "-p", port, "-U", "postgres", "-v", "ON_ERROR_STOP=1"]
    try:
        _as_postgres(*psql, "-c", "CREATE DATABASE prefect")
        init = base / "init.sql"
        shutil.copy(ROOT / "deploy" / "postgres-init.sql", init)  # what the compose file mounts
        shutil.chown(init, "postgres")
        _as_postgres(*psql, "-d", "prefect", "-f", str(init))
        yield {"url": f"postgresql+asyncpg://postgres@127.0.0.1:{port}/prefect", "psql": " ".join(psql)}
    finally:
        _as_postgres(str(pg / "pg_ctl"), "-D", str(cluster), "-m", "fast", "-w", "stop")
        shutil.rmtree(base)


def test_prefect_on_postgres_runs_the_flow(
    postgres: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from flows.pipeline import pipeline

    config = write_small_corpus(tmp_path)
    port = free_port()
    monkeypatch.setenv("PREFECT_API_DATABASE_CONNECTION_URL", postgres["url"])
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    data = tmp_path / "data"
    monkeypatch.setenv("PREFECT_HOME", str(data / "prefect"))
    url = server.start(data, port=port)
    try:
        with temporary_settings({PREFECT_API_URL: url}):
            summary = pipeline(params=PipelineParams(config_path=str(config), dry_run=True))
            assert summary["counts"]["new"] == 4
            with get_client(sync_client=True) as client:
                (run,) = client.read_flow_runs()
                assert run.state.is_completed()
                keys = {a.key for a in client.read_artifacts()}
        assert {"docmill-run-report", "docmill-dry-run-files"} <= keys
        psql = postgres["psql"].split()
        rows = _as_postgres(*psql, "-d", "prefect", "-tAc", "SELECT count(*) FROM flow_run")
        assert rows.strip() == "1"  # the run is in Postgres, not in a SQLite file
        assert "pg_trgm" in _as_postgres(*psql, "-d", "prefect", "-tAc", "SELECT extname FROM pg_extension")
        assert not list((data / "prefect").glob("*.db"))
    finally:
        server.stop(data, port=port)
