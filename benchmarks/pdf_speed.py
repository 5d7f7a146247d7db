"""PDF extraction speed: docmill's PDF parser next to a bare pymupdf `get_text()` loop, in one process.

Every PDF of the shared corpora (or the folders given) is read by both, alternately and `--rounds` times;
OCR is off on docmill's side (scanned pages are what Tesseract costs, not the text layer and tables). Prints
pages, wall and process-CPU seconds of each side (best round) and docmill's time as a multiple of pymupdf's:
compare that ratio between two versions of the code, measured on the same machine (CPU seconds stay
comparable when other jobs load the machine; wall seconds do not).

Usage: python benchmarks/pdf_speed.py [FOLDER ...] [--rounds N]
"""

from __future__ import annotations

import argparse
import contextlib
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CORPORA = ROOT.parent / "shared" / "corpus"


def pdf_files(folders: list[Path]) -> list[Path]:
    """Every non-empty `.pdf` under the folders, sorted."""
    return sorted(p for f in folders for p in f.rglob("*.pdf") if p.is_file() and p.stat().st_size)


def _docmill_seconds(files: list[Path]) -> tuple[float, float]:
    from docmill.parsers import ParseError
    from docmill.parsers.pdf import parse_pdf

    started, cpu = time.perf_counter(), time.process_time()
    for path in files:
        with contextlib.suppress(ParseError):
            parse_pdf(path)
    return time.perf_counter() - started, time.process_time() - cpu


def _pymupdf_seconds(files: list[Path]) -> tuple[float, float, int]:
    import pymupdf

    pages = 0
    started, cpu = time.perf_counter(), time.process_time()
    for path in files:
        try:
            with pymupdf.open(path) as doc:
                if doc.needs_pass:
                    continue
                for page in doc:
                    page.get_text()
                    pages += 1
        except Exception:
            continue
    return time.perf_counter() - started, time.process_time() - cpu, pages


def main() -> None:
    """Time both sides and print the ratio."""
    parser = argparse.ArgumentParser()
    parser.add_argument("folders", nargs="*", type=Path, default=[DEFAULT_CORPORA])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    from docmill.parsers import OPTIONS

    OPTIONS["ocr"] = False
    files = pdf_files(args.folders)
    ours, theirs, pages = [], [], 0
    for _ in range(args.rounds):
        *seconds, pages = _pymupdf_seconds(files)
        theirs.append(tuple(seconds))
        ours.append(_docmill_seconds(files))
    best_ours, best_theirs = min(ours), min(theirs)
    print(f"{len(files)} PDFs, {pages} pages, best of {args.rounds} rounds (wall s / process CPU s)")
    for name, (wall, cpu) in (("pymupdf get_text():", best_theirs), ("docmill parse_pdf: ", best_ours)):
        print(f"{name} {wall:7.2f} s / {cpu:7.2f} s  ({pages / cpu:6.0f} pages per CPU second)")
    print(f"docmill / pymupdf:  {best_ours[0] / best_theirs[0]:.2f}x wall, {best_ours[1] / best_theirs[1]:.2f}x CPU")


if __name__ == "__main__":
    main()
