"""Near-duplicate index benchmark: signature cost per 10 kB of text and query latency at N indexed documents.

The index is filled with random signatures (no text hashing) in a temporary SQLite file; queries are
near-duplicates of indexed documents (10 % of the signature values changed, estimated Jaccard ~0.9) and
unrelated random signatures.

Usage: python benchmarks/neardup_benchmark.py [N_DOCUMENTS]   (default 100000)
"""

from __future__ import annotations

import random
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from docmill.config.settings import DedupConfig
from docmill.state.catalog.neardup import NearDupIndex

QUERIES = 500


def _text(rng: random.Random, size: int) -> str:
    vocabulary = [f"{a}{b}{c}" for a in "bcdfglmnprst" for b in "aeiou" for c in ("", "n", "r", "st", "ll")]
    words, length = [], 0
    while length < size:
        words.append(rng.choice(vocabulary))
        length += len(words[-1]) + 1
    return " ".join(words)[:size]


def signature_ms_per_10kb(index: NearDupIndex) -> tuple[float, float]:
    """Milliseconds per 10 kB for 10 kB documents and for one 1 MB document."""
    rng = random.Random(0)
    small = [_text(rng, 10_000) for _ in range(50)]
    index.signature(small[0])  # warm up: datasketch import and permutations
    started = time.perf_counter()
    for text in small:
        index.signature(text)
    per_small = (time.perf_counter() - started) * 1000 / len(small)
    big = _text(rng, 1_000_000)
    started = time.perf_counter()
    index.signature(big)
    return per_small, (time.perf_counter() - started) * 1000 / 100


def _fill(index: NearDupIndex, conn: sqlite3.Connection, n: int, gen: np.random.Generator) -> float:
    started = time.perf_counter()
    for start in range(0, n, 10_000):
        block = gen.integers(0, 2**32 - 1, size=(min(10_000, n - start), index.config.num_perm), dtype=np.uint32)
        index.add_many((f"doc{start + i:07d}", block[i]) for i in range(len(block)))
    conn.commit()
    return time.perf_counter() - started


def _near(signature: np.ndarray, gen: np.random.Generator, share: float) -> np.ndarray:
    changed = signature.copy()
    positions = gen.choice(len(signature), round(share * len(signature)), replace=False)
    changed[positions] = gen.integers(0, 2**32 - 1, size=len(positions), dtype=np.uint32)
    return changed


def _time_queries(index: NearDupIndex, signatures: list[np.ndarray]) -> tuple[list[float], int]:
    times, hits = [], 0
    for signature in signatures:
        started = time.perf_counter()
        hits += bool(index.query(signature))
        times.append((time.perf_counter() - started) * 1000)
    return times, hits


def _summary(times: list[float]) -> str:
    ordered = sorted(times)
    return f"median {statistics.median(ordered):.3f} ms, p95 {ordered[int(0.95 * len(ordered))]:.3f} ms"


def main(n: int) -> None:
    """Print the benchmark's numbers."""
    config = DedupConfig()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "catalog.sqlite"
        conn = sqlite3.connect(path)
        index = NearDupIndex(conn, config)
        print(f"config: threshold {config.threshold}, num_perm {config.num_perm}, b={index.bands}, r={index.rows}")
        small, big = signature_ms_per_10kb(index)
        print(f"signature: {small:.2f} ms per 10 kB document; {big:.2f} ms per 10 kB within a 1 MB document")
        gen = np.random.default_rng(0)
        seconds = _fill(index, conn, n, gen)
        print(f"indexed {len(index):,} random signatures in {seconds:.1f} s; file {path.stat().st_size / 1e6:.0f} MB")
        stored = [
            np.frombuffer(row[0], dtype="<u4")
            for row in conn.execute("SELECT signature FROM neardup_signatures ORDER BY random() LIMIT ?", (QUERIES,))
        ]
        near, near_hits = _time_queries(index, [_near(s, gen, 0.1) for s in stored])
        print(f"query near-duplicates ({near_hits}/{len(near)} found): {_summary(near)}")
        far = [gen.integers(0, 2**32 - 1, size=config.num_perm, dtype=np.uint32) for _ in range(QUERIES)]
        miss, miss_hits = _time_queries(index, far)
        print(f"query unrelated ({miss_hits}/{len(miss)} found): {_summary(miss)}")
        conn.close()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)
