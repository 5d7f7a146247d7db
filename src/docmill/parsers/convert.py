"""Formats read through pandoc (RTF, ODT, EPUB): converted to Markdown, then split like Markdown."""

from __future__ import annotations

import shutil
import subprocess
from functools import lru_cache
from pathlib import Path

from docmill.parsers import Parsed, ParseError, scrub
from docmill.parsers.text import markdown_elements

_PANDOC_FORMATS = {".rtf": "rtf", ".odt": "odt", ".epub": "epub"}


def parse_with_pandoc(path: Path, ext: str = "") -> Parsed:
    """Convert with pandoc to GitHub Markdown (headings, lists and tables kept).

    Raises:
        ParseError: `missing_dependency:pandoc`, `corrupt_<format>` or `empty`.
    """
    ext = ext or path.suffix.lower()
    pandoc = shutil.which("pandoc")
    if pandoc is None:
        raise ParseError("missing_dependency:pandoc", f"{ext} needs pandoc (Debian package `pandoc`)")
    proc = subprocess.run(
        [pandoc, f"--from={_PANDOC_FORMATS[ext]}", "--to=gfm", "--wrap=none", str(path)],
        capture_output=True,
        timeout=600,
        check=False,
    )
    if proc.returncode != 0:
        raise ParseError(f"corrupt_{ext.lstrip('.')}", scrub(proc.stderr.decode(errors="replace")))
    elements = [e for e in markdown_elements(proc.stdout.decode("utf-8", errors="replace")) if e.text.strip()]
    if not elements:
        raise ParseError("empty", "pandoc found no text")
    return Parsed(elements, {}, f"pandoc-{_pandoc_version(pandoc)}")


@lru_cache(maxsize=1)
def _pandoc_version(pandoc: str) -> str:
    out = subprocess.run([pandoc, "--version"], capture_output=True, text=True, check=False).stdout
    return out.split("\n", 1)[0].replace("pandoc", "").strip() or "unknown"
