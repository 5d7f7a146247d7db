"""Settings-level entry points shared by the CLI and the Prefect flow: open the data repository, take the
data folder's lock, call the snapshot functions. No Prefect here."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from docmill.config.settings import Settings
from docmill.snapshots import core
from docmill.snapshots.spec import SnapshotError, SnapshotFilter, SnapshotRequest
from docmill.snapshots.trainings import TrainingRegistry
from docmill.state.audit_check import open_log
from docmill.state.catalog import Catalog
from docmill.state.datarepo import DataRepo
from docmill.state.locks import lock_data_dir


def open_repo(settings: Settings) -> DataRepo:
    """The initialised data repository of these settings."""
    repo = DataRepo.from_settings(settings)
    repo.ensure()
    return repo


@contextmanager
def locked(settings: Settings, holder: str) -> Iterator[DataRepo]:
    """The data repository under the data folder's run lock (one writer at a time)."""
    handle = lock_data_dir(settings.paths.data_dir, holder)
    try:
        yield open_repo(settings)
    finally:
        handle.close()


def make_request(settings: Settings, name: str, filters: SnapshotFilter | None = None, **given: Any) -> SnapshotRequest:
    """A request with the `snapshot` section's defaults for everything not given (None = not given).

    Raises:
        SnapshotError: when the request is invalid (name, splits).
    """
    defaults = settings.snapshot.model_dump()
    values = {**defaults, **{k: v for k, v in given.items() if v is not None}}
    if name == settings.version.dataset_name:
        raise SnapshotError(f"{name!r} is the pipeline's own dataset (version.dataset_name): choose another name")
    try:
        return SnapshotRequest(name=name, filters=filters or SnapshotFilter(), **values)
    except ValueError as exc:
        raise SnapshotError(str(exc)) from exc


def create(settings: Settings, request: SnapshotRequest) -> core.SnapshotResult:
    """Cut a snapshot from the catalog of these settings."""
    if not settings.paths.catalog.exists():
        raise SnapshotError(f"no catalog at {settings.paths.catalog}: run the pipeline first")
    catalog = Catalog(settings.paths.catalog)
    try:
        with locked(settings, f"snapshot {request.name}") as repo:
            roots = [Path(p) for p in settings.ingest.sources]
            return core.create_snapshot(catalog, repo, open_log(settings), request, roots)
    finally:
        catalog.close()


def checkout(settings: Settings, ref: str) -> dict[str, Any]:
    """Restore a version in its folder (see `core.checkout`)."""
    with locked(settings, f"checkout {ref}") as repo:
        return core.checkout(repo, open_log(settings), ref)


def registry(settings: Settings, repo: DataRepo | None = None) -> TrainingRegistry:
    """The training registry of these settings' data repository."""
    return TrainingRegistry(repo or open_repo(settings), open_log(settings))


def record_training(settings: Settings, **fields: Any) -> dict[str, Any]:
    """Record a training under the data folder's lock (see `TrainingRegistry.record`)."""
    with locked(settings, "trainings record") as repo:
        return registry(settings, repo).record(**fields)


def card(settings: Settings, ref: str, out: Path) -> list[Path]:
    """Render a version's card (Markdown + HTML) with the trainings recorded so far into `out`."""
    from docmill.snapshots.card import write_cards

    repo = open_repo(settings)
    tag = core.resolve(repo, ref)
    manifest = core.read_manifest(repo, tag)
    trainings = registry(settings, repo).find(dataset=tag)
    return write_cards(out, manifest, trainings, title=tag, stem=tag.replace("@", "-"))


def _store(settings: Settings, collection: str) -> Any:
    """A store for `collection` on the configured Qdrant (never the live collection).

    Raises:
        SnapshotError: for the live collection's name.
    """
    import os

    from docmill.embedding.sparse import from_settings
    from docmill.state.store import QdrantStore

    cfg = settings.embed
    if collection == cfg.collection:
        raise SnapshotError(
            f"{collection!r} is the pipeline's live collection (embed.collection): restored indexes live next to it"
        )
    return QdrantStore(
        collection,
        url=cfg.qdrant_url,
        path=settings.paths.data_dir / "qdrant",
        api_key=os.environ.get(cfg.qdrant_api_key_env),
        write_batch=cfg.write_batch,
        sparse=from_settings(settings),
    )


def restore_index(settings: Settings, ref: str, collection: str | None = None, replace: bool = False) -> dict[str, Any]:
    """Rebuild a Qdrant collection (the configured server, or the embedded store under the data folder) from
    version `ref`'s Parquet files, next to the live collection; see `docmill.snapshots.restore`.

    The collection is `collection`, or `<embed.collection>-<NAME>-v<N>`; the live collection itself is refused.

    Raises:
        SnapshotError: on an unknown version, the live collection's name, an existing collection (without
            `replace`), a version without Parquet files or a damaged file.
    """
    from docmill.snapshots.restore import restore

    with locked(settings, f"index restore {ref}") as repo:
        tag = core.resolve(repo, ref)
        store = _store(settings, collection or f"{settings.embed.collection}-{tag.replace('@', '-')}")
        try:
            result = restore(repo, tag, store, replace)
        finally:
            store.close()
        open_log(settings).append(
            "index_restored",
            dataset=tag.rsplit("@v", 1)[0],
            tag=tag,
            version=result["version"],
            collection=store.collection,
            points=result["points"],
            location=store.location,
        )
    return {**result, "location": store.location}


def drop_index(settings: Settings, collection: str) -> str:
    """Delete a collection `restore_index` made (never the live one, never a collection of someone else's on a
    shared server: the audit trail must record its restore at this location); returns where it was.

    Raises:
        SnapshotError: for the live collection, a collection that does not exist, or one docmill did not restore.
    """
    with locked(settings, f"index drop {collection}"):
        store = _store(settings, collection)
        try:
            if not store.exists():
                raise SnapshotError(f"no collection {collection!r} at {store.location}")
            restored = open_log(settings).show(event="index_restored")
            if not any(
                e.get("collection") == collection and str(e.get("location")) == str(store.location) for e in restored
            ):
                raise SnapshotError(
                    f"collection {collection!r} at {store.location} was not made by docmill index restore: not dropped"
                )
            store.drop()
        finally:
            store.close()
        open_log(settings).append("index_dropped", collection=collection, location=store.location)
    return str(store.location)
