"""Qdrant Edge (`qdrant-edge-py`, the Rust engine in-process) vs Qdrant local mode (`QdrantClient(path=...)`).

Same N points (384-d unit vectors, docmill-like payloads: doc_id, chunk_index, ~600 characters of text) in
both stores. Prints upsert points/s, the HNSW build (`optimize`), query latency with and without a `doc_id`
filter, recall@10 against exact numpy search, persistence (close, reopen, count), delete-by-filter semantics
and the process RSS growth of each store.

Usage: python benchmarks/qdrant_edge_eval.py [--points 20000]  (needs `pip install qdrant-edge-py==0.9.0`)
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np


def _rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def _data(n: int, dim: int = 384) -> tuple[np.ndarray, list[str], list[dict[str, Any]]]:
    rng = np.random.default_rng(7)
    vectors = rng.standard_normal((n, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ids = [str(uuid.uuid5(uuid.NAMESPACE_URL, f"chunk-{i}")) for i in range(n)]
    payloads = [
        {"doc_id": f"doc-{i // 4:06d}", "chunk_index": i % 4, "text": f"chunk {i} " + "lorem " * 100} for i in range(n)
    ]
    return vectors, ids, payloads


def _exact(vectors: np.ndarray, queries: np.ndarray, k: int = 10) -> list[set[int]]:
    return [set(np.argsort(-(vectors @ q))[:k]) for q in queries]


def edge(path: Path, vectors: np.ndarray, ids: list[str], payloads: list[dict[str, Any]]) -> dict[str, float]:
    """Figures for Qdrant Edge."""
    import qdrant_edge as q

    index = {pid: i for i, pid in enumerate(ids)}
    config = q.EdgeConfig(vectors={"": q.EdgeVectorParams(size=vectors.shape[1], distance=q.Distance.Cosine)})
    rss0, out = _rss_mb(), {}
    shard = q.EdgeShard.create(str(path), config)
    shard.update(q.UpdateOperation.create_field_index("doc_id", q.PayloadSchemaType.Keyword))
    t0 = time.perf_counter()
    for start in range(0, len(ids), 256):
        points = [q.Point(ids[i], vectors[i].tolist(), payloads[i]) for i in range(start, min(start + 256, len(ids)))]
        shard.update(q.UpdateOperation.upsert_points(points))
    out["upsert_points_per_s"] = len(ids) / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    shard.optimize()
    out["hnsw_build_s"] = time.perf_counter() - t0
    queries = vectors[:50] + 0.05
    t0 = time.perf_counter()
    hits = [shard.query(q.QueryRequest(limit=10, query=q.Query.Nearest(v.tolist()))) for v in queries]
    out["query_ms"] = 1000 * (time.perf_counter() - t0) / len(queries)
    exact = _exact(vectors, queries)
    out["recall_at_10"] = float(
        np.mean([len({index[str(h.id)] for h in r} & e) / 10 for r, e in zip(hits, exact, strict=True)])
    )
    doc = q.Filter(must=[q.FieldCondition("doc_id", match=q.MatchValue("doc-000123"))])
    t0 = time.perf_counter()
    filtered = shard.query(
        q.QueryRequest(limit=10, query=q.Query.Nearest(queries[0].tolist()), filter=doc, with_payload=True)
    )
    out["filtered_query_ms"] = 1000 * (time.perf_counter() - t0)
    out["filtered_hits_ok"] = float(len(filtered) == 4 and all(h.payload["doc_id"] == "doc-000123" for h in filtered))
    shard.update(q.UpdateOperation.delete_points_by_filter(doc))
    out["rss_growth_mb"] = _rss_mb() - rss0
    shard.flush()
    shard.close()
    reopened = q.EdgeShard.load(str(path))
    out["count_after_reopen"] = float(reopened.count(q.CountRequest(exact=True)))
    reopened.close()
    return out


def local(path: Path, vectors: np.ndarray, ids: list[str], payloads: list[dict[str, Any]]) -> dict[str, float]:
    """Figures for Qdrant local mode (docmill's current embedded store)."""
    from qdrant_client import QdrantClient, models

    index = {pid: i for i, pid in enumerate(ids)}
    rss0, out = _rss_mb(), {}
    client = QdrantClient(path=str(path))
    client.create_collection(
        "bench", vectors_config=models.VectorParams(size=vectors.shape[1], distance=models.Distance.COSINE)
    )
    t0 = time.perf_counter()
    for start in range(0, len(ids), 256):
        rows = range(start, min(start + 256, len(ids)))
        client.upsert(
            "bench", [models.PointStruct(id=ids[i], vector=vectors[i].tolist(), payload=payloads[i]) for i in rows]
        )
    out["upsert_points_per_s"] = len(ids) / (time.perf_counter() - t0)
    queries = vectors[:50] + 0.05
    t0 = time.perf_counter()
    hits = [client.query_points("bench", query=v.tolist(), limit=10).points for v in queries]
    out["query_ms"] = 1000 * (time.perf_counter() - t0) / len(queries)
    exact = _exact(vectors, queries)
    out["recall_at_10"] = float(
        np.mean([len({index[str(h.id)] for h in r} & e) / 10 for r, e in zip(hits, exact, strict=True)])
    )
    out["rss_growth_mb"] = _rss_mb() - rss0
    client.close()
    return out


def main() -> None:
    """Run both stores on the same points and print the figures side by side."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--points", type=int, default=20000)
    parser.add_argument("--local-points", type=int, default=5000, help="local mode is slow: fewer points")
    args = parser.parse_args()
    vectors, ids, payloads = _data(args.points)
    n = min(args.local_points, args.points)
    with tempfile.TemporaryDirectory(prefix="docmill-edge-") as tmp:
        figures = {
            "edge": edge(Path(tmp) / "edge", vectors, ids, payloads),
            "local": local(Path(tmp) / "local", vectors[:n], ids[:n], payloads[:n]),
        }
    print(f"edge: {args.points} points, local mode: {n} points, {vectors.shape[1]} dims")
    for key in sorted(set(figures["edge"]) | set(figures["local"])):
        print(
            f"{key:<22}"
            + "".join(f"{name}={values.get(key, float('nan')):>12.2f}  " for name, values in figures.items())
        )


if __name__ == "__main__":
    main()
