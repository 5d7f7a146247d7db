"""What changed between two snapshot versions: documents and chunks added, removed and changed.

Documents are matched by source URI: `added` / `removed` when the URI is in only one version, `changed` when
it holds other content (another doc_id). Chunks are matched by chunk id (content-derived): `added` /
`removed` when the id is in only one version, `changed` when the same chunk carries other metadata or split
(a moved file, a new department rule). Both versions are read from the DVC cache or the remote; nothing is
checked out.
"""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from docmill.snapshots.core import read_manifest, resolve
from docmill.state.datarepo import DataRepo

_COLUMNS = ["chunk_id", "doc_id", "chunk_index", "source_uri", "split", "metadata"]


def version_index(repo: DataRepo, tag: str) -> dict[str, dict[str, Any]]:
    """chunk_id -> {doc_id, chunk_index, source_uri, split, metadata} of a version (Parquet files when the
    version has them, else its JSONL files)."""
    manifest = read_manifest(repo, tag)
    names = list(manifest["files"])
    fmt = "parquet" if any(n.endswith(".parquet") for n in names) else "jsonl"
    out: dict[str, dict[str, Any]] = {}
    for name in (n for n in names if n.endswith(f".{fmt}")):
        data = repo.read_file(tag, name)
        if fmt == "parquet":
            rows = pq.read_table(pa.BufferReader(data), columns=_COLUMNS).to_pylist()
        else:
            rows = [json.loads(line) for line in data.decode("utf-8").splitlines() if line]
        for row in rows:
            out[row["chunk_id"]] = {k: row[k] for k in _COLUMNS if k != "chunk_id"}
    return out


def _documents(index: dict[str, dict[str, Any]]) -> dict[str, str]:
    return {row["source_uri"]: row["doc_id"] for row in index.values()}


def diff(repo: DataRepo, ref_a: str, ref_b: str) -> dict[str, Any]:
    """Documents and chunks added, removed and changed from version A to version B (sorted lists)."""
    tag_a, tag_b = resolve(repo, ref_a), resolve(repo, ref_b)
    a, b = version_index(repo, tag_a), version_index(repo, tag_b)
    docs_a, docs_b = _documents(a), _documents(b)

    def chunk(chunk_id: str, row: dict[str, Any]) -> dict[str, Any]:
        return {"chunk_id": chunk_id, "source_uri": row["source_uri"], "chunk_index": row["chunk_index"]}

    changed = [
        chunk(c, b[c])
        for c in sorted(a.keys() & b.keys())
        if (a[c]["metadata"], a[c]["split"]) != (b[c]["metadata"], b[c]["split"])
    ]
    return {
        "a": tag_a,
        "b": tag_b,
        "documents": {
            "added": sorted(docs_b.keys() - docs_a.keys()),
            "removed": sorted(docs_a.keys() - docs_b.keys()),
            "changed": sorted(u for u in docs_a.keys() & docs_b.keys() if docs_a[u] != docs_b[u]),
        },
        "chunks": {
            "added": sorted((chunk(c, b[c]) for c in b.keys() - a.keys()), key=_order),
            "removed": sorted((chunk(c, a[c]) for c in a.keys() - b.keys()), key=_order),
            "changed": sorted(changed, key=_order),
            "unchanged": len(a.keys() & b.keys()) - len(changed),
        },
    }


def _order(item: dict[str, Any]) -> tuple[str, int]:
    return item["source_uri"], int(item["chunk_index"])
