"""`docmill server start|stop|status` and `docmill deploy`: docmill in Prefect (see docs/operations.md)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from docmill.cli.common import ConfigOpt, console
from docmill.cli.common import load_cli_settings as _settings

server_app = typer.Typer(help="The embedded Prefect server and docmill's serve process (deployments, schedule).")


def _where(settings: Any) -> tuple[Path, str, int]:
    ops = settings.operations
    return settings.paths.data_dir, ops.server_host, ops.server_port


@server_app.command("start")
def server_start(
    config: ConfigOpt = None,
    serve: Annotated[bool, typer.Option(help="Also register the deployments and run the serve process.")] = True,
) -> None:
    """Start the embedded Prefect server and the serve process that runs docmill's deployments (no-op for
    what already runs)."""
    from docmill.run import server

    data_dir, host, port = _where(_settings(config))
    try:
        with console.status(f"starting the Prefect server on {host}:{port} ..."):
            url = server.start(data_dir, host=host, port=port)
        console.print(f"Prefect API {url}; UI http://{host}:{port}")
        if serve and server.api_url(host, port) == server.server_env(data_dir, host, port)["PREFECT_API_URL"]:
            with console.status("registering deployments ..."):
                pid = server.start_serve(data_dir, config, host=host, port=port)
            console.print(f"deployments registered; serve process {pid} (log {server.log_file(data_dir, 'serve')})")
    except RuntimeError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc


@server_app.command("stop")
def server_stop(config: ConfigOpt = None) -> None:
    """Stop the serve process and the embedded Prefect server started by docmill."""
    from docmill.run import server

    data_dir, host, port = _where(_settings(config))
    for name in (server.SERVE, server.SERVER):
        stopped = server.stop(data_dir, name, host=host, port=port)
        console.print(f"{name}: {'stopped' if stopped else 'not running (not started by docmill)'}")


@server_app.command("status")
def server_status(config: ConfigOpt = None) -> None:
    """Say whether the Prefect API answers and whether the serve process runs; exit 1 when the API does not."""
    from docmill.run import server

    data_dir, host, port = _where(_settings(config))
    url = server.server_env(data_dir, host, port)["PREFECT_API_URL"]
    healthy = server.is_healthy(url)
    console.print(f"Prefect API {url}: {'healthy' if healthy else 'not answering'}")
    for name in (server.SERVER, server.SERVE):
        pid = server.running_pid(data_dir, name, host=host, port=port)
        state = f"running (pid {pid})" if pid else "not running"
        console.print(f"{name} process: {state}; log {server.log_file(data_dir, name)}")
    raise typer.Exit(0 if healthy else 1)


def deploy_command(
    config: ConfigOpt = None,
    pool: Annotated[str | None, typer.Option(help="Process work pool (default operations.work_pool).")] = None,
) -> None:
    """Create docmill's deployments on a process work pool, for `prefect worker start --pool <pool>` on one or
    more machines (the production route; `docmill server start` serves them locally instead)."""
    from docmill.run import server

    data_dir, host, port = _where(_settings(config))
    args = [sys.executable, "-m", "flows.deployments", "deploy"] + (["--config", str(config)] if config else [])
    args += ["--pool", pool] if pool else []
    done = subprocess.run(args, env=server.server_env(data_dir, host, port), capture_output=True, text=True)
    if done.returncode != 0:
        console.print(done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "deploy failed", markup=False)
        raise typer.Exit(1)
    console.print(f"deployments created: {done.stdout.split()}")
