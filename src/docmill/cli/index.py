"""`docmill index ...`: Qdrant collections brought back from dataset versions (a thin layer over
`docmill.snapshots.service`)."""

from __future__ import annotations

from typing import Annotated

import typer

from docmill.cli.common import ConfigOpt, console
from docmill.cli.common import load_cli_settings as _settings

index_app = typer.Typer(help="Vector indexes rebuilt from dataset versions, next to the live collection.")


@index_app.command("restore")
def restore(
    ref: Annotated[str, typer.Argument(help="NAME@vN (a snapshot or the pipeline's dataset), or NAME: its newest.")],
    collection: Annotated[
        str | None, typer.Option(help="Collection to write (default: <embed.collection>-NAME-vN).")
    ] = None,
    replace: Annotated[
        bool,
        typer.Option(
            help="Rebuild the collection if it exists already (it is dropped first: a failed rebuild leaves none)."
        ),
    ] = False,
    config: ConfigOpt = None,
) -> None:
    """Rebuild a Qdrant collection from a version's Parquet files (vectors, payloads, point ids), no re-embedding."""
    from docmill.snapshots import service
    from docmill.snapshots.spec import SnapshotError
    from docmill.state.store import StoreUnavailable

    try:
        with console.status(f"restoring {ref} ..."):
            info = service.restore_index(_settings(config), ref, collection, replace)
    except (SnapshotError, StoreUnavailable, RuntimeError, KeyError, FileNotFoundError, ValueError) as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc
    console.print(
        f"{info['tag']} ({info['version']}): {info['points']} points in {info['collection']!r} at {info['location']}"
    )
    if not info["run_id_restored"] and info["pipeline_dataset"]:
        console.print(
            "payloads without run_id: the pipeline's own dataset versions do not record the run that wrote each "
            "point (snapshots do)"
        )
    elif not info["run_id_restored"]:
        console.print("payloads without run_id: this snapshot's Parquet predates the run_id column")


@index_app.command("drop")
def drop(
    collection: Annotated[str, typer.Argument(help="A restored collection (never embed.collection).")],
    config: ConfigOpt = None,
) -> None:
    """Delete a restored collection (the embedded store loads every collection it holds into memory)."""
    from docmill.snapshots import service
    from docmill.snapshots.spec import SnapshotError
    from docmill.state.store import StoreUnavailable

    try:
        location = service.drop_index(_settings(config), collection)
    except (SnapshotError, StoreUnavailable, RuntimeError, ValueError) as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc
    console.print(f"collection {collection!r} dropped at {location}")
