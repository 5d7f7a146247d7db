"""CPU seconds of docmill's parsers per file type over the shared corpora's office, HTML and e-mail files.

In one warm process (imports and unstructured's models loaded by a first pass), each file is parsed in
`--rounds` rounds; the figure per file is its smallest CPU time (this process plus LibreOffice children),
which stays meaningful on a machine shared with other work, where wall time does not. Compare two code
versions by running this twice with different `PYTHONPATH`s, alternately, and dividing the totals.

Usage: PYTHONPATH=src python benchmarks/office_parse_cpu.py [--rounds N] > figures.json
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORPORA = [
    ROOT.parent / "shared" / "corpus" / "unstructured-example-docs",
    ROOT.parent / "shared" / "corpus" / "markitdown-tests" / "tests" / "test_files",
]
EXTENSIONS = {".docx", ".pptx", ".xlsx", ".xls", ".odt", ".ods", ".odp", ".html", ".htm", ".eml", ".msg"}
EXTENSIONS |= {".doc", ".ppt"}


def _cpu() -> float:
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def _parse(path: Path) -> str:
    from docmill.parsers import ParseError, parse_file

    try:
        parsed = parse_file(path, path.suffix)
    except ParseError as error:
        return error.reason
    return f"extracted {sum(len(e.text) for e in parsed.elements)} chars"


def main() -> None:
    """Print per-extension CPU seconds (JSON) and each file's outcome."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    from docmill.config.offline import apply_offline_defaults

    apply_offline_defaults()
    files = sorted(p for corpus in CORPORA for p in corpus.rglob("*") if p.suffix.lower() in EXTENSIONS)
    for path in files:  # warm-up: imports, spaCy model, LibreOffice profile
        _parse(path)
    best: dict[Path, float] = {}
    outcomes: dict[str, str] = {}
    for _ in range(args.rounds):
        for path in files:
            start = _cpu()
            outcomes[str(path)] = _parse(path)
            best[path] = min(best.get(path, float("inf")), _cpu() - start)
    by_ext: dict[str, float] = {}
    for path, seconds in best.items():
        by_ext[path.suffix.lower()] = by_ext.get(path.suffix.lower(), 0.0) + seconds
    report = {
        "files": len(files),
        "cpu_s_total": round(sum(by_ext.values()), 3),
        "cpu_s_by_extension": {k: round(v, 3) for k, v in sorted(by_ext.items())},
        "outcomes": outcomes,
    }
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
