"""The embedded Prefect server: `prefect server start` on SQLite under `data/prefect`, UI on 127.0.0.1:4200.

Started as a background process through Prefect's own CLI (so this module never imports prefect); its log
goes to `data/logs/prefect-server.log` and its pid to `data/prefect/server.pid`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from docmill.offline import apply_offline_defaults

HOST, PORT = "127.0.0.1", 4200


def api_url(host: str = HOST, port: int = PORT) -> str:
    """The API URL of the embedded server."""
    return f"http://{host}:{port}/api"


def is_healthy(url: str, timeout: float = 2.0) -> bool:
    """True when a Prefect API answers its health check at `url`."""
    try:
        with urllib.request.urlopen(f"{url.rstrip('/')}/health", timeout=timeout) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def server_env(data_dir: Path) -> dict[str, str]:
    """Environment for the server and for flows that talk to it."""
    env = dict(os.environ)
    apply_offline_defaults(env)
    env.setdefault("PREFECT_HOME", str((data_dir / "prefect").resolve()))
    env.setdefault("PREFECT_API_URL", api_url())
    env.setdefault("PREFECT_UI_API_URL", env["PREFECT_API_URL"])
    return env


def start(data_dir: Path, wait_s: float = 90.0) -> str:
    """Start the embedded server unless one already answers; returns the API URL.

    Raises:
        RuntimeError: when the server does not become healthy in time (its log is named).
    """
    env = server_env(data_dir)
    url = env["PREFECT_API_URL"]
    if is_healthy(url):
        return url
    home = Path(env["PREFECT_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    log_path = data_dir / "logs" / "prefect-server.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    prefect = str(Path(sys.executable).with_name("prefect"))
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            [prefect, "server", "start", "--host", HOST, "--port", str(PORT)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
    (home / "server.pid").write_text(str(proc.pid))
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if is_healthy(url):
            return url
        if proc.poll() is not None:
            break
        time.sleep(0.5)
    raise RuntimeError(f"the Prefect server did not start at {url}; see {log_path}")


def stop(data_dir: Path) -> bool:
    """Stop a server started by `start`; returns False when none was running."""
    pid_file = Path(server_env(data_dir)["PREFECT_HOME"]) / "server.pid"
    if not pid_file.exists():
        return False
    try:
        os.killpg(int(pid_file.read_text()), signal.SIGTERM)
    except ProcessLookupError:
        pid_file.unlink()
        return False
    pid_file.unlink()
    return True
