"""Write a snapshot's files: one Parquet (with embeddings) and/or one JSONL (text + metadata) file per split.

Rows stream from the catalog page by page in (doc_id, chunk_index) order, so memory stays bounded and the
same catalog content always gives the same bytes.

Parquet columns: the dataset columns of the version stage (`chunk_id`, `doc_id`, `chunk_index`, `point_id`,
`text`, `token_count`, `char_start`, `char_end`, `page_start`, `page_end`, `source_uri`, `title`, `file_type`,
`language`, `department`, `category`, `model`, `headings` (the chunk's heading path, a list of strings),
`metadata` as a JSON string, `embedding` as fixed-size float32 list) plus `run_id` (the run that wrote the
chunk's Qdrant point, so `docmill index restore` rebuilds the exact payload) and `split`; one explicit schema
for every split.

JSONL rows: `JSONL_COLUMNS` (no embedding) with one JSON type per column in every row (`jsonl_schema`). JSON
Lines carry no schema: a reader such as `datasets.load_dataset("json", ...)` infers each column's type from the
first rows it reads, so a column that is null in every row of one split would get the type `null` there and
clash with the other splits. A missing text is therefore written as "", a missing page as 0 (pages count
from 1) and missing headings as []; `metadata` is a JSON string, so every row has the same keys whatever a
document's metadata holds. The Parquet files keep the nulls.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import pyarrow as pa
import pyarrow.parquet as pq

from docmill.snapshots.spec import SnapshotRequest, split_of
from docmill.snapshots.stats import SnapshotStats
from docmill.stages.version import arrow_schema, rows_table

JSONL_COLUMNS = (
    "chunk_id",
    "doc_id",
    "chunk_index",
    "split",
    "text",
    "token_count",
    "source_uri",
    "title",
    "file_type",
    "language",
    "department",
    "category",
    "model",
    "headings",
    "page_start",
    "page_end",
    "char_start",
    "char_end",
    "metadata",
)
_ROW_COLUMNS: tuple[str, ...] = ("chunk_id", "doc_id", "chunk_index", "text", "token_count", "page_start")
_ROW_COLUMNS += ("page_end", "char_start", "char_end")
_META_COLUMNS = ("source_uri", "title", "file_type", "language", "department", "category", "model")


def parquet_schema(dimension: int) -> pa.Schema:
    """Columns of a snapshot's Parquet files (the same for every split)."""
    return arrow_schema(dimension).append(pa.field("run_id", pa.string())).append(pa.field("split", pa.string()))


def jsonl_schema() -> pa.Schema:
    """The type of every JSONL column (a column has the Parquet column's type where both have it)."""
    types = {field.name: field.type for field in arrow_schema(1)}
    types["split"] = pa.string()
    return pa.schema([(name, types[name]) for name in JSONL_COLUMNS])


_JSONL_TEXT = frozenset(f.name for f in jsonl_schema() if pa.types.is_string(f.type))


def jsonl_row(row: Mapping[str, Any], meta: dict[str, Any], split: str) -> str:
    """One JSONL line: every column, in column order, with a value of the column's type (missing text "",
    missing number 0)."""
    values = {name: row[name] for name in _ROW_COLUMNS}
    values.update({k: meta.get(k) for k in _META_COLUMNS})
    values.update({"split": split, "metadata": row["metadata"] or "{}", "headings": list(meta.get("headings") or [])})
    typed = {k: values[k] if values[k] is not None else "" if k in _JSONL_TEXT else 0 for k in JSONL_COLUMNS}
    return json.dumps(typed, ensure_ascii=False) + "\n"


class _Writers:
    """Per-split output files, opened on the first row of their split."""

    def __init__(self, folder: Path, request: SnapshotRequest, dimension: int, row_group: int) -> None:
        self.folder, self.request, self.dimension, self.row_group = folder, request, dimension, row_group
        self.schema = parquet_schema(dimension)
        self.parquet: dict[str, pq.ParquetWriter] = {}
        self.jsonl: dict[str, IO[str]] = {}

    def write(self, split: str, rows: list[Mapping[str, Any]], metas: list[dict[str, Any]]) -> None:
        if "parquet" in self.request.formats:
            if split not in self.parquet:
                self.parquet[split] = pq.ParquetWriter(
                    self.folder / f"{split}.parquet", self.schema, compression="zstd"
                )
            table = rows_table(rows, arrow_schema(self.dimension), self.dimension)
            table = table.append_column("run_id", pa.array([r["run_id"] for r in rows], pa.string()))
            table = table.append_column("split", pa.array([split] * len(rows), pa.string()))
            self.parquet[split].write_table(table, row_group_size=self.row_group)
        if "jsonl" in self.request.formats:
            if split not in self.jsonl:
                self.jsonl[split] = (self.folder / f"{split}.jsonl").open("w", encoding="utf-8", newline="\n")
            self.jsonl[split].writelines(jsonl_row(r, m, split) for r, m in zip(rows, metas, strict=True))

    def close(self) -> list[str]:
        for writer in self.parquet.values():
            writer.close()
        for handle in self.jsonl.values():
            handle.close()
        return sorted([f"{s}.parquet" for s in self.parquet] + [f"{s}.jsonl" for s in self.jsonl])


def write_files(
    pages: Iterable[Sequence[Any]],
    request: SnapshotRequest,
    folder: Path,
    stats: SnapshotStats,
    row_group: int = 5000,
) -> tuple[list[str], int]:
    """Filter the catalog's chunk pages, assign splits and write the files into `folder`.

    Returns:
        (file names written, embedding dimension; 0 when no chunk matched).
    """
    writers: _Writers | None = None
    dimension = 0
    try:
        for page in pages:
            by_split: dict[str, tuple[list[Mapping[str, Any]], list[dict[str, Any]]]] = {}
            for row in page:
                meta = json.loads(row["metadata"] or "{}")
                reason = request.filters.reason_excluded(meta)
                if reason:
                    stats.excluded[reason] += 1
                    continue
                split = split_of(row["doc_id"], request.seed, request.splits)
                stats.add(row, meta, split)
                rows, metas = by_split.setdefault(split, ([], []))
                rows.append(row)
                metas.append(meta)
            for split, (rows, metas) in sorted(by_split.items()):
                if writers is None:
                    dimension = len(rows[0]["vector"]) // 4
                    writers = _Writers(folder, request, dimension, row_group)
                writers.write(split, rows, metas)
    finally:
        names = writers.close() if writers else []
    return names, dimension
