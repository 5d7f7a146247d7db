"""Cheap parsers for plain text, Markdown and delimited files (no NLP per paragraph)."""

from __future__ import annotations

import codecs
import csv
import io
import re
from pathlib import Path

from docmill.parsers import Parsed, ParseError
from docmill.records import Element

_BOMS = [
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
]
_PARAGRAPH = re.compile(r"\n\s*\n")
_HEADING = re.compile(r"^(#{1,6})\s+(.*)$")


def _wide_encoding(sample: bytes) -> str | None:
    """UTF-16/32 without BOM: ASCII-range text leaves NUL bytes at fixed positions."""
    nulls = sample.count(0)
    if len(sample) < 4 or nulls < len(sample) // 4:
        return None
    if nulls >= len(sample) * 2 // 3:
        return "utf-32-be" if sample[0] == 0 else "utf-32-le"
    even = sample[0::2].count(0)
    return "utf-16-be" if even > nulls - even else "utf-16-le"


def decode_bytes(data: bytes) -> tuple[str, str]:
    """Decode bytes to text, detecting BOMs, UTF-8, and legacy code pages. Returns (text, encoding)."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return data.decode(encoding), encoding
    wide = _wide_encoding(data[:4096])
    if wide:
        return data.decode(wide, errors="replace"), wide
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    if best is not None and best.encoding:
        return str(best), best.encoding
    return data.decode("cp1252", errors="replace"), "cp1252"


def read_text(path: Path) -> tuple[str, str]:
    """Decoded text of a file and its encoding.

    Raises:
        ParseError: `empty` when the file holds only whitespace.
    """
    text, encoding = decode_bytes(path.read_bytes())
    if not text.strip():
        raise ParseError("empty", "file contains only whitespace")
    return text, encoding


def parse_text(path: Path, ext: str = "") -> Parsed:
    """Plain text: one element per paragraph (blank-line separated)."""
    text, encoding = read_text(path)
    elements = [Element(p.strip(), "text") for p in _PARAGRAPH.split(text) if p.strip()]
    return Parsed(elements, {"encoding": encoding}, "docmill.text")


def parse_markdown(path: Path, ext: str = "") -> Parsed:
    """Markdown: ATX headings become titles, the rest paragraphs (tables and lists kept whole)."""
    text, encoding = read_text(path)
    return Parsed(markdown_elements(text), {"encoding": encoding}, "docmill.markdown")


def markdown_elements(text: str) -> list[Element]:
    """Titles, paragraphs and tables of a Markdown text."""
    elements: list[Element] = []
    for block in _PARAGRAPH.split(text):
        lines: list[str] = []
        for line in block.strip().splitlines():
            heading = _HEADING.match(line)
            if heading:
                if lines:
                    elements.append(Element("\n".join(lines), "text"))
                    lines = []
                elements.append(Element(heading.group(2).strip(), "title"))
            else:
                lines.append(line)
        if lines:
            kind = "table" if lines[0].lstrip().startswith("|") else "text"
            elements.append(Element("\n".join(lines), kind))
    return elements


def parse_delimited(path: Path, ext: str = "") -> Parsed:
    """CSV/TSV: the header as a title, one element per row as `column: value` pairs."""
    text, encoding = read_text(path)
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(text[:8192], delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel_tab if (ext or path.suffix.lower()) == ".tsv" else csv.excel
    rows = [row for row in csv.reader(io.StringIO(text), dialect) if any(cell.strip() for cell in row)]
    if not rows:
        raise ParseError("empty", "no rows")
    header = [h.strip() or f"column_{i + 1}" for i, h in enumerate(rows[0])]
    elements = [Element(" | ".join(header), "title")]
    for row in rows[1:]:
        pairs = [f"{header[i] if i < len(header) else f'column_{i + 1}'}: {v.strip()}" for i, v in enumerate(row)]
        elements.append(Element("; ".join(p for p in pairs if not p.endswith(": ")), "table_row"))
    return Parsed(elements, {"encoding": encoding, "rows": len(rows) - 1, "columns": len(header)}, "docmill.csv")
