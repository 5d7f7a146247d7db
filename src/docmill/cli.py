"""docmill's command line: a thin layer over the same functions the flows call.

Heavy libraries (torch, unstructured, prefect) are imported only inside commands, never at start-up.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from docmill.cli_common import ConfigOpt, console
from docmill.cli_common import load_cli_settings as _settings
from docmill.cli_ops import deploy_command, server_app
from docmill.cli_parse import parse_command
from docmill.cli_snapshot import snapshot_app, trainings_app

app = typer.Typer(help="docmill: documents in, versioned AI-ready datasets out, on premise.", no_args_is_help=True)
quarantine_app = typer.Typer(help="Documents and chunks that left the pipeline, with reasons.")
audit_app = typer.Typer(help="The append-only, hash-chained audit trail (data/audit/audit.jsonl).")
app.add_typer(quarantine_app, name="quarantine")
app.add_typer(audit_app, name="audit")
app.add_typer(server_app, name="server")
app.add_typer(snapshot_app, name="snapshot")
app.add_typer(trainings_app, name="trainings")
app.command("deploy")(deploy_command)
app.command("parse")(parse_command)


def _catalog(settings: Any) -> Any:
    from docmill.catalog import Catalog

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
    from docmill import server
    from docmill.params import PipelineParams

    settings = _settings(config)
    names = {c.name for c in settings.ingest.connectors}  # connector names pass as they are, folders absolute
    params = PipelineParams(
        sources=[str(s) if str(s) in names else str(s.resolve()) for s in source or []],
        config_path=str(config) if config else None,
        batch_size=batch_size,
        dry_run=dry_run,
        reprocess_quarantined=reprocess_quarantined,
        snapshot_name=snapshot_name,
    )
    data_dir = settings.paths.data_dir
    ops = settings.operations
    env = server.server_env(data_dir, ops.server_host, ops.server_port)
    if env["PREFECT_API_URL"] == server.api_url(ops.server_host, ops.server_port):
        with console.status(f"starting the Prefect server (UI http://{ops.server_host}:{ops.server_port}) ..."):
            server.start(data_dir, host=ops.server_host, port=ops.server_port)
    elif not server.is_healthy(env["PREFECT_API_URL"]):
        console.print(
            f"[red]Prefect API at {env['PREFECT_API_URL']} does not answer[/red]: start it or unset PREFECT_API_URL"
        )
        raise typer.Exit(1)
    args = [sys.executable, "-m", "flows.pipeline", "--params", params.model_dump_json()]
    log_path = data_dir / "logs" / f"run-{time.strftime('%Y%m%d-%H%M%S')}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=log, env=env)
        _follow(proc, settings)
        output = proc.stdout.read().decode() if proc.stdout else ""
    if proc.wait() != 0:
        tail = log_path.read_text(errors="replace").strip().splitlines()[-15:]
        console.print("\n".join(tail), markup=False)
        console.print(f"[red]run failed[/red]; full log: {log_path}")
        raise typer.Exit(1)
    summary = json.loads(output.strip().splitlines()[-1])
    if summary.get("dry_run"):
        console.print(f"dry run, nothing written: {summary['counts']}")
        return
    _print_summary(summary, log_path)


def _follow(proc: subprocess.Popen[bytes], settings: Any) -> None:
    """Show a progress bar of documents processed, read from the catalog while the flow runs."""
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        bar = progress.add_task("documents", total=None)
        while proc.poll() is None:
            time.sleep(1.0)
            if not settings.paths.catalog.exists():
                continue
            try:
                catalog = _catalog(settings)
                counts = catalog.counts()
                catalog.close()
            except Exception:  # the flow may hold a write lock for a moment
                continue
            total = sum(v for k, v in counts.items() if k not in {"sources", "chunks"})
            progress.update(bar, total=total or None, completed=total - counts.get("pending", 0))


def _print_summary(summary: dict[str, Any], log_path: Path) -> None:
    docs = summary["documents"]
    table = Table(title=f"docmill run {summary['run_id']}", show_header=False)
    ingest = summary["ingest"]
    table.add_row(
        "files listed",
        f"{int(ingest.get('listed', 0))} (new {int(ingest.get('new', 0))}, changed "
        f"{int(ingest.get('changed', 0))}, unchanged {int(ingest.get('unchanged', 0))}, deleted "
        f"{int(ingest.get('sources_deleted', 0))})",
    )
    table.add_row("documents", ", ".join(f"{k} {v}" for k, v in sorted(docs.items()) if k not in {"sources", "chunks"}))
    table.add_row("chunks embedded", f"{summary['chunks_embedded']} new, {summary['chunks_cached']} reused")
    table.add_row("Qdrant points", str(summary["points"]))
    for reason, count in sorted(summary["quarantine"].items()):
        table.add_row("quarantined", f"{reason}: {count}")
    state = "new version" if summary["new_version"] else "unchanged"
    table.add_row("dataset", f"{summary['dataset']} {summary['dataset_tag']} ({state}), {summary['dataset_rows']} rows")
    table.add_row("dataset version", summary["dataset_version"])
    table.add_row("Prefect UI", os.environ.get("PREFECT_UI_URL", "http://127.0.0.1:4200"))
    table.add_row("data", summary["data_dir"])
    table.add_row("log", str(log_path))
    table.add_row("took", f"{summary['seconds']:.1f} s")
    console.print(table)


@app.command()
def demo(config: ConfigOpt = None) -> None:
    """Generate the sample corpus into the first source folder if it is empty, then run."""
    settings = _settings(config)
    inbox = settings.ingest.sources[0]
    if not inbox.exists() or not any(p for p in inbox.rglob("*") if p.name != ".gitkeep"):
        from docmill.samples import write_sample_corpus

        written = write_sample_corpus(inbox)
        console.print(f"wrote {len(written)} sample documents to {inbox}")
    run(config=config, source=None, batch_size=None)


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
    for row in catalog.query("SELECT status, stage, COUNT(*) n FROM documents GROUP BY status, stage ORDER BY 1, 2"):
        table.add_row(row["status"], row["stage"] or "", str(row["n"]))
    console.print(table)
    counts = catalog.counts()
    console.print(f"sources {counts['sources']}, chunks {counts['chunks']}")
    runs = Table("run", "status", "started", "seconds", "dataset version", title="last runs")
    for row in catalog.last_runs():
        summary = json.loads(row["summary"] or "{}")
        started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(row["started_at"]))
        took = f"{row['finished_at'] - row['started_at']:.1f}" if row["finished_at"] else ""
        runs.add_row(
            row["run_id"],
            row["status"],
            started,
            took,
            summary.get("dataset_version") or summary.get("error", ""),
        )
    console.print(runs)
    _quarantine_counts(catalog)


def _quarantine_counts(catalog: Any) -> None:
    table = Table("stage", "reason", "count", title="quarantine")
    for row in catalog.query("SELECT stage, reason, COUNT(*) n FROM quarantine GROUP BY stage, reason ORDER BY 1, 2"):
        table.add_row(row["stage"], row["reason"], str(row["n"]))
    console.print(table)


@quarantine_app.command("list")
def quarantine_list(
    config: ConfigOpt = None,
    stage: Annotated[str | None, typer.Option(help="Only this stage.")] = None,
    reason: Annotated[str | None, typer.Option(help="Only reasons starting with this.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (counts and rows).")] = False,
) -> None:
    """Counts by stage and reason, then every quarantined document, chunk or page with its message."""
    from docmill import quarantine

    catalog = _catalog(_settings(config))
    counts = [c for c in quarantine.summary(catalog) if (not stage or c["stage"] == stage)]
    counts = [c for c in counts if not reason or c["reason"].startswith(reason)]
    rows = catalog.quarantine(stage, reason)
    if as_json:
        print(json.dumps({"counts": counts, "rows": [dict(r) for r in rows]}, indent=2, default=str))
        return
    summary = Table("stage", "reason", "documents", "chunks", "parts", title="quarantine by reason")
    for c in counts:
        summary.add_row(c["stage"], c["reason"], str(c["documents"]), str(c["chunks"]), str(c["parts"]))
    console.print(summary)
    table = Table("id", "stage", "reason", "source", "part", "message", title="quarantine")
    for row in rows:
        part = row["part"] or (f"chunk {row['chunk_id'][:8]}" if row["chunk_id"] else "")
        source = row["source_uri"] or row["doc_id"] or ""
        table.add_row(str(row["id"]), row["stage"], row["reason"], source, part, row["message"])
    console.print(table)
    console.print(f"{len(rows)} rows; details: docmill quarantine show ID")


@quarantine_app.command("show")
def quarantine_show(
    ident: Annotated[str, typer.Argument(help="Quarantine row id, doc_id prefix or part of the source URI.")],
    config: ConfigOpt = None,
) -> None:
    """One quarantine record with its document's status, sources, other rejects and audit history (JSON)."""
    from docmill import quarantine
    from docmill.audit import AuditLog

    settings = _settings(config)
    try:
        found = quarantine.record(_catalog(settings), AuditLog(settings.paths.audit_log), ident)
    except KeyError as exc:
        console.print(f"[red]{exc.args[0]}[/red]")
        raise typer.Exit(1) from exc
    print(json.dumps(found, indent=2, default=str))


@quarantine_app.command("replay")
def quarantine_replay(
    ident: Annotated[list[str] | None, typer.Argument(help="Row ids, doc_id prefixes or URI parts.")] = None,
    config: ConfigOpt = None,
    reason: Annotated[str | None, typer.Option(help="Only reasons starting with this.")] = None,
    stage: Annotated[str | None, typer.Option(help="Only this stage.")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Every quarantined document.")] = False,
    run_now: Annotated[bool, typer.Option("--run/--no-run", help="Run the pipeline right away.")] = True,
) -> None:
    """Process quarantined documents again (after a fix or a config change): all, by reason, or by id."""
    from docmill import quarantine
    from docmill.audit import AuditLog

    if not (all_ or reason or stage or ident):
        console.print("[red]say what to replay[/red]: ids, --reason, --stage or --all")
        raise typer.Exit(2)
    settings = _settings(config)
    catalog = _catalog(settings)
    doc_ids = quarantine.select(catalog, reason, stage, ident or [])
    queued = quarantine.replay(catalog, AuditLog(settings.paths.audit_log), doc_ids)
    console.print(f"{queued} of {len(doc_ids)} selected documents queued for the next run")
    if run_now and queued:
        run(config=config)


@audit_app.command("verify")
def audit_verify(config: ConfigOpt = None) -> None:
    """Check every entry's hash and link; exit 1 naming the first edited, removed or reordered entry."""
    from docmill.audit import AuditLog

    log = AuditLog(_settings(config).paths.audit_log)
    count, problem = log.verify()
    if problem is not None:
        console.print(f"[red]audit trail broken[/red] at {problem} ({count} entries verified before it)")
        raise typer.Exit(1)
    console.print(f"audit trail intact: {count} entries ({log.path})")


@audit_app.command("show")
def audit_show(
    config: ConfigOpt = None,
    doc: Annotated[str | None, typer.Option(help="doc_id prefix or part of a source URI.")] = None,
    run: Annotated[str | None, typer.Option(help="Run id.")] = None,
    event: Annotated[str | None, typer.Option(help="Event name, e.g. document_deleted.")] = None,
    since: Annotated[str | None, typer.Option(help="From this UTC time (ISO 8601 prefix, e.g. 2026-11-22).")] = None,
    until: Annotated[str | None, typer.Option(help="Up to this UTC time (ISO 8601 prefix).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines instead of a table.")] = False,
) -> None:
    """Audit entries filtered by document, run, event and time."""
    from docmill.audit import AuditLog

    entries = AuditLog(_settings(config).paths.audit_log).show(doc=doc, run=run, since=since, until=until, event=event)
    if as_json:
        for entry in entries:
            typer.echo(json.dumps(entry, sort_keys=True))
        return
    table = Table("seq", "time (UTC)", "event", "document / source", "details", title="audit")
    for e in entries:
        subject = e.get("source_uri") or e.get("dataset") or ""
        skip = {"seq", "ts", "event", "source_uri", "prev", "hash", "run_id", "dataset"}
        details = ", ".join(f"{k}={v}" for k, v in e.items() if k not in skip)
        table.add_row(str(e["seq"]), e["ts"][:19], e["event"], str(subject), details[:160])
    console.print(table)
    console.print(f"{len(entries)} entries")


@app.command()
def lineage(
    ident: Annotated[str, typer.Argument(help="A Qdrant point id or a chunk id.")],
    config: ConfigOpt = None,
    reread: Annotated[bool, typer.Option(help="Re-read the span from the source file.")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="JSON instead of text.")] = False,
) -> None:
    """Where a vector came from: source, span, parser, chunker, model, run, dataset versions, source re-read."""
    from docmill.lineage import LineageError
    from docmill.lineage import lineage as find_lineage

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
        table.add_row(key, str(value))
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
    from docmill.configdoc import render

    sys.stdout.write(render())
