"""`docmill audit verify|show|acknowledge|rotate-key`: the signed audit trail (see docs/operations.md,
"Security model")."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from docmill.cli.common import ConfigOpt, console
from docmill.cli.common import load_cli_settings as _settings

audit_app = typer.Typer(help="The append-only, signed (HMAC) audit trail (data/audit/audit.jsonl).")


@audit_app.command("verify")
def audit_verify(config: ConfigOpt = None) -> None:
    """Check every entry's signature and link, the anchors in the data repository's commits and that the
    catalog's runs and documents are all in the trail; exit 1 naming the first problem."""
    from docmill.state.audit_check import check_settings, open_log

    settings = _settings(config)
    try:
        log = open_log(settings, create_key=False)
    except (OSError, ValueError) as exc:
        console.print(f"[red]cannot verify[/red]: {exc}")
        raise typer.Exit(1) from exc
    report = check_settings(settings, log)
    found = report.verified
    if report.problems:
        where = f" ({found.count} entries verified before it)" if found.problem else ""
        console.print(f"[red]audit trail broken[/red]: {escape(report.problems[0])}{escape(where)}")
        for more in report.problems[1:]:
            console.print(f"  also: {more}", markup=False)
        raise typer.Exit(1)
    gap = f"; starts with a gap acknowledged at {found.gap['ts']}: {found.gap['reason']}" if found.gap else ""
    legacy = f"; the first {found.legacy} entries predate signing (plain sha256)" if found.legacy else ""
    console.print(
        f"audit trail intact: {found.count} entries, {report.anchors} anchors, the catalog's {report.runs} runs "
        f"and {report.documents} documents accounted for ({log.path}){gap}{legacy}",
        markup=False,
    )


@audit_app.command("acknowledge")
def audit_acknowledge(
    reason: Annotated[str, typer.Option(help="Why the trail broke and who looked (recorded in the gap entry).")],
    config: ConfigOpt = None,
) -> None:
    """Set a broken trail aside (kept as audit.jsonl.broken-<time>) and start a new one with an `audit_gap` entry
    recording the reason, the problem and the old file's sha256, so that runs can go on. Refused when the
    trail is intact."""
    from docmill.state.audit_check import acknowledge_gap, check_settings, git_anchors, open_log
    from docmill.state.locks import lock_data_dir

    settings = _settings(config)
    log = open_log(settings, create_key=False)
    with lock_data_dir(settings.paths.data_dir, "audit acknowledge"):
        report = check_settings(settings, log)
        if not report.problems:
            console.print("audit trail intact: nothing to acknowledge")
            raise typer.Exit(1)
        anchored = max((seq for seq, _ in git_anchors(settings.paths.data_dir / "datasets")), default=0)
        entry = acknowledge_gap(log, reason, report.problems[0], after=anchored)
    console.print(
        f"broken trail set aside as {entry['set_aside']}; new trail starts at seq {entry['seq']}", markup=False
    )


@audit_app.command("rotate-key")
def audit_rotate_key(config: ConfigOpt = None) -> None:
    """Put a new HMAC key first in the key file (older keys stay, to verify older entries) and record the
    rotation in the trail, signed by the new key."""
    from docmill.state.audit_check import open_log, require_intact
    from docmill.state.audit_keys import rotate
    from docmill.state.locks import lock_data_dir

    settings = _settings(config)
    with lock_data_dir(settings.paths.data_dir, "audit rotate-key"):
        try:
            require_intact(settings, open_log(settings, create_key=False))
            keys, retired = rotate(settings)
        except (OSError, RuntimeError, ValueError) as exc:
            console.print(f"[red]not rotated[/red]: {exc}", markup=False)
            raise typer.Exit(1) from exc
        log = open_log(settings, create_key=False)
        log.append("audit_key_rotated", retired_key=retired, new_key=keys.current)
    console.print(
        f"audit key rotated: {retired} retired, {keys.current} signs from now on ({settings.paths.audit_key})"
    )


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
    """Audit entries filtered by document, run, event and time (unverified: `docmill audit verify` checks)."""
    from docmill.state.audit import AuditLog

    entries = AuditLog(_settings(config).paths.audit_log).show(doc=doc, run=run, since=since, until=until, event=event)
    if as_json:
        for entry in entries:
            typer.echo(json.dumps(entry, sort_keys=True))
        return
    table = Table("seq", "time (UTC)", "event", "document / source", "details", title="audit")
    for e in entries:
        subject = e.get("source_uri") or e.get("dataset") or ""
        skip = {"seq", "ts", "event", "source_uri", "prev", "hash", "key", "run_id", "dataset"}
        details = ", ".join(f"{k}={v}" for k, v in e.items() if k not in skip)
        table.add_row(str(e["seq"]), e["ts"][:19], e["event"], str(subject), details[:160])
    console.print(table)
    console.print(f"{len(entries)} entries")
