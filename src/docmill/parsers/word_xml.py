"""WordprocessingML read from the XML: paragraph text (content controls, tracked insertions, fields' results,
equations included), tables, and what a paragraph anchors outside its own text: text boxes and shapes
(DrawingML and VML `txbxContent`), SmartArt, charts, alternative text of pictures, and the footnotes,
endnotes and comments it references.

python-docx's `Paragraph.text` reads only the runs directly under the paragraph or a hyperlink, and its
`iter_inner_content` skips block-level content controls: both lose text real documents have.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from lxml import etree

from docmill.parsers.charts import chart_elements
from docmill.parsers.drawing import alt_text, smartart_text
from docmill.parsers.tables import markdown_table
from docmill.records import Element

W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
_NS = {
    "w": W,
    "m": "http://schemas.openxmlformats.org/officeDocument/2006/math",
    "mc": "http://schemas.openxmlformats.org/markup-compatibility/2006",
    "c": "http://schemas.openxmlformats.org/drawingml/2006/chart",
    "dgm": "http://schemas.openxmlformats.org/drawingml/2006/diagram",
    "wp": "http://schemas.openxmlformats.org/drawingml/2006/wordprocessingDrawing",
    "r": "http://schemas.openxmlformats.org/officeDocument/2006/relationships",
}
# Not in a nested paragraph (a text box's), not in a markup-compatibility fallback (the VML copy of a
# DrawingML text box), not text a tracked change moved away (it is also where it moved to).
_OWN = "count(ancestor::w:p) = $depth and not(ancestor::mc:Fallback) and not(ancestor::w:moveFrom)"
_TEXT = etree.XPath(
    f".//w:r/w:t[{_OWN}] | .//w:r/w:tab[{_OWN}] | .//w:r/w:br[{_OWN}] | .//w:r/w:cr[{_OWN}]"
    f" | .//w:r/w:noBreakHyphen[{_OWN}] | .//m:t[{_OWN}]",
    namespaces=_NS,
)
_BOXES = etree.XPath(f".//w:txbxContent[{_OWN}]", namespaces=_NS)
_CHARTS = etree.XPath(f".//c:chart[{_OWN}]", namespaces=_NS)
_DIAGRAMS = etree.XPath(f".//dgm:relIds[{_OWN}]", namespaces=_NS)
_ALT = etree.XPath(f".//wp:docPr[{_OWN}]/@descr", namespaces=_NS)
_REFERENCES = etree.XPath(
    f".//w:footnoteReference[{_OWN}] | .//w:endnoteReference[{_OWN}] | .//w:commentReference[{_OWN}]",
    namespaces=_NS,
)
_TR, _TC = f"{{{W}}}tr", f"{{{W}}}tc"
_SEPARATORS = {"separator", "continuationSeparator", "continuationNotice"}
_BLOCK_WRAPPERS = {f"{{{W}}}sdt", f"{{{W}}}sdtContent", f"{{{W}}}customXml", f"{{{W}}}ins", f"{{{W}}}smartTag"}


def _children(parent: Any, tags: tuple[str, ...]) -> Iterator[Any]:
    for child in parent:
        if child.tag in tags:
            yield child
        elif child.tag in _BLOCK_WRAPPERS:
            yield from _children(child, tags)


def blocks(parent: Any) -> Iterator[Any]:
    """The paragraphs (`w:p`) and tables (`w:tbl`) of a body, cell, text box or note, in order, through
    block-level content controls and custom XML."""
    return _children(parent, (f"{{{W}}}p", f"{{{W}}}tbl"))


_DEPTH = etree.XPath("count(ancestor-or-self::w:p)", namespaces=_NS)


def _depth(p: Any) -> int:
    return int(_DEPTH(p))


def paragraph_text(p: Any) -> str:
    """A paragraph's own text (not its text boxes'): tabs and line breaks as spaces and newlines."""
    parts = []
    for node in _TEXT(p, depth=_depth(p)):
        name = etree.QName(node).localname
        if name == "t":
            parts.append(node.text or "")
        elif name == "tab":
            parts.append("\t")
        elif name == "noBreakHyphen":
            parts.append("-")
        elif name == "cr" or node.get(f"{{{W}}}type") in (None, "textWrapping"):
            parts.append("\n")
    return "".join(parts).strip()


def _cell_text(tc: Any) -> str:
    """A cell's paragraphs, and the cells of tables nested in it (separated by `; `), as one line."""
    parts = []
    for block in blocks(tc):
        if block.tag == f"{{{W}}}tbl":
            parts.append("; ".join(text for tr in _children(block, (_TR,)) for text in _row_texts(tr) if text))
        else:
            parts.append(paragraph_text(block))
    return " ".join(part for part in parts if part)


def _continued(tc: Any) -> bool:
    """A cell that continues a vertical merge: Word shows the merge's first cell only."""
    merge = tc.find(f"{{{W}}}tcPr/{{{W}}}vMerge")
    return merge is not None and merge.get(f"{{{W}}}val", "continue") != "restart"


def _row_texts(tr: Any) -> list[str]:
    return [_cell_text(tc) for tc in _children(tr, (_TC,)) if not _continued(tc)]


def table_markdown(tbl: Any) -> str:
    """A Word table as a Markdown pipe table, cell by cell from the XML (python-docx's grid view raises on
    tables whose rows disagree with the grid, which real files have). A cell spanning columns is followed by
    empty cells; the continuation of a vertically merged cell is empty."""
    rows = []
    for tr in _children(tbl, (_TR,)):
        row: list[str] = []
        for tc in _children(tr, (_TC,)):
            span = tc.find(f"{{{W}}}tcPr/{{{W}}}gridSpan")
            width = int(span.get(f"{{{W}}}val", "1")) if span is not None else 1
            row += ["" if _continued(tc) else _cell_text(tc)] + [""] * (max(width, 1) - 1)
        rows.append(row)
    return markdown_table(rows)


def anchored(p: Any, part: Any, page: int) -> list[Element]:
    """What the paragraph anchors: its text boxes' content, charts, SmartArt and pictures' alt text."""
    depth = _depth(p)
    elements: list[Element] = []
    for box in _BOXES(p, depth=depth):
        for block in blocks(box):
            elements += block_elements(block, part, page, lambda _p: "text")
    for chart in _CHARTS(p, depth=depth):
        rid = chart.get(f"{{{_NS['r']}}}id")
        if rid in part.rels:
            elements += chart_elements(part.rels[rid].target_part.blob, page)
    for ids in _DIAGRAMS(p, depth=depth):
        elements += [Element(text, "list_item", page=page) for text in smartart_text(ids, part)]
    elements += [Element(text, "text", page=page) for text in map(alt_text, _ALT(p, depth=depth)) if text]
    return elements


def block_elements(block: Any, part: Any, page: int, kind_of: Any, label: str = "") -> list[Element]:
    """A paragraph (its text after its list label, if any, then what it anchors) or a table, as elements."""
    if block.tag == f"{{{W}}}tbl":
        text = table_markdown(block)
        return [Element(text, "table", page=page)] if text else []
    text = paragraph_text(block)
    text = f"{label} {text}" if label and text else text
    head = [Element(text, kind_of(block), page=page)] if text else []
    return head + anchored(block, part, page)


def references(p: Any) -> list[tuple[str, str]]:
    """(`footnote` | `endnote` | `comment`, id) of the notes and comments the paragraph references."""
    refs = []
    for ref in _REFERENCES(p, depth=_depth(p)):
        kind = etree.QName(ref).localname.replace("Reference", "")
        refs.append((kind, ref.get(f"{{{W}}}id", "")))
    return refs


def notes(document_part: Any, kind: str) -> dict[str, tuple[Any, list[Any]]]:
    """id -> (the part that holds it, its blocks) of the document's footnotes, endnotes or comments
    (separators left out)."""
    found: dict[str, tuple[Any, list[Any]]] = {}
    for rel in document_part.rels.values():
        if rel.is_external or not rel.reltype.endswith(f"/{kind}s"):
            continue
        root = etree.fromstring(rel.target_part.blob, etree.XMLParser(resolve_entities=False, huge_tree=True))
        for note in root.findall(f"{{{W}}}{kind}"):
            if note.get(f"{{{W}}}type") not in _SEPARATORS:
                found[note.get(f"{{{W}}}id", "")] = (rel.target_part, list(blocks(note)))
    return found
