"""PDF extraction speed: docmill's PDF parser next to a bare pymupdf `get_text()` loop, in one process.

Every PDF of the shared corpora (or the folders given) is read by both, alternately and `--rounds` times;
OCR is off on docmill's side (scanned pages are what Tesseract costs, not the text layer and tables). Prints
pages, seconds of each side (best round) and docmill's time as a multiple of pymupdf's: compare that ratio
between two versions of the code, measured on the same machine.

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


def _docmill_seconds(files: list[Path]) -> float:
    from docmill.parsers import ParseError
    from docmill.parsers.pdf import parse_pdf

    started = time.perf_counter()
    for path in files:
        with contextlib.suppress(ParseError):
            parse_pdf(path)
    return time.perf_counter() - started


def _pymupdf_seconds(files: list[Path]) -> tuple[float, int]:
    import pymupdf

    pages = 0
    started = time.perf_counter()
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
    return time.perf_counter() - started, pages


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
        seconds, pages = _pymupdf_seconds(files)
        theirs.append(seconds)
        ours.append(_docmill_seconds(files))
    print(f"{len(files)} PDFs, {pages} pages, best of {args.rounds} rounds")
    print(f"pymupdf get_text(): {min(theirs):7.2f} s  ({pages / min(theirs):6.0f} pages/s)")
    print(f"docmill parse_pdf:  {min(ours):7.2f} s  ({pages / min(ours):6.0f} pages/s)")
    print(f"docmill / pymupdf:  {min(ours) / min(theirs):.2f}x")


if __name__ == "__main__":
    main()
