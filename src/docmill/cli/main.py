"""docmill's command line: a thin layer over the same functions the flows call.

Heavy libraries (torch, unstructured, prefect) are imported only inside commands, never at start-up.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from docmill.cli.audit import audit_app
from docmill.cli.common import ConfigOpt, console
from docmill.cli.common import load_cli_settings as _settings
from docmill.cli.index import index_app
from docmill.cli.ops import deploy_command, server_app
from docmill.cli.parse import parse_command
from docmill.cli.quarantine import quarantine_app
from docmill.cli.search import search_command
from docmill.cli.snapshot import snapshot_app, trainings_app
from docmill.state.locks import holder_gone

app = typer.Typer(help="docmill: documents in, versioned AI-ready datasets out, on premise.", no_args_is_help=True)
app.add_typer(quarantine_app, name="quarantine")
app.add_typer(audit_app, name="audit")
app.add_typer(server_app, name="server")
app.add_typer(snapshot_app, name="snapshot")
app.add_typer(trainings_app, name="trainings")
app.add_typer(index_app, name="index")
app.command("deploy")(deploy_command)
app.command("parse")(parse_command)
app.command("search")(search_command)


def _catalog(settings: Any) -> Any:
    from docmill.state.catalog import Catalog

    return Catalog(settings.paths.catalog)


@app.command()
def run(
    config: ConfigOpt = None,
    source: Annotated[
        list[Path] | None, typer.Option(help="Folder or connector name (repeatable); overrides config.")
    ] = None,
    batch_size: Annotated[int | None, typer.Option(help="Documents per batch.")] = None,
    dry_run: Annotated[bool, typer.Option(help="Report what would be processed; write nothing.")] = False,
    reprocess_quarantined: Annotated[bool, typer.Option(help="Queue every quarantined document first.")] = False,
    snapshot_name: Annotated[str | None, typer.Option(help="Snapshot name recorded with the run.")] = None,
) -> None:
    """Run the pipeline flow against the Prefect server (starting the embedded one if needed); the same
    parameters as a run started from the Prefect UI."""
    from docmill.cli.running import run_pipeline

    run_pipeline(config, source, batch_size, dry_run, reprocess_quarantined, snapshot_name)


@app.command()
def demo(config: ConfigOpt = None) -> None:
    """Generate the sample corpus into the first source folder if it is empty, run, then leave the Prefect
    server and the serve process (deployments, nightly schedule) running; `docmill server stop` stops both."""
    from docmill.run import server

    settings = _settings(config)
    inbox = settings.ingest.sources[0]
    if not inbox.exists() or not any(p for p in inbox.rglob("*") if p.name != ".gitkeep"):
        from docmill.samples import write_sample_corpus

        written = write_sample_corpus(inbox)
        console.print(f"wrote {len(written)} sample documents to {inbox}")
    run(config=config, source=None, batch_size=None)
    data_dir, ops = settings.paths.data_dir, settings.operations
    env = server.server_env(data_dir, ops.server_host, ops.server_port)
    if env["PREFECT_API_URL"] != server.api_url(ops.server_host, ops.server_port):
        console.print(
            f"runs are on the Prefect API at {env['PREFECT_API_URL']}; `docmill server start` serves "
            "the deployments of the embedded server only",
            markup=False,
        )
        return
    try:
        with console.status("registering the deployments (nightly schedule) ..."):
            serve_pid = server.start_serve(data_dir, config, host=ops.server_host, port=ops.server_port)
    except RuntimeError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc
    server_pid = server.running_pid(data_dir, server.SERVER, ops.server_host, ops.server_port)
    served = ", ".join(server.served_deployments(data_dir, ops.server_host, ops.server_port))
    lines = [
        "Left running (stop both with `docmill server stop` or `make server-stop`):",
        f"  Prefect server {f'pid {server_pid}' if server_pid else '(started elsewhere)'}, UI {server.ui_url(env)}"
        f" (log {server.log_file(data_dir, server.SERVER)})",
        f"  serve process pid {serve_pid}: deployments {served} registered, nightly ingestion `{ops.nightly_cron}` "
        f"({ops.timezone}); start a run from the UI: Deployments > ingestion > Run",
    ]
    for line in lines:
        console.print(line, markup=False, soft_wrap=True)


@app.command("sample-corpus")
def sample_corpus(target: Annotated[Path, typer.Argument(help="Folder to write into.")]) -> None:
    """Write docmill's deterministic sample corpus."""
    from docmill.samples import write_sample_corpus

    console.print(f"wrote {len(write_sample_corpus(target))} files to {target}")


@app.command()
def status(config: ConfigOpt = None) -> None:
    """Documents by status and stage, the last runs, quarantine counts."""
    settings = _settings(config)
    if not settings.paths.catalog.exists():
        console.print(f"no catalog at {settings.paths.catalog}: nothing has run yet")
        raise typer.Exit(0)
    catalog = _catalog(settings)
    table = Table("status", "stage", "documents", title="documents")
    for row in catalog.counts_by_stage():
        table.add_row(row["status"], row["stage"] or "", str(row["n"]))
    console.print(table)
    counts = catalog.counts()
    console.print(f"sources {counts['sources']}, chunks {counts['chunks']}")
    runs = Table("run", "status", "started", "seconds", "dataset version", title="last runs")
    for row in catalog.last_runs():
        summary = json.loads(row["summary"] or "{}")
        run_status = row["status"]
        if run_status == "running" and holder_gone(settings.paths.data_dir, f"run {row['run_id']}"):
            run_status = "running, but its process is gone (crashed: the next run records it)"
        started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(row["started_at"]))
        took = f"{row['finished_at'] - row['started_at']:.1f}" if row["finished_at"] else ""
        runs.add_row(
            row["run_id"],
            run_status,
            started,
            took,
            summary.get("dataset_version") or summary.get("error", ""),
        )
    console.print(runs)
    _quarantine_counts(catalog)


def _quarantine_counts(catalog: Any) -> None:
    table = Table("stage", "reason", "count", title="quarantine")
    for key, n in catalog.quarantine_counts().items():
        table.add_row(*key.split("/", 1), str(n))
    console.print(table)


@app.command()
def lineage(
    ident: Annotated[str, typer.Argument(help="A Qdrant point id or a chunk id.")],
    config: ConfigOpt = None,
    reread: Annotated[bool, typer.Option(help="Re-read the span from the source file.")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="JSON instead of text.")] = False,
) -> None:
    """Where a vector came from: source, span, parser, chunker, model, run, dataset versions, source re-read."""
    from docmill.run.lineage import LineageError
    from docmill.run.lineage import lineage as find_lineage

    try:
        info = find_lineage(_settings(config), ident, reread=reread)
    except LineageError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc
    if as_json:
        typer.echo(json.dumps(info, indent=2, sort_keys=True, default=str))
        return
    table = Table("field", "value", title=f"chunk {info['chunk_id']} (point {info['point_id']})")
    for key, value in info["lineage"].items():
        table.add_row(key, " > ".join(value) if isinstance(value, list) else str(value))
    table.add_row("document status", str(info["document_status"]))
    table.add_row("current sources", "\n".join(info["current_sources"]) or "(none)")
    if info["run"]:
        table.add_row(
            "run",
            f"{info['run']['status']}, config {info['run']['config_hash']}, docmill {info['run']['code_version']}",
        )
    table.add_row("dataset versions", ", ".join(info["dataset_versions"]) or "(none yet)")
    if "source_check" in info:
        check = info["source_check"]
        table.add_row("source re-read", f"{check['status']} ({check['path']})")
    console.print(table)
    console.print(info["text"])


@app.command("config-doc")
def config_doc() -> None:
    """Print the configuration reference (Markdown) generated from the settings models."""
    from docmill.config.doc import render

    sys.stdout.write(render())
