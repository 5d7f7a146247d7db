"""Tables as text: one shared renderer from rows of cells to a Markdown pipe table, used by every parser
(DOCX, PPTX, XLSX, ODF, PDF, and the HTML tables unstructured returns), so that no tag name ever becomes a
word of the dataset.

A cell's line breaks and runs of whitespace become one space and `|` is escaped, so the table stays valid
Markdown and no word of a cell is lost; the first row is the header row, written once.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

_SPACE = re.compile(r"\s+")


def cell_text(value: object) -> str:
    """One cell's text flattened to a single line, with `|` escaped (and `\\` before it kept literal)."""
    text = _SPACE.sub(" ", "" if value is None else str(value)).strip()
    return text.replace("\\|", "|").replace("|", "\\|")


def markdown_table(rows: Sequence[Sequence[object]]) -> str:
    """Rows of cells as a Markdown pipe table: the first row is the header, short rows are padded, rows and
    columns with no text at all are dropped. Empty string when no cell has text."""
    cells = [[cell_text(value) for value in row] for row in rows]
    cells = [row for row in cells if any(row)]
    if not cells:
        return ""
    width = max(len(row) for row in cells)
    cells = [row + [""] * (width - len(row)) for row in cells]
    keep = [c for c in range(width) if any(row[c] for row in cells)]
    cells = [[row[c] for c in keep] for row in cells]
    lines = ["| " + " | ".join(row) + " |" for row in cells]
    lines.insert(1, "|" + "|".join(["---"] * len(keep)) + "|")
    return "\n".join(lines)


_BLOCKS = {"p", "div", "li", "br", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "dd", "dt"}


# characters XML 1.0 forbids: the HTML parser keeps them from a damaged page, lxml refuses them when set again
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def _html_cell_text(cell: Any) -> str:
    """A cell's text: line breaks and blocks become spaces; a table nested in the cell is flattened into it,
    its cells separated by `; ` (the element is modified in place: it is a throw-away parse)."""
    for node in cell.iterdescendants():
        if not isinstance(node.tag, str):
            node.text = ""  # comments and processing instructions are no text
        elif node.tag.lower() in ("td", "th"):
            node.tail = "; " + _NOT_XML.sub("", node.tail or "")
        elif node.tag.lower() in _BLOCKS:
            node.tail = " " + _NOT_XML.sub("", node.tail or "")
    return _SPACE.sub(" ", "".join(cell.itertext())).strip(" ;")


def html_table_rows(html: str) -> list[list[str]]:
    """The rows of the first `<table>` in an HTML fragment as cell texts. A cell spanning columns is followed
    by empty cells, the rows a cell spans downwards get an empty cell in its column (its text once)."""
    import lxml.html

    try:
        root = lxml.html.fragment_fromstring(html, create_parent="div")
    except Exception:  # lxml raises ParserError (or ValueError) on an empty or malformed fragment
        return []
    tables = root.xpath(".//table")
    if not tables:
        return []
    table = tables[0]
    rows: list[list[str]] = []
    pending: dict[int, int] = {}  # column -> rows still covered by a rowspan from above
    for tr in table.xpath("./tr | ./thead/tr | ./tbody/tr | ./tfoot/tr"):
        row: list[str] = []
        for cell in tr.xpath("./td | ./th"):
            while pending.get(len(row), 0) > 0:
                pending[len(row)] -= 1
                row.append("")
            span = _span(cell.get("colspan"))
            down = _span(cell.get("rowspan")) - 1
            for offset in range(span):
                if down > 0:
                    pending[len(row) + offset] = down
            row += [_html_cell_text(cell)] + [""] * (span - 1)
        while pending.get(len(row), 0) > 0:
            pending[len(row)] -= 1
            row.append("")
        rows.append(row)
    return rows


def _span(value: str | None) -> int:
    try:
        return max(1, min(int(value or 1), 1000))
    except ValueError:
        return 1


def html_table_markdown(html: str) -> str:
    """An HTML table (as unstructured's `text_as_html`) rendered as a Markdown pipe table."""
    return markdown_table(html_table_rows(html))
