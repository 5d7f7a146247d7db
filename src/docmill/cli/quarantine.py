"""`docmill quarantine list|show|replay`: why documents, chunks and pages left the pipeline, sized for people
(totals first, then a bounded page of rows), and replaying them after a fix."""

from __future__ import annotations

import csv
import json
import sys
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from docmill.cli.common import ConfigOpt, console
from docmill.cli.common import load_cli_settings as _settings

quarantine_app = typer.Typer(help="Documents and chunks that left the pipeline, with reasons.")
CSV_FIELDS = (
    "id",
    "stage",
    "reason",
    "source_uri",
    "file",
    "file_type",
    "part",
    "chunk_id",
    "doc_id",
    "run_id",
    "message",
)


def _catalog(settings: Any) -> Any:
    from docmill.state.catalog import Catalog

    return Catalog(settings.paths.catalog)


@quarantine_app.command("list")
def quarantine_list(
    config: ConfigOpt = None,
    stage: Annotated[str | None, typer.Option(help="Only this stage.")] = None,
    reason: Annotated[str | None, typer.Option(help="Only reasons starting with this.")] = None,
    file_type: Annotated[
        str | None, typer.Option("--type", help="Only files with this extension (pdf, .docx).")
    ] = None,
    path: Annotated[
        str | None, typer.Option(help="Only sources whose path matches this shell glob ('*/hr/*', '*.pdf').")
    ] = None,
    limit: Annotated[int, typer.Option(min=0, help="Rows shown after the totals (0: all).")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="JSON: totals and every matching row, full URIs.")] = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="CSV of every matching row, full URIs.")] = False,
) -> None:
    """Totals by stage and reason, then the first `--limit` matching rows (file name, part, message)."""
    from docmill.state import quarantine

    rows = quarantine.listing(_catalog(_settings(config)), stage, reason, file_type, path)
    counts = quarantine.totals(rows)
    if as_json:
        print(json.dumps({"counts": counts, "total": len(rows), "rows": rows}, indent=2, default=str))
        return
    if as_csv:
        writer = csv.DictWriter(sys.stdout, fieldnames=CSV_FIELDS, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return
    summary = Table("stage", "reason", "documents", "chunks", "parts", title="quarantine by reason")
    for c in counts:
        summary.add_row(*(Text(str(c[k])) for k in ("stage", "reason", "documents", "chunks", "parts")))
    console.print(summary)
    shown = rows if limit == 0 else rows[:limit]
    table = Table("id", "stage", title="quarantine")
    table.add_column("reason", overflow="fold")
    table.add_column("file", no_wrap=True)  # whole, however narrow the terminal: the message wraps instead
    table.add_column("part")
    table.add_column("message")
    for row in shown:
        part = row["part"] or (f"chunk {row['chunk_id'][:8]}" if row["chunk_id"] else "")
        cells = (str(row["id"]), row["stage"], row["reason"], row["file"], part, row["message"] or "")
        table.add_row(*(Text(cell) for cell in cells))  # names and messages are data, never Rich markup
    if shown:
        console.print(table)
    more = len(rows) - len(shown)
    counted = f"{len(rows)} rows" + (
        f"; {len(shown)} shown, {more} more (--limit N, 0: all; --stage, --reason, --type, --path)" if more else ""
    )
    console.print(counted, markup=False)
    console.print("full source URIs: docmill quarantine show ID, --json or --csv", markup=False)


@quarantine_app.command("show")
def quarantine_show(
    ident: Annotated[str, typer.Argument(help="Quarantine row id, doc_id prefix or part of the source URI.")],
    config: ConfigOpt = None,
) -> None:
    """One quarantine record with its document's status, sources, other rejects and audit history (JSON)."""
    from docmill.state import quarantine
    from docmill.state.audit import AuditLog

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
    from docmill.state import quarantine
    from docmill.state.audit_check import open_log

    if not (all_ or reason or stage or ident):
        console.print("[red]say what to replay[/red]: ids, --reason, --stage or --all")
        raise typer.Exit(2)
    settings = _settings(config)
    catalog = _catalog(settings)
    doc_ids = quarantine.select(catalog, reason, stage, ident or [])
    queued = quarantine.replay(catalog, open_log(settings), doc_ids)
    console.print(f"{queued} of {len(doc_ids)} selected documents queued for the next run")
    if run_now and queued:
        from docmill.cli.running import run_pipeline

        run_pipeline(config)
