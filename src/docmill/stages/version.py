"""Version: cut a dataset version of the validated chunks, a Parquet file with a manifest, tracked and pushed
with DVC by the data repository.

A version is content-addressed: when the chunks are byte-identical to the current version, no new version is
made and the current one is reported, so rerunning over unchanged sources yields the same version id. This
module computes (the Arrow tables, the manifest, whether the data changed); the data repository
(`docmill.state.datarepo.DataRepo`) writes the files and puts them in place.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Protocol

import numpy as np
import pyarrow as pa

from docmill.config.settings import VersionConfig
from docmill.records import DatasetVersion

DATA_FILE = "chunks.parquet"
MANIFEST_FILE = "manifest.json"
_COLUMNS = ("source_uri", "title", "file_type", "language", "department", "category", "model")


class Repository(Protocol):
    """What version needs from the data repository (see `docmill.state.datarepo.DataRepo`)."""

    def manifest(self, name: str) -> dict[str, Any] | None: ...
    def version_id(self, name: str) -> str | None: ...
    def current_tag(self, name: str) -> str | None: ...
    def is_committed(self, name: str) -> bool: ...
    def stage_parquet(
        self, name: str, file: str, schema: pa.Schema, tables: Iterable[pa.Table], row_group: int
    ) -> tuple[int, str]: ...
    def discard_staged(self, name: str) -> None: ...
    def publish_staged(self, name: str, texts: Mapping[str, str]) -> None: ...
    def commit_version(
        self, name: str, message: str, push: bool, audit_head: Mapping[str, Any] | None = None
    ) -> tuple[str, str]: ...


def arrow_schema(dimension: int) -> pa.Schema:
    """Columns of the exported dataset."""
    return pa.schema(
        [
            ("chunk_id", pa.string()),
            ("doc_id", pa.string()),
            ("chunk_index", pa.int32()),
            ("point_id", pa.string()),
            ("text", pa.string()),
            ("token_count", pa.int32()),
            ("char_start", pa.int64()),
            ("char_end", pa.int64()),
            ("page_start", pa.int32()),
            ("page_end", pa.int32()),
            *[(name, pa.string()) for name in _COLUMNS],
            ("headings", pa.list_(pa.string())),
            ("metadata", pa.string()),
            ("embedding", pa.list_(pa.float32(), dimension)),
        ]
    )


def rows_table(rows: list[Mapping[str, Any]], schema: pa.Schema, dimension: int) -> pa.Table:
    """Catalog chunk rows as an Arrow table of `arrow_schema(dimension)` (also used by snapshots)."""
    metas = [json.loads(r["metadata"]) for r in rows]
    data: dict[str, Any] = {
        name: [r[source] for r in rows]
        for name, source in (
            ("chunk_id", "chunk_id"),
            ("doc_id", "doc_id"),
            ("chunk_index", "chunk_index"),
            ("point_id", "point_id"),
            ("text", "text"),
            ("token_count", "token_count"),
            ("char_start", "char_start"),
            ("char_end", "char_end"),
            ("page_start", "page_start"),
            ("page_end", "page_end"),
        )
    }
    for name in _COLUMNS:
        data[name] = [m.get(name) for m in metas]
    data["headings"] = [list(m.get("headings") or []) for m in metas]  # chunks made before heading paths: []
    data["metadata"] = [r["metadata"] for r in rows]
    vectors = np.frombuffer(b"".join(r["vector"] for r in rows), dtype=np.float32)
    data["embedding"] = pa.FixedSizeListArray.from_arrays(pa.array(vectors, pa.float32()), dimension)
    return pa.table(data, schema=schema)


def tables(pages: Iterable[list[Mapping[str, Any]]], dimension: int) -> Iterator[pa.Table]:
    """Pages of catalog chunk rows as Arrow tables of `arrow_schema(dimension)`, one page at a time."""
    schema = arrow_schema(dimension)
    for page in pages:
        yield rows_table(page, schema, dimension)


def version(
    pages: Iterable[list[Mapping[str, Any]]],
    config: VersionConfig,
    repo: Repository,
    dimension: int,
    manifest: dict[str, Any],
) -> DatasetVersion:
    """Cut a dataset version from all current chunks (pages of catalog rows); `manifest` holds the run's facts.

    The repository stages the Parquet file; when its bytes equal the current version's, the staged copy is
    dropped and the current version is reported (finished first when an earlier attempt stopped before its
    commit, tag or push); otherwise the manifest joins it, it replaces the current folder and is committed.
    """
    started = time.perf_counter()
    name = config.dataset_name
    rows, data_hash = repo.stage_parquet(
        name, DATA_FILE, arrow_schema(dimension), tables(pages, dimension), config.row_group_size
    )
    current = repo.manifest(name)
    previous = repo.version_id(name)
    if current and previous and current.get("data_sha256") == data_hash:
        repo.discard_staged(name)
        if repo.is_committed(name):
            tag = repo.current_tag(name) or ""
            return DatasetVersion(previous, tag, rows, new=False, seconds=time.perf_counter() - started)
        # same data, but the last attempt stopped before commit, tag or push: finish that version
        message = f"dataset {name}: {rows} chunks (completed by run {manifest.get('run_id')})"
    else:
        full = {
            **manifest,
            "dataset": name,
            "rows": rows,
            "data_file": DATA_FILE,
            "data_sha256": data_hash,
            "embedding_dimension": dimension,
        }
        repo.publish_staged(name, {MANIFEST_FILE: json.dumps(full, indent=2, sort_keys=True, default=str) + "\n"})
        message = f"dataset {name}: {rows} chunks (run {manifest.get('run_id')})"
    version_id, tag = repo.commit_version(name, message, config.push, manifest.get("audit_head"))
    return DatasetVersion(version_id, tag, rows, new=True, seconds=time.perf_counter() - started)
