"""Real servers for the connector tests: moto's S3 server and a PostgreSQL server, both on loopback."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from docmill.config.settings import IngestConfig, PathsConfig, Settings
from docmill.run.context import RunContext

PG_BIN = Path("/usr/lib/postgresql/15/bin")
PG_PASSWORD = "pg-Secret-7f3e9a"  # a distinctive value: tests look for it where it must never appear


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class S3Server:
    """moto's S3 HTTP server in this process (its state survives a stop and a restart on the same port)."""

    def __init__(self) -> None:
        from moto.server import ThreadedMotoServer

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._cls = ThreadedMotoServer
        self.server: Any = None

    def start(self) -> None:
        self.server = self._cls(ip_address="127.0.0.1", port=self.port, verbose=False)
        self.server.start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None

    def reset(self) -> None:
        """Forget every bucket (moto keeps its state per process, across servers)."""
        from urllib.request import urlopen

        urlopen(f"{self.url}/moto-api/reset", data=b"").close()

    def client(self) -> Any:
        import boto3

        return boto3.client("s3", endpoint_url=self.url, region_name="us-east-1")


@pytest.fixture
def s3_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[S3Server]:
    """A started moto S3 server with test credentials in the environment."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIA-docmill-test-7Q2")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s3-Secret-4b1d8c")
    server = S3Server()
    server.start()
    server.reset()
    yield server
    server.stop()


def _postgres_available() -> bool:
    return (PG_BIN / "initdb").exists() and shutil.which("runuser") is not None


class Postgres:
    """A throwaway PostgreSQL server (Debian's binaries, run as `postgres`) on a free loopback port."""

    def __init__(self, base: Path) -> None:
        self.base, self.data, self.port = base, base / "data", free_port()
        self.url = f"postgresql+psycopg://docmill:{PG_PASSWORD}@127.0.0.1:{self.port}/postgres"

    def _pg(self, *args: str, check: bool = True) -> None:
        cmd = ["runuser", "-u", "postgres", "--", *args]  # no pipes: the server would inherit and hold them
        subprocess.run(cmd, check=check, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=self.base)

    def init(self) -> None:
        shutil.chown(self.base, "postgres", "postgres")
        pwfile = self.base / "pw"
        pwfile.write_text(PG_PASSWORD)
        shutil.chown(pwfile, "postgres", "postgres")
        initdb = str(PG_BIN / "initdb")
        self._pg(initdb, "-D", str(self.data), "-U", "docmill", f"--pwfile={pwfile}", "-A", "scram-sha-256")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1 -c fsync=off"
        log = str(self.base / "server.log")
        self._pg(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", log, "-o", options, "-w", "start")

    def stop(self) -> None:
        self._pg(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop", check=False)


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    """A started PostgreSQL server whose URL carries a password. Missing binaries fail the test in CI
    (CI=true) and skip it elsewhere."""
    if not _postgres_available():
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL server binaries missing: scripts/install.sh installs the postgresql package")
        pytest.skip("PostgreSQL server binaries not installed (apt-get install postgresql)")
    server = Postgres(Path(tempfile.mkdtemp(prefix="docmill-pg-")))
    try:
        server.init()
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(server.base, ignore_errors=True)


_SHARED: dict[str, Any] = {}


@pytest.fixture(scope="session", autouse=True)
def _shared_embedder(embedder: Any) -> None:
    """Run contexts of these tests share the session's real model (ingest asks it for the settings key, deletions
    open the vector store with its dimension) instead of loading it once per run."""
    _SHARED["embedder"] = embedder


def runtime(data: Path, run_id: str, connectors: list[dict[str, Any]], **options: Any) -> RunContext:
    """A run context over `data` ingesting only `connectors` (no folder sources), with other ingest `options`."""
    ingest = IngestConfig.model_validate({"sources": [], "connectors": connectors, **options})
    rt = RunContext(Settings(paths=PathsConfig(data_dir=data), ingest=ingest), run_id)
    rt.__dict__.update(_SHARED)  # the cached_property slot
    return rt


def ingest_run(
    data: Path, run_id: str, connectors: list[dict[str, Any]], **options: Any
) -> tuple[RunContext, dict[str, float]]:
    """The flow's ingest task body (no Prefect run) over `connectors`."""
    from flows.pipeline import ingest_task

    rt = runtime(data, run_id, connectors, **options)
    return rt, ingest_task.fn(rt)


def secrets_absent(root: Path, *secrets: str) -> list[str]:
    """Files under `root` containing any of `secrets` (should be none)."""
    found = []
    for path in root.rglob("*"):
        if path.is_file():
            blob = path.read_bytes()
            found += [f"{path}: {s}" for s in secrets if s.encode() in blob]
    return found


def as_nobody(fn: Any) -> Any:
    """`fn()` (returning JSON-able data) run in a forked child that dropped root for `nobody`: root reads every
    file, and the interpreter lives under /root, so a fresh `nobody` process could not even start it. An
    exception in the child comes back as {"raised": class name, "message": text}."""
    import json
    import pwd

    nobody = pwd.getpwnam("nobody")
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 1
        try:
            os.setgroups([])
            os.setgid(nobody.pw_gid)
            os.setuid(nobody.pw_uid)
            try:
                out: Any = fn()
            except Exception as exc:
                out = {"raised": type(exc).__name__, "message": str(exc)}
            os.write(write, json.dumps(out).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write)
    with os.fdopen(read) as pipe:
        text = pipe.read()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    return json.loads(text)


def cannot_list(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    """Make the folder walk fail on every folder called `name` as scandir would (EACCES for another user,
    ENAMETOOLONG, EIO), through `os.walk`'s own error callback."""
    real_walk = os.walk

    def walk(top: Any, onerror: Any = None, **kw: Any) -> Iterator[tuple[str, list[str], list[str]]]:
        for dirpath, dirnames, filenames in real_walk(top, onerror=onerror, **kw):
            if name in dirnames:
                dirnames.remove(name)
                onerror(PermissionError(13, "Permission denied", str(Path(dirpath) / name)))
            yield dirpath, dirnames, filenames

    monkeypatch.setattr("docmill.sources.folder.os.walk", walk)
