"""`docmill snapshot ...` and `docmill trainings ...`: dataset versions for fine-tuning and the registry of
the trainings that used them (a thin layer over `docmill.snapshots.service`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from docmill.cli.common import ConfigOpt, console
from docmill.cli.common import load_cli_settings as _settings

snapshot_app = typer.Typer(help="Dataset snapshots for fine-tuning: cut, list, show, diff, check out, card.")
trainings_app = typer.Typer(help="Which dataset version each model run was trained on (and the reverse).")

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _fail(exc: Exception) -> typer.Exit:
    console.print(f"[red]{exc}[/red]")
    return typer.Exit(1)


def _errors() -> tuple[type[Exception], ...]:
    from docmill.snapshots.spec import SnapshotError

    return (SnapshotError, KeyError, RuntimeError)


def _dump(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, sort_keys=True, default=str))


@snapshot_app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="Dataset name (folder data/datasets/NAME, tags NAME@vN).")],
    filters: Annotated[
        list[str] | None,
        typer.Option(
            "--filter",
            help="Repeatable: source=GLOB, department=X, language=de, since=YYYY-MM-DD, until=..., "
            "date_field=created, quality.<signal>>=X, quality.<signal><=X.",
        ),
    ] = None,
    fmt: Annotated[str | None, typer.Option("--format", help="parquet, jsonl or both.")] = None,
    split: Annotated[str | None, typer.Option(help="Shares of documents, e.g. train=0.9,eval=0.1.")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed of the split assignment.")] = None,
    push: Annotated[bool | None, typer.Option("--push/--no-push", help="Push to the DVC remote.")] = None,
    license_id: Annotated[
        str | None, typer.Option("--license", help="Licence on the dataset card (default: snapshot.license).")
    ] = None,
    languages: Annotated[
        list[str] | None,
        typer.Option("--language", help="Repeatable: language on the dataset card (default: snapshot.languages)."),
    ] = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Cut a dataset version from the current validated chunks; prints its tag and version id."""
    from docmill.snapshots import service
    from docmill.snapshots.spec import parse_filters, parse_splits

    settings = _settings(config)
    try:
        request = service.make_request(
            settings,
            name,
            parse_filters(filters or []),
            format=fmt,
            splits=parse_splits(split) if split else None,
            seed=seed,
            push=push,
            license=license_id,
            languages=languages or None,
        )
        with console.status(f"cutting snapshot {name} ..."):
            result = service.create(settings, request)
    except _errors() as exc:
        raise _fail(exc) from exc
    if as_json:
        _dump(result.as_dict())
        return
    state = "new version" if result.new else "unchanged: same content as this existing version"
    console.print(f"[bold]{result.tag}[/bold] ({state})")
    console.print(f"version {result.version}: {result.rows} chunks of {result.documents} documents")
    for split_name, counts in result.splits.items():
        console.print(f"  {split_name}: {counts.get('chunks', 0)} chunks, {counts.get('documents', 0)} documents")


@snapshot_app.command("list")
def list_(config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """Every dataset version in the data repository."""
    from docmill.snapshots import core, service

    rows = core.list_versions(service.open_repo(_settings(config)))
    if as_json:
        _dump(rows)
        return
    table = Table("tag", "version (DVC hash)", "git commit", "created", title="dataset versions")
    for row in rows:
        table.add_row(row["tag"], row["version"], row["git_rev"][:12], row["created"])
    console.print(table)


@snapshot_app.command("show")
def show(
    ref: Annotated[str, typer.Argument(help="NAME@vN, or NAME for its newest version.")],
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Counts, sources, config hash, component versions, quality and PII summaries of a version."""
    from docmill.snapshots import core, service

    try:
        info = core.show(service.open_repo(_settings(config)), ref)
    except _errors() as exc:
        raise _fail(exc) from exc
    if as_json:
        _dump(info)
        return
    m = info["manifest"]
    table = Table("field", "value", title=f"{info['tag']} ({info['version']})", show_header=False)
    table.add_row("created", info["created"])
    table.add_row("git commit", info["git_rev"])
    table.add_row("chunks / documents / tokens", f"{m['rows']} / {m['documents']} / {m['tokens']}")
    table.add_row("splits", ", ".join(f"{k} {v.get('chunks', 0)}" for k, v in m["splits"].items()))
    for key in ("sources", "file_types", "languages", "departments", "pii", "dedup", "quarantine"):
        table.add_row(key, ", ".join(f"{k} {v}" for k, v in m[key].items()) or "none")
    for signal, facts in m["quality"].items():
        table.add_row(f"quality {signal}", f"p10 {facts['p10']}, p50 {facts['p50']}, p90 {facts['p90']}")
    table.add_row("config hash", str(m["config_hash"]))
    table.add_row("components", ", ".join(f"{k} {v}" for k, v in m["components"].items()))
    table.add_row("files", ", ".join(m["files"]))
    console.print(table)


@snapshot_app.command("diff")
def diff(
    ref_a: Annotated[str, typer.Argument(help="The older version, NAME@vN.")],
    ref_b: Annotated[str, typer.Argument(help="The newer version, NAME@vM.")],
    config: ConfigOpt = None,
    chunks: Annotated[bool, typer.Option(help="List every added, removed and changed chunk.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Documents and chunks added, removed and changed between two versions."""
    from docmill.snapshots import service
    from docmill.snapshots.diff import diff as compare

    try:
        result = compare(service.open_repo(_settings(config)), ref_a, ref_b)
    except _errors() as exc:
        raise _fail(exc) from exc
    if as_json:
        _dump(result)
        return
    table = Table("change", "document (source)", title=f"documents {result['a']} -> {result['b']}")
    for change in ("added", "removed", "changed"):
        for uri in result["documents"][change]:
            table.add_row(change, uri)
    console.print(table)
    counts = {k: len(v) if isinstance(v, list) else v for k, v in result["chunks"].items()}
    console.print("chunks: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    if chunks:
        listing = Table("change", "chunk", "source", "index")
        for change in ("added", "removed", "changed"):
            for item in result["chunks"][change]:
                listing.add_row(change, item["chunk_id"], item["source_uri"], str(item["chunk_index"]))
        console.print(listing)


@snapshot_app.command("checkout")
def checkout(
    ref: Annotated[str, typer.Argument(help="NAME@vN.")],
    config: ConfigOpt = None,
) -> None:
    """Restore a version's files in data/datasets/NAME/ byte for byte (from the remote if the cache lacks them)."""
    from docmill.snapshots import service

    try:
        info = service.checkout(_settings(config), ref)
    except _errors() as exc:
        raise _fail(exc) from exc
    console.print(f"{info['tag']} ({info['version']}) restored in {info['folder']}: {', '.join(info['files'])}")


@snapshot_app.command("card")
def card(
    ref: Annotated[str, typer.Argument(help="NAME@vN, or NAME for its newest version.")],
    out: Annotated[Path, typer.Option(help="Folder to write NAME-vN.md and NAME-vN.html into.")] = Path("."),
    config: ConfigOpt = None,
) -> None:
    """Render a version's dataset card (Markdown + self-contained HTML) with the trainings that used it."""
    from docmill.snapshots import service

    try:
        paths = service.card(_settings(config), ref, out)
    except _errors() as exc:
        raise _fail(exc) from exc
    console.print("\n".join(str(p) for p in paths))


@trainings_app.command("record")
def record(
    model: Annotated[str, typer.Option(help="Model name.")],
    dataset: Annotated[str, typer.Option(help="NAME@vN the model was trained on.")],
    run_id: Annotated[str | None, typer.Option(help="The training run's id (MLflow, W&B, ...).")] = None,
    params: Annotated[Path | None, typer.Option(help="JSON/YAML file of training parameters.")] = None,
    metrics: Annotated[Path | None, typer.Option(help="JSON/YAML file of metrics.")] = None,
    config: ConfigOpt = None,
) -> None:
    """Record that a model run was trained on a dataset version (committed to git, audited)."""
    from docmill.snapshots import service
    from docmill.snapshots.trainings import load_values

    settings = _settings(config)
    try:
        entry = service.record_training(
            settings,
            model=model,
            dataset=dataset,
            run_id=run_id,
            params=load_values(params),
            metrics=load_values(metrics),
        )
    except _errors() as exc:
        raise _fail(exc) from exc
    console.print(f"training {entry['id']}: {model} on {entry['dataset_tag']} ({entry['dataset_version']})")


@trainings_app.command("list")
def list_trainings(
    model: Annotated[str | None, typer.Option(help="Only this model: which datasets it was trained on.")] = None,
    dataset: Annotated[str | None, typer.Option(help="NAME or NAME@vN: which models used it.")] = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Training records, filtered by model and/or dataset."""
    from docmill.snapshots import service

    rows = service.registry(_settings(config)).find(model=model, dataset=dataset)
    if as_json:
        _dump(rows)
        return
    table = Table("id", "model", "run", "dataset", "version", "recorded", title="trainings")
    for r in rows:
        table.add_row(r["id"], r["model"], r["run_id"] or "", r["dataset_tag"], r["dataset_version"], r["recorded_at"])
    console.print(table)


@trainings_app.command("show")
def show_training(
    ident: Annotated[str, typer.Argument(help="Record id (or a unique prefix).")],
    config: ConfigOpt = None,
) -> None:
    """One training record (JSON): model, run, dataset tag, DVC hash, data git rev, config hash, params, metrics."""
    from docmill.snapshots import service

    try:
        _dump(service.registry(_settings(config)).get(ident))
    except _errors() as exc:
        raise _fail(exc) from exc
