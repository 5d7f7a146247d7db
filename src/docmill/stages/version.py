"""Version: write the validated chunks as a Parquet dataset with a manifest, tracked and pushed with DVC.

A version is content-addressed: when the chunks are byte-identical to the current version, no new version is
made and the current one is reported, so rerunning over unchanged sources yields the same version id.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from docmill.config.settings import VersionConfig
from docmill.records import StageResult

DATA_FILE = "chunks.parquet"
_COLUMNS = ("source_uri", "title", "file_type", "language", "department", "category", "model")


class Repository(Protocol):
    """What version needs from the data repository (see `docmill.state.datarepo.DataRepo`)."""

    def dataset_dir(self, name: str) -> Path: ...
    def manifest(self, name: str) -> dict[str, Any] | None: ...
    def version_id(self, name: str) -> str | None: ...
    def current_tag(self, name: str) -> str | None: ...
    def is_committed(self, name: str) -> bool: ...
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
    data["metadata"] = [r["metadata"] for r in rows]
    vectors = np.frombuffer(b"".join(r["vector"] for r in rows), dtype=np.float32)
    data["embedding"] = pa.FixedSizeListArray.from_arrays(pa.array(vectors, pa.float32()), dimension)
    return pa.table(data, schema=schema)


def write_parquet(pages: Iterable[list[Mapping[str, Any]]], path: Path, dimension: int, row_group: int) -> int:
    """Stream pages of catalog rows into one Parquet file; returns the row count."""
    schema = arrow_schema(dimension)
    rows = 0
    with pq.ParquetWriter(path, schema, compression="zstd") as writer:
        for page in pages:
            writer.write_table(rows_table(page, schema, dimension), row_group_size=row_group)
            rows += len(page)
    return rows


def file_sha256(path: Path) -> str:
    """sha256 of a file."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def version(
    pages: Iterable[list[Mapping[str, Any]]],
    config: VersionConfig,
    repo: Repository,
    dimension: int,
    manifest: dict[str, Any],
) -> StageResult[str]:
    """Cut a dataset version from all current chunks; returns [version id, tag] and whether it is new."""
    started = time.perf_counter()
    target = repo.dataset_dir(config.dataset_name)
    staging = target.with_name(target.name + ".staging")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    rows = write_parquet(pages, staging / DATA_FILE, dimension, config.row_group_size)
    data_hash = file_sha256(staging / DATA_FILE)
    current = repo.manifest(config.dataset_name)
    previous = repo.version_id(config.dataset_name)
    if current and previous and current.get("data_sha256") == data_hash:
        shutil.rmtree(staging)
        if repo.is_committed(config.dataset_name):
            tag = repo.current_tag(config.dataset_name) or ""
            return StageResult(
                [previous, tag], [], {"rows": rows, "new_version": 0, "seconds": time.perf_counter() - started}
            )
        # same data, but the last attempt stopped before commit, tag or push: finish that version
        message = f"dataset {config.dataset_name}: {rows} chunks (completed by run {manifest.get('run_id')})"
        version_id, tag = repo.commit_version(config.dataset_name, message, config.push, manifest.get("audit_head"))
        return StageResult(
            [version_id, tag], [], {"rows": rows, "new_version": 1, "seconds": time.perf_counter() - started}
        )
    full = {
        **manifest,
        "dataset": config.dataset_name,
        "rows": rows,
        "data_file": DATA_FILE,
        "data_sha256": data_hash,
        "embedding_dimension": dimension,
    }
    (staging / "manifest.json").write_text(json.dumps(full, indent=2, sort_keys=True, default=str) + "\n")
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    message = f"dataset {config.dataset_name}: {rows} chunks (run {manifest.get('run_id')})"
    version_id, tag = repo.commit_version(config.dataset_name, message, config.push, manifest.get("audit_head"))
    return StageResult(
        [version_id, tag], [], {"rows": rows, "new_version": 1, "seconds": time.perf_counter() - started}
    )
