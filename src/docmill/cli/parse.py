"""`docmill parse FILE`: what docmill extracts from one file, the way `docling FILE` or `markitdown FILE` show it.

The file goes through the same steps a run gives it: ingest (hash, extension), the extract stage in the parser
pool of the configured `extract` settings (worker processes, time and memory limits, OCR, PDF tables) and the
`extracted` contract. An archive is expanded (with the `ingest` archive limits) and each member is parsed; an
e-mail is parsed, then each of its attachments (a digest's forwarded messages too). The
output is each document's elements (kind, page, text; tables as Markdown) or its quarantine reason and message.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer

from docmill.cli.common import ConfigOpt, console
from docmill.cli.common import load_cli_settings as _settings

_MAIL = {".eml", ".msg"}


def _items(path: Path, settings: Any, scratch: Path) -> tuple[list[Any], list[Any]]:
    """The file (or an archive's members; an e-mail and its attachments) as listed items, plus rejects of a
    refused archive or member or of unreadable attachments."""
    from docmill.records import FileItem, Reject
    from docmill.sources.archives import ArchiveError, Budget, Limits, archive_kind, expand
    from docmill.sources.attachments import extract_attachments

    def item(file: Path, uri: str) -> FileItem:
        stat = file.stat()
        return FileItem(uri, str(file), file.name, stat.st_size, stat.st_mtime)

    uri = path.resolve().as_uri()
    cfg = settings.ingest
    if cfg.expand_archives and path.suffix.lower() in _MAIL:  # the message, then each attachment, as a run does
        try:
            names = extract_attachments(path, path.suffix.lower(), scratch)
        except Exception as exc:  # a broken message: its own parse says more
            return [item(path, uri)], [Reject("ingest", "attachments_unreadable", str(exc)[:300], source_uri=uri)]
        return [item(path, uri), *(item(scratch / name, f"{uri}!/{name}") for name in names)], []
    if not cfg.expand_archives or archive_kind(path) is None:
        return [item(path, uri)], []
    limits = Limits(cfg.archive_max_members, int(cfg.archive_max_total_mb * 1024**2), cfg.archive_max_ratio)
    try:
        expanded = expand(path, scratch, Budget(limits, path.stat().st_size))  # one level, as `docmill parse` shows
    except ArchiveError as exc:
        return [], [Reject("ingest", exc.reason, exc.message, source_uri=uri)]
    refused = [
        Reject("ingest", reason, f"archive member {name} refused", source_uri=f"{uri}!/{name}")
        for name, reason in expanded.refused
    ]
    return [item(scratch / name, f"{uri}!/{name}") for name in expanded.members], refused


def extract_file(path: Path, settings: Any, keep_pool: bool = False) -> dict[str, Any]:
    """Documents and rejects docmill's extract stage gives one file (or an archive's members), as plain data.

    Args:
        path: the file.
        settings: docmill settings (`extract` and `ingest` archive limits are used).
        keep_pool: leave this process's parser pool running for the next call (the fidelity benchmark parses
            file after file); the caller then stops it with `stagework.release_workers(settings)`.
    """
    from docmill.run import stagework
    from docmill.sources.folder import sha256_file
    from docmill.stages.ingest import ingest

    with tempfile.TemporaryDirectory(prefix="docmill-parse-") as scratch:
        items, rejects = _items(path, settings, Path(scratch) / "members")
        listed = ingest(items, lambda uri: None, sha256_file)
        rejects += listed.rejects
        try:
            result = stagework.extract_batch(settings, [source for source, _ in listed.records])
        finally:
            if not keep_pool:
                stagework.release_workers(settings)
    documents = [
        {
            "source_uri": doc.source_uri,
            "format": doc.file_type,
            "parser": doc.parser,
            "metadata": doc.metadata,
            "elements": [{"kind": e.kind, "page": e.page, "text": e.text} for e in doc.elements],
        }
        for doc in result.records
    ]
    quarantined = [
        {"source_uri": r.source_uri, "stage": r.stage, "reason": r.reason, "message": r.message}
        for r in [*rejects, *result.rejects]
        if r.part is None
    ]
    return {"documents": documents, "quarantined": quarantined}


def parse_command(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="The file to extract.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (documents, quarantined) instead.")] = False,
    config: ConfigOpt = None,
) -> None:
    """Show what docmill extracts from one file: elements (kind, page, text; tables as Markdown), or the
    quarantine reason and message. Uses the configured parser pool and limits, as a run does. Exit code 1 when
    the file (or every member of an archive) is quarantined."""
    result = extract_file(file, _settings(config))
    if as_json:
        typer.echo(json.dumps(result, ensure_ascii=False, indent=2, default=str))
    else:
        _print(result)
    if not result["documents"]:
        raise typer.Exit(1)


def _print(result: dict[str, Any]) -> None:
    for doc in result["documents"]:
        console.rule(f"{doc['source_uri']}  [{doc['format']}, {doc['parser']}, {len(doc['elements'])} elements]")
        for element in doc["elements"]:
            where = f"p{element['page']} " if element["page"] is not None else ""
            console.print(f"[bold cyan]{where}{element['kind']}[/bold cyan]")
            console.print(element["text"], markup=False, highlight=False, soft_wrap=True)
    for reject in result["quarantined"]:
        console.print(f"[red]quarantined[/red] {reject['source_uri']}: {reject['stage']}.{reject['reason']}")
        console.print(reject["message"], markup=False, highlight=False, soft_wrap=True)
