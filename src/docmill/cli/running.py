"""`docmill run`: start the pipeline flow in its own process against the Prefect server (the embedded one
when none is configured), follow it with a progress bar read from the catalog, print the run summary. Used by
`docmill run`, `docmill demo` and `docmill quarantine replay --run`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from docmill.cli.common import console
from docmill.cli.common import load_cli_settings as _settings
from docmill.run import runstats


def run_pipeline(
    config: Path | None,
    source: list[Path] | None = None,
    batch_size: int | None = None,
    dry_run: bool = False,
    reprocess_quarantined: bool = False,
    snapshot_name: str | None = None,
) -> None:
    """Run the flow with these parameters (the same as a run started from the Prefect UI) and print its summary.

    Raises:
        typer.Exit: 1 when the Prefect API does not answer or the run failed (its log's tail is printed).
    """
    from docmill.run import server
    from docmill.run.params import PipelineParams

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
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=log, env=env, preexec_fn=_dies_with_us())
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
    _print_summary(summary, log_path, server.ui_url(env))


def _dies_with_us() -> Callable[[], None] | None:
    """On Linux, what makes the flow process get SIGKILL when this one dies (`kill -9` of `docmill run`, or of
    the demo): the run ends with the command that started it, as it does on Ctrl-C or a closed terminal, instead
    of working on headless with the data folder's lock and no one to read its summary. The next run records it
    crashed. Elsewhere (no prctl) None: the run goes on alone."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up here: the child only calls it
    parent = os.getpid()
    pr_set_pdeathsig = 1

    def _in_child() -> None:
        prctl(pr_set_pdeathsig, signal.SIGKILL)
        if os.getppid() != parent:  # we died between the fork and the prctl
            os.kill(os.getpid(), signal.SIGKILL)

    return _in_child


def _catalog(settings: Any) -> Any:
    from docmill.state.catalog import Catalog

    return Catalog(settings.paths.catalog)


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


def _print_summary(summary: dict[str, Any], log_path: Path, ui: str) -> None:
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
    rates = summary["throughput"]
    table.add_row(
        "throughput",
        f"{rates['documents']} documents ({rates['documents_per_second']:.2f}/s), "
        f"{rates['chunks']} chunks ({rates['chunks_per_second']:.2f}/s)",
    )
    # the figure the metrics file and the Prefect artifact carry (rounded once, to 0.01 s)
    stage_seconds = ", ".join(f"{r['stage']} {r['seconds']:.2f}" for r in runstats.stage_rows(summary["stages"]))
    table.add_row("stage seconds", stage_seconds)
    table.add_row("reject rates", ", ".join(f"{k} {v:.1%}" for k, v in summary["reject_rates"].items()))
    for reason, count in sorted(summary["quarantine"].items()):
        table.add_row("quarantined", f"{reason}: {count}")
    if semantic := summary.get("semantic_duplicates"):
        outcome = next(f"{k} {semantic[k]}" for k in ("kept", "flagged", "dropped") if k in semantic)
        table.add_row(
            "semantic duplicates",
            f"{semantic['found']} chunks at cosine >= {semantic['threshold']} ({outcome}; "
            f"{semantic['found_in_batch']} within their batch)",
        )
    state = "new version" if summary["new_version"] else "unchanged"
    table.add_row("dataset", f"{summary['dataset_tag']} ({state}), {summary['dataset_rows']} rows")  # tag: NAME@vN
    table.add_row("dataset version", summary["dataset_version"])
    table.add_row("Prefect UI", ui)
    table.add_row("data", summary["data_dir"])
    table.add_row("metrics", summary["metrics_file"])
    table.add_row("log", str(log_path))
    table.add_row("took", f"{summary['seconds']:.1f} s")
    console.print(table)
