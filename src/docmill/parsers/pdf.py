"""PDF parsing with pymupdf: text blocks per page in reading order, page numbers and document metadata."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pymupdf

from docmill.parsers import Parsed, ParseError
from docmill.records import Element

_PDF_DATE = re.compile(r"D:(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?")


def pdf_date(value: str | None) -> str | None:
    """Convert a PDF date (`D:20240131120000+01'00'`) to ISO 8601, or None."""
    match = _PDF_DATE.match(value or "")
    if not match:
        return None
    defaults = ["", "01", "01", "00", "00", "00"]
    y, mo, d, h, mi, s = (g or default for g, default in zip(match.groups(), defaults, strict=True))
    return f"{y}-{mo}-{d}T{h}:{mi}:{s}"


def _looks_like_title(text: str) -> bool:
    words = text.split()
    return (
        0 < len(words) <= 12
        and "\n" not in text
        and text[-1] not in ".,;:"
        and (text[0].isupper() or text[0].isdigit())
    )


def _metadata(doc: pymupdf.Document) -> dict[str, Any]:
    meta = doc.metadata or {}
    out: dict[str, Any] = {"pages": doc.page_count}
    for key in ("title", "author", "subject", "keywords", "producer"):
        if meta.get(key):
            out[key] = meta[key].strip()
    for key, name in (("creationDate", "created"), ("modDate", "modified")):
        iso = pdf_date(meta.get(key))
        if iso:
            out[name] = iso
    return out


def parse_pdf(path: Path) -> Parsed:
    """Text blocks of every page (1-based page numbers); short single-line blocks are marked as titles.

    Raises:
        ParseError: `corrupt_pdf`, `encrypted`, or `no_text_layer` for scans without text.
    """
    try:
        doc = pymupdf.open(path, filetype="pdf")
    except Exception as exc:
        raise ParseError("corrupt_pdf", f"pymupdf cannot open the file: {exc}") from exc
    with doc:
        if doc.needs_pass:
            raise ParseError("encrypted", "PDF requires a password")
        if doc.page_count == 0:
            raise ParseError("corrupt_pdf", "no readable page (damaged or truncated file)")
        elements: list[Element] = []
        try:
            for page in doc.pages():
                for block in page.get_text("blocks", sort=False):
                    if block[6] != 0:  # image block
                        continue
                    text = block[4].strip()
                    if text:
                        kind = "title" if _looks_like_title(text) else "text"
                        elements.append(Element(text, kind, page=page.number + 1))
        except Exception as exc:
            raise ParseError("corrupt_pdf", f"page {len(elements)} unreadable: {exc}") from exc
        if not elements:
            raise ParseError("no_text_layer", f"{doc.page_count} page(s) without extractable text (scan? OCR needed)")
        return Parsed(elements, _metadata(doc), f"pymupdf-{pymupdf.VersionBind}")
