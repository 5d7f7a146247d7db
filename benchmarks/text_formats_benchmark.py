"""Extraction speed of the text, markup and structured formats (HTML, XML, JSON, CSV, Markdown, EPUB, ...) on
the shared corpus: this tree's parsers against another checkout's (`--baseline DIR`, e.g. a `git archive` of
the base commit), measured alternately in one run so that the ratio compares like with like.

Usage: python benchmarks/text_formats_benchmark.py [--baseline DIR] [--rounds 3]   (from the repository root)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus"
SUFFIXES = {
    ".html", ".htm", ".xml", ".json", ".ndjson", ".yaml", ".csv", ".tsv", ".txt", ".md", ".rst", ".org", ".epub",
    ".ipynb", ".tex", ".nxml", ".vtt", ".adoc", ".opml", ".fb2", ".textile", ".typ", ".wiki",
}  # fmt: skip

_CHILD = """
import json, sys, time
from pathlib import Path
from docmill.parsers import ParseError, parse_file
paths = [Path(p) for p in json.loads(sys.argv[1])]
for p in paths:  # warm-up: imports and caches
    try: parse_file(p, p.suffix)
    except Exception: pass
import os
start, before = time.perf_counter(), os.times()
for p in paths:
    try: parse_file(p, p.suffix)
    except Exception: pass
after = os.times()
cpu = sum(getattr(after, k) - getattr(before, k) for k in ("user", "system", "children_user", "children_system"))
print(time.perf_counter() - start, cpu)
"""


def _files(corpus: Path) -> list[Path]:
    return sorted(p for p in corpus.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES)


def _seconds(src: Path, files: list[Path]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the parsing process and its pandoc children) of one pass."""
    env = {**os.environ, "PYTHONPATH": f"{src}{os.pathsep}{ROOT}"}
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, json.dumps([str(f) for f in files])],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    wall, cpu = out.stdout.strip().splitlines()[-1].split()
    return float(wall), float(cpu)


def main() -> None:
    """Print wall and CPU seconds per round for this tree (and the baseline) and the best-of ratios."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--baseline", type=Path, help="a checkout whose src/ is the baseline")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    args = parser.parse_args()
    files = _files(args.corpus)
    print(f"{len(files)} files in {args.corpus}")
    ours, base = [], []
    for _ in range(args.rounds):
        ours.append(_seconds(ROOT / "src", files))
        if args.baseline:
            base.append(_seconds(args.baseline / "src", files))
        time.sleep(0.1)
    print("this tree (wall s / CPU s): " + ", ".join(f"{w:.2f} / {c:.2f}" for w, c in ours))
    if base:
        print("baseline (wall s / CPU s):  " + ", ".join(f"{w:.2f} / {c:.2f}" for w, c in base))
        wall = min(w for w, _ in ours) / min(w for w, _ in base)
        cpu = min(c for _, c in ours) / min(c for _, c in base)
        print(f"ratio this/baseline, best of {args.rounds}: wall {wall:.3f}, CPU {cpu:.3f}")


if __name__ == "__main__":
    main()
