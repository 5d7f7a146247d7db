"""`docmill search`: the collection queried like an application would (`docmill.run.search`)."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from docmill.cli.common import ConfigOpt, console
from docmill.cli.common import load_cli_settings as _settings


def _filters(pairs: list[str]) -> dict[str, str]:
    filters: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            console.print(f"[red]--filter takes KEY=VALUE, not {pair!r}[/red]")
            raise typer.Exit(2)
        filters[key.strip()] = value.strip()
    return filters


def search_command(
    query: Annotated[str, typer.Argument(help="What to search for.")],
    mode: Annotated[str, typer.Option(help="hybrid (dense + sparse, fused by rank), dense or sparse.")] = "hybrid",
    filter_: Annotated[
        list[str] | None, typer.Option("--filter", help="KEY=VALUE a hit's payload must hold (repeatable).")
    ] = None,
    k: Annotated[int, typer.Option("-k", min=1, help="How many hits.")] = 10,
    config: ConfigOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON instead of text.")] = False,
) -> None:
    """Search the collection: each hit with its score, heading path, source, page and character span."""
    from docmill.run.search import MODES, search
    from docmill.state.store import StoreUnavailable

    if mode not in MODES:
        console.print(f"[red]--mode is one of {', '.join(MODES)}, not {mode!r}[/red]")
        raise typer.Exit(2)
    try:
        hits = search(_settings(config), query, mode=mode, filters=_filters(filter_ or []), k=k)  # type: ignore[arg-type]
    except StoreUnavailable as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc
    if as_json:
        typer.echo(json.dumps([h.as_dict() for h in hits], indent=2, sort_keys=True, default=str))
        return
    if not hits:
        console.print("no hits")
        return
    for rank, hit in enumerate(hits, 1):
        table = Table(title=f"{rank}. score {hit.score:.4f}  chunk {hit.chunk_id} (point {hit.point_id})")
        table.add_column("field")
        table.add_column("value", overflow="fold")  # a long source URI is wrapped, never cut to an ellipsis
        table.add_row("headings", " > ".join(hit.headings) or "(none)")
        table.add_row("source", str(hit.source_uri))
        pages = hit.page_start if hit.page_start == hit.page_end else f"{hit.page_start}-{hit.page_end}"
        table.add_row("page", str(pages))
        table.add_row("span", f"{hit.char_start}-{hit.char_end}")
        table.add_row("doc_id", hit.doc_id)
        console.print(table)
        console.print(hit.text)
