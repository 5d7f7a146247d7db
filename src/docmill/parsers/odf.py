"""OpenDocument spreadsheets (ODS) and presentations (ODP), read from `content.xml` with lxml.

ODS: each sheet a `Sheet: <name>` title and one Markdown table; a cell's text is the text the file stores
for display (`text:p`), so dates, currencies and formulas' results come out as the spreadsheet shows them.
ODP: each slide's frames and shapes in document order (titles, outlines as list items, text boxes, tables,
pictures' titles and descriptions) and its speaker notes; the slide number is each element's page.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from docmill.parsers import Parsed, ParseError, describe
from docmill.parsers.sheets import sheet_elements
from docmill.parsers.tables import markdown_table
from docmill.records import Element

TEXT = "urn:oasis:names:tc:opendocument:xmlns:text:1.0"
TABLE = "urn:oasis:names:tc:opendocument:xmlns:table:1.0"
DRAW = "urn:oasis:names:tc:opendocument:xmlns:drawing:1.0"
PRESENTATION = "urn:oasis:names:tc:opendocument:xmlns:presentation:1.0"
SVG = "urn:oasis:names:tc:opendocument:xmlns:svg-compatible:1.0"
OFFICE = "urn:oasis:names:tc:opendocument:xmlns:office:1.0"
XLINK = "http://www.w3.org/1999/xlink"
CHART = "urn:oasis:names:tc:opendocument:xmlns:chart:1.0"
_MAX_REPEAT = 1024  # repeated empty cells run to the sheet's edge (16384 columns): capped
_FIELDS = {"page-number", "date-time", "header", "footer"}  # placeholders of slide numbers, dates, footers


def _content(path: Path, kind: str, member: str = "content.xml") -> Any:
    from lxml import etree

    try:
        with zipfile.ZipFile(path) as archive:
            data = archive.read(member)
        return etree.fromstring(data, etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True))
    except (zipfile.BadZipFile, KeyError, OSError, etree.XMLSyntaxError) as exc:
        raise ParseError(f"corrupt_{kind}", f"not a readable {kind.upper()} file: {describe(exc)}") from exc


def _charts(path: Path, node: Any, page: int, kind: str) -> list[Element]:
    """Charts embedded in `node` (`draw:object` sub-documents): title, subtitle, axis titles, and the data
    table the chart keeps of its own (series names, categories, values as shown)."""
    elements: list[Element] = []
    for item in node.iter(f"{{{DRAW}}}object"):
        href = (item.get(f"{{{XLINK}}}href") or "").removeprefix("./").strip("/")
        try:
            root = _content(path, kind, f"{href}/content.xml") if href else None
        except ParseError:
            continue  # an object without a readable sub-document (an OLE blob): nothing to read
        chart = root.find(f".//{{{CHART}}}chart") if root is not None else None
        if chart is None:
            continue
        for title in chart.iter(f"{{{CHART}}}title", f"{{{CHART}}}subtitle"):
            text = " ".join(t for t in (paragraph_text(p) for p in title.iter(f"{{{TEXT}}}p")) if t)
            if text:
                elements.append(Element(text, "title", page=page))
        for table in chart.iter(f"{{{TABLE}}}table"):
            text = markdown_table(_rows(table))
            if text:
                elements.append(Element(text, "table", page=page))
    return elements


def paragraph_text(node: Any) -> str:
    """A `text:p` / `text:h`: spans and links included, `text:s` / `text:tab` / `text:line-break` as spaces."""
    parts = [node.text or ""]
    for child in node:
        name = child.tag.rsplit("}", 1)[-1] if isinstance(child.tag, str) else ""
        if name == "s":
            parts.append(" " * int(child.get(f"{{{TEXT}}}c", "1") or 1))
        elif name in ("tab", "line-break"):
            parts.append(" ")
        elif name not in ("note", "annotation", "bookmark-ref") and name:
            parts.append(paragraph_text(child))
        parts.append(child.tail or "")
    return " ".join("".join(parts).split())


def _cell_text(cell: Any) -> str:
    return " ".join(t for t in (paragraph_text(p) for p in cell.iter(f"{{{TEXT}}}p", f"{{{TEXT}}}h")) if t)


def _repeat(node: Any, attribute: str) -> int:
    try:
        return max(1, int(node.get(f"{{{TABLE}}}{attribute}", "1")))
    except ValueError:
        return 1


_ROW_GROUPS = {f"{{{TABLE}}}{name}" for name in ("table-header-rows", "table-rows", "table-row-group")}


def _table_rows(parent: Any) -> Iterator[Any]:
    """The table's own rows, through header, body and (outline) row groups; not those of nested tables."""
    for child in parent:
        if child.tag == f"{{{TABLE}}}table-row":
            yield child
        elif child.tag in _ROW_GROUPS:
            yield from _table_rows(child)


def _rows(table: Any) -> list[list[str]]:
    rows = []
    for row in _table_rows(table):
        cells: list[str] = []
        for cell in row:
            if cell.tag not in (f"{{{TABLE}}}table-cell", f"{{{TABLE}}}covered-table-cell"):
                continue
            text = _cell_text(cell)
            cells += [text] * min(_repeat(cell, "number-columns-repeated"), _MAX_REPEAT)
        while cells and not cells[-1]:
            cells.pop()
        if cells:
            rows += [cells] * min(_repeat(row, "number-rows-repeated"), _MAX_REPEAT)
    return rows


def parse_ods(path: Path, ext: str = ".ods") -> Parsed:
    """Parse an OpenDocument spreadsheet.

    Raises:
        ParseError: `corrupt_ods` or `empty`.
    """
    root = _content(path, "ods")
    tables = [t for t in root.iter(f"{{{TABLE}}}table") if _is_sheet(t)]
    elements, names = sheet_elements((t.get(f"{{{TABLE}}}name", ""), _rows(t)) for t in tables)
    for number, table in enumerate(tables, 1):
        charts = _charts(path, table, number, "ods")
        if charts:
            at = max(i for i, e in enumerate(elements) if e.page == number) + 1
            elements[at:at] = charts
    if all(e.kind == "title" for e in elements):
        raise ParseError("empty", "no sheet has a cell with a value")
    return Parsed(elements, {"sheets": names, "pages": len(names)}, _version())


def _is_sheet(table: Any) -> bool:
    return table.getparent() is not None and table.getparent().tag == f"{{{OFFICE}}}spreadsheet"


def _shape_elements(node: Any, page: int, kind: str = "text") -> Iterator[Element]:
    """Text of a frame, shape or group, in document order."""
    for child in node:
        tag = child.tag if isinstance(child.tag, str) else ""
        name = tag.rsplit("}", 1)[-1]
        if tag == f"{{{TABLE}}}table":
            text = markdown_table(_rows(child))
            if text:
                yield Element(text, "table", page=page)
        elif tag in (f"{{{TEXT}}}p", f"{{{TEXT}}}h"):
            text = paragraph_text(child)
            if text:
                yield Element(text, kind, page=page)
        elif tag == f"{{{TEXT}}}list-item":
            yield from _shape_elements(child, page, "title" if kind == "title" else "list_item")
        elif tag in (f"{{{SVG}}}title", f"{{{SVG}}}desc"):
            text = " ".join("".join(child.itertext()).split())
            if text:
                yield Element(text, "text", page=page)
        elif name not in ("notes",) and tag.startswith(("{" + DRAW, "{" + TEXT)):
            if child.get(f"{{{PRESENTATION}}}class") in _FIELDS:
                continue  # slide number, date, header and footer placeholders (`<number>`)
            inner = kind
            if child.get(f"{{{PRESENTATION}}}class") in ("title", "subtitle"):
                inner = "title"
            yield from _shape_elements(child, page, inner)


def parse_odp(path: Path, ext: str = ".odp") -> Parsed:
    """Parse an OpenDocument presentation.

    Raises:
        ParseError: `corrupt_odp` or `empty`.
    """
    root = _content(path, "odp")
    elements: list[Element] = []
    pages = list(root.iter(f"{{{DRAW}}}page"))
    for number, slide in enumerate(pages, 1):
        elements += _shape_elements(slide, number)
        elements += _charts(path, slide, number, "odp")
        for notes in slide.iter(f"{{{PRESENTATION}}}notes"):
            elements += [e for e in _shape_elements(notes, number) if e.kind != "title"]
    if not elements:
        raise ParseError("empty", "the presentation has no text")
    return Parsed(elements, {"pages": len(pages)}, _version())


def _version() -> str:
    from lxml import etree

    return f"lxml-{etree.__version__}"
