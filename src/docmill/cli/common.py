"""What every part of the command line shares: the console, the `--config` option and loading settings with
config errors turned into exit code 2."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

console = Console()
ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", help="YAML config (default configs/docmill.yaml).")]


def load_cli_settings(config: Path | None) -> Any:
    """Settings from `config` (default configs/docmill.yaml); a bad config prints why and exits with 2."""
    from docmill.config.settings import load_settings

    try:
        return load_settings(config)
    except (FileNotFoundError, ValueError) as exc:
        console.print(f"[red]config error:[/red] {exc}")
        raise typer.Exit(2) from exc
