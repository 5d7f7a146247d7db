"""DOCX parsing with python-docx: body paragraphs and tables in document order, headings, list items, page
numbers from Word's rendered page breaks, section headers and footers, core properties.

Element kinds come from paragraph styles (`Title`, `Heading N`, `List ...` or numbering) rather than from
unstructured's per-paragraph spaCy classification, which spent 24 of 29 s on an 872-page handbook.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from docmill.parsers import Parsed, ParseError, describe
from docmill.records import Element


def _kind(paragraph: Any) -> str:
    style = (paragraph.style.name if paragraph.style is not None else "") or ""
    if style == "Title" or style.startswith("Heading"):
        return "title"
    properties = paragraph._p.pPr
    if style.startswith("List") or (properties is not None and properties.numPr is not None):
        return "list_item"
    return "text"


def _cell_text(tc: Any, table: Any) -> str:
    """A cell's paragraphs, and the cells of tables nested in it, joined with `<br>` (one Markdown cell)."""
    from docx.table import Table, _Cell

    parts = []
    for item in _Cell(tc, table).iter_inner_content():
        if isinstance(item, Table):
            parts += [_cell_text(inner, item) for tr in item._tbl.tr_lst for inner in tr.tc_lst]
        else:
            parts.append(item.text.strip())
    return " <br> ".join(part for part in parts if part).replace("|", "\\|")


def table_markdown(table: Any) -> str:
    """A Word table as Markdown, read cell by cell from the XML (python-docx's grid view raises on tables
    whose rows disagree with the grid, which real files have). A cell spanning columns is followed by empty
    cells; the continuation of a vertically merged cell is empty."""
    rows = []
    for tr in table._tbl.tr_lst:
        row: list[str] = []
        for tc in tr.tc_lst:
            row += [_cell_text(tc, table)] + [""] * (max(tc.grid_span, 1) - 1)
        if any(row):
            rows.append(row)
    if not rows:
        return ""
    width = max(len(row) for row in rows)
    lines = ["|" + "|".join(row + [""] * (width - len(row))) + "|" for row in rows]
    lines.insert(1, "|" + "|".join(["---"] * width) + "|")
    return "\n".join(lines)


def _page_breaks(paragraph: Any, rendered: bool) -> int:
    """Page breaks before or inside a paragraph: the ones Word recorded when it last laid the document out,
    or, in files never laid out by Word, hard page breaks, `page break before` and new-page sections."""
    if rendered:
        return len(paragraph._p.xpath(".//w:lastRenderedPageBreak"))
    p = paragraph._p
    return (
        len(p.xpath('.//w:br[@w:type="page"]'))
        + len(p.xpath("./w:pPr/w:pageBreakBefore"))
        + len(p.xpath("./w:pPr/w:sectPr"))
    )


def _section_parts(document: Any, kind: str) -> list[Element]:
    """Distinct header (or footer) texts of the document's sections, once each."""
    texts: dict[str, None] = {}
    for section in document.sections:
        part = section.header if kind == "header" else section.footer
        text = "\n".join(p.text.strip() for p in part.paragraphs if p.text.strip())
        if text:
            texts[text] = None
    return [Element(text, kind) for text in texts]


def _metadata(document: Any, pages: int) -> dict[str, Any]:
    props = document.core_properties
    meta: dict[str, Any] = {"pages": pages}
    for key, value in (("title", props.title), ("author", props.author), ("subject", props.subject)):
        if value and value.strip():
            meta[key] = value.strip()
    for key, value in (("created", props.created), ("modified", props.modified)):
        if value is not None:
            meta[key] = value.replace(tzinfo=None).isoformat(timespec="seconds")
    return meta


def parse_docx(path: Path, ext: str = ".docx") -> Parsed:
    """Parse a DOCX file.

    Raises:
        ParseError: `encrypted`, `corrupt_office` or `empty`.
    """
    import docx
    from docx.opc.exceptions import PackageNotFoundError
    from docx.table import Table

    from docmill.parsers.office import check_office_container

    check_office_container(path, ".docx")
    try:
        document = docx.Document(str(path))
    except (PackageNotFoundError, KeyError, ValueError) as exc:
        raise ParseError("corrupt_office", f"not a readable DOCX: {describe(exc)}") from exc
    rendered = bool(document.element.body.xpath(".//w:lastRenderedPageBreak"))
    page = 1
    body: list[Element] = []
    for block in document.iter_inner_content():
        if isinstance(block, Table):
            text = table_markdown(block)
            if text:
                body.append(Element(text, "table", page=page))
            continue
        page += _page_breaks(block, rendered)
        text = block.text.strip()
        if text:
            body.append(Element(text, _kind(block), page=page))
    if not body:
        raise ParseError("empty", "the DOCX has no text in its body")
    elements = _section_parts(document, "header") + body + _section_parts(document, "footer")
    return Parsed(elements, _metadata(document, page), f"python-docx-{docx.__version__}")
