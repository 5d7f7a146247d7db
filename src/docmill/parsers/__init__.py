"""Parsers: adapters from file bytes to a list of structural elements plus document metadata.

Every parser raises `ParseError(reason, message)` for a document-level failure; anything else that escapes
is reported by the worker pool as `parser_error:<ExceptionType>`.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from docmill.records import Element


class ParseError(Exception):
    """A document that cannot be parsed, with a specific reason code (`corrupt_pdf`, `encrypted`, ...)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message


@dataclass(slots=True)
class Parsed:
    """What a parser returns."""

    elements: list[Element]
    metadata: dict[str, Any] = field(default_factory=dict)
    parser: str = ""


def _pdf(path: Path) -> Parsed:
    from docmill.parsers.pdf import parse_pdf

    return parse_pdf(path)


def _plain(path: Path) -> Parsed:
    from docmill.parsers.text import parse_text

    return parse_text(path)


def _markdown(path: Path) -> Parsed:
    from docmill.parsers.text import parse_markdown

    return parse_markdown(path)


def _delimited(path: Path) -> Parsed:
    from docmill.parsers.text import parse_delimited

    return parse_delimited(path)


def _unstructured(path: Path) -> Parsed:
    from docmill.parsers.office import parse_with_unstructured

    return parse_with_unstructured(path)


def _legacy_office(path: Path) -> Parsed:
    if shutil.which("soffice") is None:
        raise ParseError("missing_dependency:soffice", f"{path.suffix} needs LibreOffice (soffice) to convert")
    from docmill.parsers.office import parse_legacy_office

    return parse_legacy_office(path)


PARSERS: dict[str, Callable[[Path], Parsed]] = {
    ".pdf": _pdf,
    ".txt": _plain,
    ".text": _plain,
    ".log": _plain,
    ".md": _markdown,
    ".markdown": _markdown,
    ".csv": _delimited,
    ".tsv": _delimited,
    ".docx": _unstructured,
    ".pptx": _unstructured,
    ".xlsx": _unstructured,
    ".html": _unstructured,
    ".htm": _unstructured,
    ".eml": _unstructured,
    ".msg": _unstructured,
    ".doc": _legacy_office,
    ".ppt": _legacy_office,
    ".xls": _legacy_office,
}


def sniff_extension(path: Path, declared: str) -> str:
    """The extension to parse with: the declared one, corrected by magic bytes where they disagree."""
    with path.open("rb") as handle:
        head = handle.read(8)
    if head.startswith(b"%PDF"):
        return ".pdf"
    if declared == ".pdf" and head:
        return ".pdf"  # a .pdf without the magic is still parsed as PDF so that it fails as corrupt_pdf
    return declared


def parse_file(path: Path, extension: str) -> Parsed:
    """Parse one file with the parser for its (sniffed) type.

    Raises:
        ParseError: for empty, unsupported, corrupt or encrypted files.
    """
    if path.stat().st_size == 0:
        raise ParseError("empty", "file has 0 bytes")
    ext = sniff_extension(path, extension.lower())
    parser = PARSERS.get(ext)
    if parser is None:
        raise ParseError(f"unsupported_type:{ext or '(none)'}", f"no parser for {ext or 'files without extension'}")
    return parser(path)
