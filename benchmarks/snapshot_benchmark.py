"""Snapshot benchmark: cut a snapshot from a catalog of N documents (384-dim vectors, 5 chunks each).

Prints the time of one `create_snapshot` (export of Parquet + JSONL per split, manifest, card, `dvc add`,
commit, push to a local remote), its chunks/s, the share spent rendering the card, and a second cut of the
same content (no new version) as a share of the first.

Usage: python benchmarks/snapshot_benchmark.py [DOCUMENTS]
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def fill(path: Path, documents: int) -> object:
    """A catalog of `documents` documents of five chunks each (random unit vectors, real metadata keys)."""
    from docmill.records import Chunk, make_chunk_id, sha256_hex
    from docmill.state.catalog import Catalog

    catalog = Catalog(path)
    rng = np.random.default_rng(0)
    with catalog.transaction():
        for d in range(documents):
            doc_id = sha256_hex(f"doc {d}")
            meta = {"source_uri": f"file:///c/{d}.txt", "source_path": f"/c/{d}.txt", "file_type": "txt"}
            meta |= {"language": "en", "document_quality": {"alpha_word_share": 0.9}, "model": "m@1"}
            chunks = []
            for i in range(5):
                text = f"Document {d}, part {i}. " + "The quarterly report of the finance team. " * 20
                vector = rng.normal(size=384).astype(np.float32)
                chunks.append(
                    Chunk(
                        make_chunk_id(doc_id, i, text),
                        doc_id,
                        i,
                        text,
                        180,
                        0,
                        len(text),
                        1,
                        1,
                        meta,
                        vector / np.linalg.norm(vector),
                    )
                )
            catalog.replace_chunks(doc_id, chunks, "m@1", "run")
    return catalog


def main() -> None:
    """Run the benchmark and print its figures."""
    documents = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    base = Path(tempfile.mkdtemp(prefix="docmill-snapbench-"))
    for var in ("DVC_SITE_CACHE_DIR", "DVC_GLOBAL_CONFIG_DIR", "DVC_SYSTEM_CONFIG_DIR"):
        os.environ[var] = str(base / var.lower())
    from docmill.snapshots import card, core
    from docmill.snapshots.spec import SnapshotRequest
    from docmill.state.audit import AuditLog
    from docmill.state.datarepo import DataRepo

    catalog = fill(base / "catalog.sqlite", documents)
    repo = DataRepo(base / "datasets", "local", str(base / "remote"))
    repo.ensure()
    rendered = 0.0
    original = card.render_charts

    def timed(manifest: dict) -> dict:
        nonlocal rendered
        started = time.perf_counter()
        try:
            return original(manifest)
        finally:
            rendered += time.perf_counter() - started

    card.render_charts = timed  # type: ignore[assignment]
    request = SnapshotRequest(name="bench")
    started = time.perf_counter()
    result = core.create_snapshot(catalog, repo, AuditLog(base / "audit.jsonl"), request, [])  # type: ignore[arg-type]
    first, charts = time.perf_counter() - started, rendered
    started = time.perf_counter()
    again = core.create_snapshot(catalog, repo, AuditLog(base / "audit.jsonl"), request, [])  # type: ignore[arg-type]
    second = time.perf_counter() - started
    assert again.tag == result.tag and not again.new
    print(f"{result.rows} chunks of {result.documents} documents -> {result.tag}")
    print(f"first cut {first:.1f} s = {result.rows / first:.0f} chunks/s; card charts {charts / first:.0%} of it")
    print(f"same content again (no new version): {second:.1f} s = {second / first:.0%} of the first cut")


if __name__ == "__main__":
    main()
