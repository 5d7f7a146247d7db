"""Small helpers shared by tests (real stages, real files)."""

from __future__ import annotations

from pathlib import Path

from docmill.records import Document, SourceFile
from docmill.settings import CleanConfig, ExtractConfig
from docmill.sources.folder import FolderSource, sha256_file
from docmill.stages.clean import clean
from docmill.stages.extract import extract
from docmill.stages.ingest import ingest


def sources_of(folder: Path) -> list[SourceFile]:
    """Ingest a folder from scratch (nothing known)."""
    items = list(FolderSource(folder, ["**/*"], []).list())
    return [source for source, _ in ingest(items, lambda uri: None, sha256_file).records]


def extracted(folder: Path, pool: object) -> tuple[list[Document], dict[str, str]]:
    """Extract a folder; returns documents and {file name: reject reason}."""
    result = extract(sources_of(folder), ExtractConfig(), pool)  # type: ignore[arg-type]
    return result.records, {Path(r.source_uri or "").name: r.reason for r in result.rejects}


def cleaned(folder: Path, pool: object) -> list[Document]:
    """Extract and clean a folder."""
    docs, _ = extracted(folder, pool)
    return clean(docs, CleanConfig(), lambda h: None).records
