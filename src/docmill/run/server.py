"""The embedded Prefect server and docmill's serve process, as background processes.

`prefect server start` on SQLite under `data/prefect` (UI on 127.0.0.1:4200 unless `operations.server_port`
says otherwise), and `python -m flows.deployments serve`, which registers docmill's deployments and runs what
they schedule or what the UI starts. Both are started through their own command lines, so this module never
imports prefect; logs go to `data/logs/<name>.log`, pids to `data/prefect/<name>.pid`.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from docmill.config.offline import apply_offline_defaults

HOST, PORT = "127.0.0.1", 4200
SERVER, SERVE = "server", "serve"


def api_url(host: str = HOST, port: int = PORT) -> str:
    """The API URL of the embedded server."""
    return f"http://{host}:{port}/api"


def ui_url(env: dict[str, str]) -> str:
    """The UI address for the API in `env`: `PREFECT_UI_URL` when set, else `PREFECT_API_URL` without its
    `/api` suffix (the embedded server serves both on one port)."""
    if env.get("PREFECT_UI_URL"):
        return env["PREFECT_UI_URL"].rstrip("/")
    return env["PREFECT_API_URL"].rstrip("/").removesuffix("/api")


def is_healthy(url: str, timeout: float = 2.0) -> bool:
    """True when a Prefect API answers its health check at `url`."""
    try:
        with urllib.request.urlopen(f"{url.rstrip('/')}/health", timeout=timeout) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def server_env(data_dir: Path, host: str = HOST, port: int = PORT) -> dict[str, str]:
    """Environment for the server and for flows that talk to it (telemetry off, state under data/prefect)."""
    env = dict(os.environ)
    apply_offline_defaults(env)
    env.setdefault("PREFECT_HOME", str((data_dir / "prefect").resolve()))
    env.setdefault("PREFECT_API_URL", api_url(host, port))
    env.setdefault("PREFECT_UI_API_URL", env["PREFECT_API_URL"])
    env.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    env.setdefault("DO_NOT_TRACK", "1")
    return env


def _pid_file(env: dict[str, str], name: str) -> Path:
    return Path(env["PREFECT_HOME"]) / f"{name}.pid"


def _spawn(
    name: str, args: list[str], data_dir: Path, env: dict[str, str], cwd: Path | None = None
) -> subprocess.Popen[bytes]:
    """Start a background process in its own session, log to data/logs/<name>.log, pid to <name>.pid."""
    log_path = log_file(data_dir, name)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    Path(env["PREFECT_HOME"]).mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            args,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=cwd,
            start_new_session=True,
        )
    _pid_file(env, name).write_text(str(proc.pid))
    return proc


def log_file(data_dir: Path, name: str) -> Path:
    """Where the background process `name` (server, serve) logs."""
    return data_dir / "logs" / f"prefect-{name}.log"


def running_pid(data_dir: Path, name: str, host: str = HOST, port: int = PORT) -> int | None:
    """The pid of a live background process started by docmill, or None."""
    pid_file = _pid_file(server_env(data_dir, host, port), name)
    try:
        pid = int(pid_file.read_text())
        os.kill(pid, 0)
    except (FileNotFoundError, ValueError, ProcessLookupError):
        return None
    return pid


def start(data_dir: Path, wait_s: float = 120.0, host: str = HOST, port: int = PORT) -> str:
    """Start the embedded server unless one already answers; returns the API URL.

    Raises:
        RuntimeError: when the server does not become healthy in time (its log is named).
    """
    env = server_env(data_dir, host, port)
    url = env["PREFECT_API_URL"]
    if is_healthy(url):
        return url
    prefect = str(Path(sys.executable).with_name("prefect"))
    proc = _spawn(SERVER, [prefect, "server", "start", "--host", host, "--port", str(port)], data_dir, env)
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if is_healthy(url):
            return url
        if proc.poll() is not None:
            break
        time.sleep(0.5)
    raise RuntimeError(f"the Prefect server did not start at {url}; see {log_file(data_dir, SERVER)}")


def start_serve(data_dir: Path, config: Path | None, host: str = HOST, port: int = PORT, wait_s: float = 90.0) -> int:
    """Start `python -m flows.deployments serve` (registers the deployments, then runs their flow runs) unless
    it runs already; returns its pid once the deployments are registered.

    Raises:
        RuntimeError: when the serve process exits or does not register the deployments in time.
    """
    pid = running_pid(data_dir, SERVE, host, port)
    if pid is not None:
        return pid
    env = server_env(data_dir, host, port)
    args = [sys.executable, "-m", "flows.deployments", "serve"] + (["--config", str(config)] if config else [])
    ready = Path(env["PREFECT_HOME"]) / "serve.ready"
    ready.unlink(missing_ok=True)
    env["DOCMILL_SERVE_READY_FILE"] = str(ready)
    if config is not None:  # the serve process runs in the project folder (where `flows` lives)
        args[-1] = str(config.resolve())
    proc = _spawn(SERVE, args, data_dir, env, cwd=_project_dir())
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if ready.exists():
            return proc.pid
        if proc.poll() is not None:
            break
        time.sleep(0.5)
    raise RuntimeError(f"docmill's serve process did not register the deployments; see {log_file(data_dir, SERVE)}")


def served_deployments(data_dir: Path, host: str = HOST, port: int = PORT) -> list[str]:
    """Names of the deployments the serve process registered (what it wrote once ready)."""
    ready = Path(server_env(data_dir, host, port)["PREFECT_HOME"]) / "serve.ready"
    return ready.read_text().split() if ready.exists() else []


def _reaped(pid: int) -> bool:
    """True when `pid` is our own child and has exited (a zombie still answers kill(pid, 0))."""
    try:
        return os.waitpid(pid, os.WNOHANG)[0] == pid
    except ChildProcessError:
        return False


def _project_dir() -> Path:
    """The folder holding the `flows` package (flow entrypoints are relative to it)."""
    spec = importlib.util.find_spec("flows")
    return Path(spec.origin).parents[1] if spec and spec.origin else Path.cwd()


def stop(data_dir: Path, name: str = SERVER, host: str = HOST, port: int = PORT, wait_s: float = 30.0) -> bool:
    """Stop a background process started by docmill (SIGTERM to its process group, SIGKILL after `wait_s`);
    returns False when none was running."""
    pid = running_pid(data_dir, name, host, port)
    _pid_file(server_env(data_dir, host, port), name).unlink(missing_ok=True)
    if pid is None:
        return False
    try:
        os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            if _reaped(pid):
                return True
            os.kill(pid, 0)
            time.sleep(0.2)
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    return True
