"""Rebuild a Qdrant collection from a dataset version's Parquet files, without re-embedding.

A version's Parquet rows hold everything a point is made of: the point id, the embedding and the payload's
parts (the chunk's metadata as JSON, its text and positions, and for snapshots cut since `run_id` is a column,
the run that wrote the point). So the exact index an application or an evaluation used can be brought back
next to the current collection and queried side by side. Works for snapshot versions (`<split>.parquet`) and
the pipeline's own dataset versions (`chunks.parquet`); the files are read from the DVC cache or the remote
and checked against the manifest's sha256 before a point is written.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any, Protocol

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from docmill.snapshots.core import read_manifest
from docmill.snapshots.spec import SnapshotError
from docmill.state.datarepo import DataRepo
from docmill.state.store import row_payload


class PointSink(Protocol):
    """What a restore writes to (see `docmill.state.store.QdrantStore`)."""

    collection: str
    write_batch: int

    def exists(self) -> bool: ...
    def drop(self) -> None: ...
    def ensure_collection(self, dimension: int) -> None: ...
    def upsert(self, ids: list[str], vectors: Any, payloads: list[dict[str, Any]]) -> None: ...
    def count(self) -> int: ...


def parquet_files(manifest: dict[str, Any]) -> dict[str, str]:
    """A version's Parquet files and their sha256 (the pipeline's dataset: `data_file`; a snapshot: its splits).

    Raises:
        SnapshotError: when the version has no Parquet file (a JSONL-only snapshot has no embeddings).
    """
    if manifest.get("data_file"):
        return {manifest["data_file"]: manifest["data_sha256"]}
    found = {name: facts["sha256"] for name, facts in manifest["files"].items() if name.endswith(".parquet")}
    if not found:
        raise SnapshotError(
            f"{manifest['dataset']} has no Parquet files (format {manifest['request']['format']}): only a version "
            "cut with --format parquet or both holds the embeddings an index is rebuilt from"
        )
    return dict(sorted(found.items()))


def _batches(data: bytes, size: int) -> Iterator[tuple[list[str], np.ndarray, list[dict[str, Any]], bool]]:
    parquet = pq.ParquetFile(pa.BufferReader(data))
    payload_columns = [name for name in parquet.schema_arrow.names if name != "embedding"]
    for batch in parquet.iter_batches(batch_size=size):
        rows = batch.select(payload_columns).to_pylist()  # the vectors stay one float32 array
        dimension = batch.schema.field("embedding").type.list_size
        flat = batch.column("embedding").flatten().to_numpy(zero_copy_only=False)
        vectors = np.asarray(flat, dtype=np.float32).reshape(-1, dimension)
        has_run = "run_id" in batch.schema.names
        yield [r["point_id"] for r in rows], vectors, [row_payload(r) for r in rows], has_run


def restore(repo: DataRepo, tag: str, store: PointSink, replace: bool = False) -> dict[str, Any]:
    """Write the points of version `tag` into `store`'s collection (which must not exist unless `replace`).

    Returns:
        tag, version id, collection, points written, whether payloads carry `run_id`, and whether the version
        is the pipeline's own dataset (its Parquet never has a `run_id` column) rather than a snapshot.

    Raises:
        SnapshotError: when the collection exists (and not `replace`), a file does not match the manifest,
            the version has no Parquet file, or the collection ends with another number of points.
    """
    manifest = read_manifest(repo, tag)
    files = parquet_files(manifest)
    for name, sha256 in files.items():  # every file checked before the store is touched
        if hashlib.sha256(repo.read_file(tag, name)).hexdigest() != sha256:
            raise SnapshotError(f"{tag}/{name} does not match its manifest: the cache or remote copy is damaged")
    if store.exists():
        if not replace:
            raise SnapshotError(f"collection {store.collection!r} exists: --replace rebuilds it from {tag}")
        store.drop()
    store.ensure_collection(int(manifest["embedding_dimension"]))
    written, with_run = 0, True
    try:
        for name in files:
            for ids, vectors, payloads, has_run in _batches(repo.read_file(tag, name), store.write_batch):
                store.upsert(ids, vectors, payloads)
                written += len(ids)
                with_run = with_run and has_run
    except BaseException:
        store.drop()  # no half-restored collection stays behind
        raise
    count = store.count()
    if count != written or written != manifest["rows"]:
        raise SnapshotError(
            f"collection {store.collection!r} holds {count} points after writing {written} of the {manifest['rows']} "
            f"rows of {tag}"
        )
    return {
        "tag": tag,
        "version": repo.tag_info(tag)["version"],
        "collection": store.collection,
        "points": written,
        "run_id_restored": with_run,
        "pipeline_dataset": bool(manifest.get("data_file")),
    }
