"""Where a vector came from: a chunk's lineage from the catalog, its Qdrant point, the dataset versions that
contain it, and its text span re-read from the source file today; and the versions of the components that shape
the output, recorded in every manifest."""

from __future__ import annotations

import json
import os
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any
from urllib.parse import unquote_to_bytes, urlsplit

from docmill.config.settings import Settings
from docmill.state.catalog import Catalog

LINEAGE_KEYS = (
    "doc_id",
    "source_uri",
    "sha256",
    "page_start",
    "page_end",
    "char_start",
    "char_end",
    "chunk_index",
    "headings",
    "parser",
    "chunk_config",
    "model",
    "sparse_model",
    "run_id",
)


class LineageError(LookupError):
    """The identifier is not a known chunk or point."""


COMPONENTS = (
    "docmill",
    "pymupdf",
    "unstructured",
    "sentence-transformers",
    "torch",
    "transformers",
    "qdrant-client",
    "dvc",
    "pandera",
    "pyarrow",
    "prefect",
)


def component_versions() -> dict[str, str]:
    """Installed versions of the components that shape the output."""
    out = {}
    for name in COMPONENTS:
        try:
            out[name] = package_version(name)
        except PackageNotFoundError:
            out[name] = "absent"
    return out


def find_chunk(catalog: Catalog, ident: str) -> dict[str, Any]:
    """The catalog row of a chunk by chunk id or Qdrant point id.

    Raises:
        LineageError: when neither matches.
    """
    rows = catalog.chunks_named(ident)
    if not rows:
        raise LineageError(f"no chunk or point with id {ident} in {catalog.path}")
    row = dict(rows[0])
    row["metadata"] = json.loads(row["metadata"] or "{}")
    return row


def reread_span(path: Path, extension: str, settings: Settings, char_start: int, char_end: int) -> str:
    """Parse and clean the source file again (same parsers and clean settings) and cut the chunk's span."""
    from docmill.parsers import OPTIONS, parse_file
    from docmill.records import Document
    from docmill.stages.clean import clean_document

    OPTIONS.update(settings.extract.parser_options())
    parsed = parse_file(path, extension)
    from docmill.text.pii import make_redactor

    doc = clean_document(
        Document("", path.as_uri(), extension, parsed.elements), settings.clean, make_redactor(settings)
    )
    return doc.text[char_start:char_end]


def lineage(settings: Settings, ident: str, reread: bool = True) -> dict[str, Any]:
    """Everything docmill knows about one chunk (see `docmill lineage`)."""
    from docmill.sources.folder import sha256_file
    from docmill.state.datarepo import DataRepo

    catalog = Catalog(settings.paths.catalog)
    try:
        chunk = find_chunk(catalog, ident)
        meta = chunk["metadata"]
        document = catalog.document(chunk["doc_id"])
        sources = [dict(r) for r in catalog.sources_of(chunk["doc_id"])]
        run = catalog.run(chunk["run_id"])
    finally:
        catalog.close()
    out: dict[str, Any] = {
        "chunk_id": chunk["chunk_id"],
        "point_id": chunk["point_id"],
        "lineage": {
            **{k: meta.get(k) for k in LINEAGE_KEYS if k in meta},
            "doc_id": chunk["doc_id"],
            "chunk_index": chunk["chunk_index"],
            "char_start": chunk["char_start"],
            "char_end": chunk["char_end"],
            "page_start": chunk["page_start"],
            "page_end": chunk["page_end"],
            "run_id": chunk["run_id"],
        },
        "document_status": document["status"] if document else None,
        "current_sources": [s["source_uri"] for s in sources],
        "run": {k: run[k] for k in ("started_at", "config_hash", "code_version", "status")} if run else None,
        "text": chunk["text"],
    }
    repo = DataRepo.from_settings(settings)
    out["dataset_versions"] = repo.versions_containing(chunk["chunk_id"]) if repo.exists() else []
    if reread:
        out["source_check"] = _source_check(settings, chunk, sources, sha256_file)
    return out


def _original(source: dict[str, Any]) -> Path:
    """The file a source row stands for: a folder item's file in its folder (its `path` is the private copy
    ingest made), else the staged or derived copy."""
    uri = str(source["source_uri"])
    if uri.startswith("file:") and "!/" not in uri:
        return Path(os.fsdecode(unquote_to_bytes(urlsplit(uri).path)))
    return Path(source["path"])


def _source_check(settings: Settings, chunk: dict[str, Any], sources: list[dict[str, Any]], hasher: Any) -> dict:
    """Re-read the span from the first source that still holds the same bytes."""
    for source in sources:
        path = _original(source)
        if not path.is_file():
            continue
        if hasher(str(path)) != chunk["doc_id"]:
            return {"path": str(path), "status": "source changed since the chunk was made"}
        text = reread_span(path, source["extension"], settings, chunk["char_start"], chunk["char_end"])
        status = "matches" if text == chunk["text"] else "differs (parser or clean settings changed?)"
        return {"path": str(path), "status": status, "text": text}
    return {"path": None, "status": "no source file holds these bytes any more"}
