"""Cheap parsers for plain text, Markdown and delimited files (no NLP per paragraph)."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

from docmill.parsers import Parsed, ParseError
from docmill.parsers.encoding import decode_bytes
from docmill.records import Element

_PARAGRAPH = re.compile(r"\n\s*\n")
_HEADING = re.compile(r"^(#{1,6})\s+(.*)$")


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
                elements.append(Element(heading.group(2).strip(), "title", level=len(heading.group(1))))
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
    # newline="": the csv module splits records itself (a lone "\r" ends a row, a quoted one stays in its cell)
    rows = [row for row in csv.reader(io.StringIO(text, newline=""), dialect) if any(cell.strip() for cell in row)]
    if not rows:
        raise ParseError("empty", "no rows")
    header = [h.strip() for h in rows[0]]
    named = header[: max((i + 1 for i, h in enumerate(header) if h), default=0)]  # no trailing empty cells
    elements = [Element(" | ".join(named), "title")]
    for row in rows[1:]:
        # a value under no header stands alone: a made-up column name would be a word the file does not hold
        pairs = [
            f"{header[i]}: {v}" if i < len(header) and header[i] else v for i, v in enumerate(c.strip() for c in row)
        ]
        elements.append(Element("; ".join(p for p in pairs if p and not p.endswith(": ")), "table_row"))
    return Parsed(elements, {"encoding": encoding, "rows": len(rows) - 1, "columns": len(header)}, "docmill.csv")
