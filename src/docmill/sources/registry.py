"""Which sources a run ingests: the configured folders and connectors, narrowed by the run's `sources`."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import islice
from pathlib import Path

from docmill.config.connectors import (
    FolderConnectorConfig,
    MailboxConnectorConfig,
    S3ConnectorConfig,
    SqlConnectorConfig,
)
from docmill.config.settings import IngestConfig
from docmill.records import FileItem, Reject
from docmill.sources.base import Connector
from docmill.sources.folder import FolderSource


def select(cfg: IngestConfig, names: list[str]) -> IngestConfig:
    """The ingest settings of a run limited to `names`: each is a configured connector's name or a folder path
    (today's behaviour: the folders replace `ingest.sources`). Only the chosen sources are listed, and only
    their scopes are checked for deletions."""
    by_name = {c.name: c for c in cfg.connectors}
    chosen = [by_name[n] for n in names if n in by_name]
    folders = [Path(n) for n in names if n not in by_name]
    roots = [*configured_folders(cfg), *(r.resolve() for r in cfg.allowed_roots)]
    refused = [str(f) for f in folders if not any(f.resolve().is_relative_to(r) for r in roots)]
    if refused:
        raise ValueError(
            f"run parameter sources {refused} are neither configured connectors nor folders under a configured "
            f"source or `ingest.allowed_roots` ({[str(r) for r in roots]}): add the folder to the config file"
        )
    return cfg.model_copy(update={"sources": folders, "connectors": chosen})


def configured_folders(cfg: IngestConfig) -> list[Path]:
    """Every local folder the settings ingest (resolved): `ingest.sources` and folder connectors."""
    paths = [*cfg.sources, *(c.path for c in cfg.connectors if isinstance(c, FolderConnectorConfig))]
    return [p.resolve() for p in paths]


def refuse_data_dir_inside(cfg: IngestConfig, data_dir: Path) -> None:
    """A data folder inside a source folder would ingest docmill's own catalog, Qdrant files and datasets
    while they are being written (a run died of SIGBUS reading its SQLite files).

    Raises:
        ValueError: naming both folders.
    """
    data = data_dir.resolve()
    for folder in configured_folders(cfg):
        if data.is_relative_to(folder):
            raise ValueError(
                f"paths.data_dir {data} lies inside the source folder {folder}: docmill would ingest its own "
                "catalog and stores. Move the data folder out of the source (or the source elsewhere)."
            )


def connectors(cfg: IngestConfig) -> list[Connector]:
    """One connector per `ingest.sources` folder, then one per `ingest.connectors` entry (not yet connected).

    Raises:
        ValueError: two connectors share a name.
    """
    names = [c.name for c in cfg.connectors]
    if len(set(names)) != len(names):
        raise ValueError(f"ingest.connectors: names must be unique, got {names}")
    out: list[Connector] = [
        FolderSource(root, cfg.include, cfg.exclude, hardlinks=cfg.hardlinks) for root in cfg.sources
    ]
    for c in cfg.connectors:
        if isinstance(c, FolderConnectorConfig):
            out.append(FolderSource(c.path, c.include, c.exclude, name=c.name, hardlinks=cfg.hardlinks))
        elif isinstance(c, S3ConnectorConfig):
            from docmill.sources.s3 import S3Source

            out.append(S3Source(c))
        elif isinstance(c, SqlConnectorConfig):
            from docmill.sources.sql import SqlSource

            out.append(SqlSource(c))
        elif isinstance(c, MailboxConnectorConfig):
            from docmill.sources.mail import MailboxSource

            out.append(MailboxSource(c))
    return out


def slices(connector: Connector, size: int = 1000) -> Iterator[tuple[list[FileItem], list[Reject]]]:
    """A connector's listing in slices of `size` entries (memory stays bounded on big shares and buckets): the
    listed items and the listing's rejects of each slice. The connector is closed when the listing ends."""
    listing = connector.list_items()
    try:
        while entries := list(islice(listing, size)):
            yield [e for e in entries if isinstance(e, FileItem)], [e for e in entries if not isinstance(e, FileItem)]
    finally:
        connector.close()
