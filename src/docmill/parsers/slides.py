"""PPTX parsing with python-pptx: every slide's shapes in reading order (top to bottom, left to right),
grouped shapes recursively, tables as Markdown, charts (title, series, categories, values), pictures'
alternative text, and the speaker notes. The slide number is each element's page.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

from docmill.parsers import Parsed, ParseError, describe
from docmill.parsers.charts import chart_elements
from docmill.parsers.drawing import alt_text, smartart_text
from docmill.parsers.tables import markdown_table
from docmill.records import Element

_TITLES = {"TITLE", "CENTER_TITLE", "VERTICAL_TITLE", "SUBTITLE"}


def _position(shape: Any) -> tuple[int, int]:
    return (shape.top or 0, shape.left or 0)


def _text_frame(frame: Any, kind: str, page: int) -> list[Element]:
    elements = []
    for paragraph in frame.paragraphs:
        text = " ".join("".join(run.text for run in paragraph.runs).split()) or " ".join(paragraph.text.split())
        if not text:
            continue
        bullet = kind == "text" and (paragraph.level > 0 or paragraph._p.find(".//{*}buChar") is not None)
        level = 1 if kind == "title" else None  # a slide title heads its slide
        elements.append(Element(text, "list_item" if bullet else kind, page=page, level=level))
    return elements


def _alt_text(shape: Any) -> str:
    properties = shape._element.find(".//{*}cNvPr")
    if properties is None:
        return ""
    return alt_text(properties.get("descr") or properties.get("title"))


def _shape_type(shape: Any) -> Any:
    try:
        return shape.shape_type
    except NotImplementedError:  # python-pptx names no type for some shapes (their text is still read)
        return None


def _shape(shape: Any, page: int) -> list[Element]:
    from pptx.enum.shapes import MSO_SHAPE_TYPE, PP_PLACEHOLDER

    if _shape_type(shape) == MSO_SHAPE_TYPE.GROUP:
        return [e for inner in sorted(shape.shapes, key=_position) for e in _shape(inner, page)]
    if getattr(shape, "has_table", False) and shape.has_table:
        rows = [[cell.text for cell in row.cells] for row in shape.table.rows]
        text = markdown_table(rows)
        return [Element(text, "table", page=page)] if text else []
    if getattr(shape, "has_chart", False) and shape.has_chart:
        return chart_elements(shape.chart.part.blob, page)
    diagram = smartart_text(shape._element, shape.part)
    if diagram:
        return [Element(text, "list_item", page=page) for text in diagram]
    elements = []
    if shape.has_text_frame:
        kind = "text"
        if shape.is_placeholder and shape.placeholder_format.type in {getattr(PP_PLACEHOLDER, n) for n in _TITLES}:
            kind = "title"
        elements += _text_frame(shape.text_frame, kind, page)
    if _shape_type(shape) == MSO_SHAPE_TYPE.PICTURE or shape._element.find(".//{*}blipFill") is not None:
        alt = _alt_text(shape)
        if alt:
            elements.append(Element(alt, "text", page=page))
    return elements


def _slides(presentation: Any) -> list[Element]:
    elements: list[Element] = []
    for number, slide in enumerate(presentation.slides, 1):
        for shape in sorted(slide.shapes, key=_position):
            elements += _shape(shape, number)
        if slide.has_notes_slide and slide.notes_slide.notes_text_frame is not None:
            elements += _text_frame(slide.notes_slide.notes_text_frame, "text", number)
    return elements


def parse_pptx(path: Path, ext: str = ".pptx") -> Parsed:
    """Parse a PPTX file.

    Raises:
        ParseError: `encrypted`, `corrupt_office` or `empty`.
    """
    import pptx
    from pptx.exc import PackageNotFoundError

    from docmill.parsers.ooxml import check_container, open_package

    check_container(path, ".pptx")
    try:
        presentation = pptx.Presentation(open_package(path))  # type: ignore[arg-type]
    except (PackageNotFoundError, KeyError, ValueError, AttributeError, zipfile.BadZipFile) as exc:
        raise ParseError("corrupt_office", f"not a readable PPTX: {describe(exc)}") from exc
    try:
        elements = _slides(presentation)
    except (KeyError, ValueError) as exc:  # a relationship to a part the package lacks, an unreadable part
        raise ParseError("corrupt_office", f"unreadable PPTX part: {describe(exc)}") from exc
    if not elements:
        raise ParseError("empty", "the presentation has no text (pictures are not OCRed)")
    props = presentation.core_properties
    metadata: dict[str, Any] = {"pages": len(presentation.slides)}
    for key, value in (("title", props.title), ("author", props.author)):
        if value and value.strip():
            metadata[key] = value.strip()
    return Parsed(elements, metadata, f"python-pptx-{pptx.__version__}")
