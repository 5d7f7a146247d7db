"""DrawingML charts (`c:chartSpace` parts of DOCX, PPTX and XLSX files, Transitional or Strict): the title,
axis titles, series names, category labels and values, from the values cached in the chart part itself.

A chart becomes a `title` element (its title) and a `table` element: one row per category, one column per
series, values shown with the series' number format.
"""

from __future__ import annotations

from typing import Any

from docmill.parsers.numfmt import shown
from docmill.parsers.tables import markdown_table
from docmill.records import Element

_AXIS_TITLES = "./*/*[contains('catAx valAx dateAx serAx', local-name())]/*[local-name()='title']"


def _text(node: Any) -> str:
    """Rich text (`a:t` runs, paragraph by paragraph) or a cached string reference."""
    paragraphs = [" ".join("".join(t.text or "" for t in p.iter("{*}t")).split()) for p in node.iter("{*}p")]
    if any(paragraphs):
        return " ".join(p for p in paragraphs if p)
    return " ".join(v.text.strip() for v in node.iter("{*}v") if v.text and v.text.strip())


def _points(node: Any | None) -> dict[int, str]:
    """idx -> shown value of a cache (`c:strCache`, `c:numCache`, multi-level labels joined by ` / `)."""
    if node is None:
        return {}
    levels: dict[int, list[str]] = {}
    for cache in node.iter("{*}strCache", "{*}numCache", "{*}lvl"):
        code_node = cache.find("{*}formatCode")
        code = code_node.text if code_node is not None else None
        for pt in cache.findall("{*}pt"):
            value = pt.findtext("{*}v") or ""
            pt_code = pt.get("formatCode") or code
            try:
                text = shown(float(value), pt_code) if cache.tag.endswith("numCache") else value
            except ValueError:
                text = value
            levels.setdefault(int(pt.get("idx", "0")), []).append(text.strip())
    return {idx: " / ".join(v for v in reversed(values) if v) for idx, values in levels.items()}


def chart_elements(xml: bytes, page: int | None = None) -> list[Element]:
    """The elements of one chart part (empty when it holds no text)."""
    from lxml import etree

    root = etree.fromstring(xml, etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True))
    elements: list[Element] = []
    chart = root.find("{*}chart")
    if chart is None:
        return elements
    title = chart.find("{*}title")
    if title is not None and _text(title):
        elements.append(Element(_text(title), "title", page=page))
    axes = [_text(axis) for axis in chart.xpath(_AXIS_TITLES)]
    if any(axes):
        elements.append(Element("Axes: " + ", ".join(a for a in axes if a), "text", page=page))
    names: list[str] = []
    columns: list[dict[int, str]] = []
    categories: dict[int, str] = {}
    for index, series in enumerate(chart.iter("{*}ser"), 1):
        tx = series.find("{*}tx")
        names.append((_text(tx) if tx is not None else "") or f"Series {index}")
        columns.append(_points(series.find("{*}val")) or _points(series.find("{*}yVal")))
        categories = categories or _points(series.find("{*}cat")) or _points(series.find("{*}xVal"))
    if not names or not (categories or any(columns)):  # no cached values (a chart never drawn): title only
        return elements
    count = max([len(categories)] + [max(c, default=-1) + 1 for c in columns])
    rows = [["", *names]] + [[categories.get(i, "")] + [c.get(i, "") for c in columns] for i in range(count)]
    table = markdown_table(rows)
    if table:
        elements.append(Element(table, "table", page=page))
    return elements
