"""What reading folder items safely costs at ingest: the old path-following `sha256_file` against the fd walk
(`O_NOFOLLOW` from the source root) that hashes while it writes the private copy the parsers read (a file's
first run), and against the fd walk that only hashes (an unchanged file whose copy exists: later runs).

All three read the same listing in one process, alternating, after one warm-up pass (page cache warm, as on
a second run); the copies go to a temporary folder emptied (untimed) before every copying pass. No fsync:
the figure is what the page cache and the disk's write-back absorb on a quiet machine.

Usage: python benchmarks/ingest_read_benchmark.py [FOLDER] [ROUNDS]   (default ../shared/corpus, 5)
"""

from __future__ import annotations

import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from docmill.records import FileItem
from docmill.sources import staging
from docmill.sources.folder import FolderSource, sha256_file

ROOT = Path(__file__).resolve().parents[1]


def _timed(fn: Callable[[], None]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def main() -> None:
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared" / "corpus"
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    source = FolderSource(folder, ["**/*"], [])
    items: list[FileItem] = list(source.list())
    megabytes = sum(i.size for i in items) / 1e6
    with tempfile.TemporaryDirectory(prefix="docmill-ingest-read-") as tmp:
        fetched = Path(tmp) / "fetched"
        known: dict[str, dict[str, str]] = {}

        def old() -> None:
            for item in items:
                sha256_file(item.path)

        def copying() -> None:
            for item in items:
                path, digest, _ = staging.stage_listed(source, item, None, fetched)
                known[item.source_uri] = {"doc_id": digest, "path": path}

        def unchanged() -> None:
            for item in items:
                staging.stage_listed(source, item, known[item.source_uri], fetched)

        copying()  # warm-up: page cache, and the copies `unchanged` finds
        unchanged()
        old()
        times: dict[str, list[float]] = {"old": [], "copy": [], "unchanged": []}
        for _ in range(rounds):
            times["old"].append(_timed(old))
            times["unchanged"].append(_timed(unchanged))
            shutil.rmtree(fetched)  # (not timed)
            times["copy"].append(_timed(copying))
    median = {k: statistics.median(v) for k, v in times.items()}
    print(f"{len(items)} files, {megabytes:.1f} MB, {rounds} rounds (median seconds)")
    for name, label in (
        ("old", "sha256_file (path, follows links)"),
        ("copy", "fd walk + hash + private copy (new file)"),
        ("unchanged", "fd walk + hash (unchanged, copy kept)"),
    ):
        print(f"  {label:44s} {median[name]:7.3f} s  {megabytes / median[name]:8.0f} MB/s")
    print(f"ratio copy/old: {median['copy'] / median['old']:.2f}x")
    print(f"ratio unchanged/old: {median['unchanged'] / median['old']:.2f}x")


if __name__ == "__main__":
    main()
