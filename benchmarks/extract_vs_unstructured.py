"""Whole-corpus extraction: docmill's parser pool next to `unstructured.partition.auto` on the same files.

Both sides get every file of the corpus, the same per-file time limit and offline settings:
  - docmill: the extract stage with the default settings (2 worker processes, OCR and PDF tables on), workers
    warmed with one small PDF each;
  - unstructured: `partition(filename=...)` file after file in one warm process (its import and model loading
    are not timed); a file over the time limit is counted as a timeout at the limit and the process restarts.

Prints files extracted by each, wall seconds and the speed ratio, plus how each side failed.

Usage: python benchmarks/extract_vs_unstructured.py [CORPUS_DIR] [--timeout S]
"""

from __future__ import annotations

import argparse
import json
import queue
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CORPUS = ROOT.parent / "shared" / "corpus" / "unstructured-example-docs"


def corpus_files(corpus: Path) -> list[Path]:
    """Every regular file of the corpus, sorted."""
    return sorted(p for p in corpus.rglob("*") if p.is_file())


def docmill_side(corpus: Path, timeout_s: float) -> tuple[float, Counter[str]]:
    """Seconds of the extract stage over the whole corpus as one batch, and outcome counts (`extracted` or
    a quarantine reason). Archives are parsed as files here (`unsupported_type`), as unstructured sees them."""
    from docmill.config.settings import ExtractConfig
    from docmill.parsers.pool import ParserPool
    from docmill.sources.folder import FolderSource, sha256_file
    from docmill.stages.extract import extract
    from docmill.stages.ingest import ingest

    sources = [s for s, _ in ingest(FolderSource(corpus, ["**/*"], []).list(), lambda u: None, sha256_file).records]
    config = ExtractConfig(timeout_s=timeout_s)
    with ParserPool(config.workers, config.timeout_s, config.max_memory_mb, config.parser_options()) as pool:
        smallest = min(sources, key=lambda s: s.size if s.extension == ".pdf" else float("inf"))
        list(pool.parse_many([(str(i), smallest.path, ".pdf") for i in range(config.workers)]))  # warm, as unstructured
        started = time.perf_counter()
        result = extract(sources, config, pool)
        seconds = time.perf_counter() - started
    outcomes = Counter(r.reason for r in result.rejects)
    for doc in result.records:
        outcomes["extracted" if any(e.text.strip() for e in doc.elements) else "empty"] += 1
    return seconds, outcomes


def _unstructured_worker() -> None:
    """Child mode: read paths from stdin, partition each, print one JSON line per file (seconds, outcome and
    the elements' text, one element a paragraph)."""
    from docmill.config.offline import apply_offline_defaults

    apply_offline_defaults()
    from unstructured.partition.auto import partition

    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        path = line.rstrip("\n")
        started = time.perf_counter()
        text = ""
        try:
            elements = partition(filename=path)
            text = "\n\n".join(str(e) for e in elements)
            outcome = "extracted" if text.strip() else "empty"
        except Exception as exc:
            outcome = f"error:{type(exc).__name__}"
        print(json.dumps({"seconds": time.perf_counter() - started, "outcome": outcome, "text": text}), flush=True)


def _lines(stream: object, out: queue.Queue[str | None]) -> None:
    for line in stream:  # type: ignore[attr-defined]
        out.put(line)
    out.put(None)


def child_results(command: list[str], files: list[Path], timeout_s: float) -> list[dict[str, Any]]:
    """Run a child that reads paths on stdin and answers one JSON line per file (after a `ready` line); a file
    over the time limit is a `timeout` at the limit and one that kills the child is `crashed` (the child is
    restarted for the rest). One result per file, in order."""
    pending = [str(p) for p in files]
    results: list[dict[str, Any]] = []
    while pending:
        child = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        )
        lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=_lines, args=(child.stdout, lines), daemon=True).start()
        assert child.stdin is not None
        child.stdin.write("".join(f"{p}\n" for p in pending))
        child.stdin.close()
        if lines.get(timeout=600) is None:
            raise RuntimeError(f"worker died on start: {command}")
        while pending:
            try:
                line = lines.get(timeout=timeout_s)
            except queue.Empty:
                results.append({"seconds": timeout_s, "outcome": "timeout", "text": ""})
                pending.pop(0)
                child.kill()
                break
            if line is None:  # the child crashed on this file
                results.append({"seconds": 0.0, "outcome": "crashed", "text": ""})
                pending.pop(0)
                break
            results.append(json.loads(line))
            pending.pop(0)
        child.wait()
    return results


def unstructured_side(files: list[Path], timeout_s: float) -> tuple[float, Counter[str]]:
    """Summed per-file seconds (timeouts count as the limit) and outcome counts."""
    results = child_results([sys.executable, __file__, "--worker"], files, timeout_s)
    return sum(r["seconds"] for r in results), Counter(r["outcome"] for r in results)


def main() -> None:
    """Run both sides and print the comparison."""
    if "--worker" in sys.argv:
        _unstructured_worker()
        return
    parser = argparse.ArgumentParser()
    parser.add_argument("corpus", nargs="?", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--timeout", type=float, default=120.0, help="per-file limit for both sides (s)")
    args = parser.parse_args()
    files = corpus_files(args.corpus)
    ours_s, ours = docmill_side(args.corpus, args.timeout)
    theirs_s, theirs = unstructured_side(files, args.timeout)
    print(f"corpus: {args.corpus} ({len(files)} files), per-file limit {args.timeout:.0f} s")
    print(f"docmill extract (2 workers):        {ours['extracted']:>4} extracted in {ours_s:7.1f} s")
    print(f"unstructured.partition.auto (1 p.): {theirs['extracted']:>4} extracted in {theirs_s:7.1f} s")
    print(f"speed ratio (unstructured s / docmill s): {theirs_s / ours_s:.2f}x")
    print(f"files/s: docmill {len(files) / ours_s:.2f}, unstructured {len(files) / theirs_s:.2f}")
    print("docmill outcomes:      " + ", ".join(f"{k} {v}" for k, v in ours.most_common()))
    print("unstructured outcomes: " + ", ".join(f"{k} {v}" for k, v in theirs.most_common()))


if __name__ == "__main__":
    main()
