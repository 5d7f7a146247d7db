"""DOCX parsing with python-docx and the WordprocessingML itself (`word_xml`): body paragraphs and tables in
document order (through content controls), what paragraphs anchor (text boxes, SmartArt, charts, pictures'
alt text), footnotes, endnotes and (setting `extract.docx_comments`) comments right after the paragraph that
references them, headings, list items, page numbers from Word's rendered page breaks, section headers and
footers, core properties, the labels of numbered paragraphs (`word_numbering`). Strict OOXML packages are
read as Transitional (`ooxml`).

Element kinds come from paragraph styles (`Title`, `Heading N`, `List ...` or numbering) rather than from
unstructured's per-paragraph spaCy classification, which spent 24 of 29 s on an 872-page handbook.
"""

from __future__ import annotations

import zipfile
from functools import partial
from pathlib import Path
from typing import Any

from docmill.parsers import OPTIONS, Parsed, ParseError, describe
from docmill.parsers.word_numbering import Numbering
from docmill.parsers.word_xml import block_elements, blocks, notes, references
from docmill.records import Element


def _kind(paragraph: Any) -> str:
    style = (paragraph.style.name if paragraph.style is not None else "") or ""
    if style == "Title" or style.startswith("Heading"):
        return "title"
    properties = paragraph._p.pPr
    if style.startswith("List") or (properties is not None and properties.numPr is not None):
        return "list_item"
    return "text"


def _style_numbering(paragraph: Any, known: dict[str | None, tuple[str, int] | None]) -> tuple[str, int] | None:
    """(numId, ilvl) a paragraph's style (or a style it is based on) numbers it with, if any; `known` caches
    the answer per style id (python-docx looks a style up by a walk over all styles)."""
    key = paragraph._p.style
    if key not in known:
        known[key] = _style_numbers(paragraph.style)
    return known[key]


def _style_numbers(style: Any) -> tuple[str, int] | None:
    while style is not None:
        num_pr = style.element.pPr.numPr if style.element.pPr is not None else None
        if num_pr is not None and num_pr.numId is not None:
            return str(num_pr.numId.val), int(num_pr.ilvl.val) if num_pr.ilvl is not None else 0
        style = style.base_style
    return None


def _level(paragraph: Any) -> int:
    """A title paragraph's heading level: 0 for the `Title` style, N for `Heading N`, else 1."""
    style = (paragraph.style.name if paragraph.style is not None else "") or ""
    number = style.removeprefix("Heading").strip()
    return 0 if style == "Title" else int(number) if number.isdigit() else 1


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
        pieces = [block_elements(b, part.part, 1, lambda _p: "text") for b in blocks(part._element)]
        text = "\n".join(e.text for piece in pieces for e in piece)  # text boxes and tables (letterheads) too
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


def _open(path: Path) -> Any:
    import docx
    from docx.opc.exceptions import PackageNotFoundError

    from docmill.parsers.ooxml import check_container, open_package

    check_container(path, ".docx")
    try:
        return docx.Document(open_package(path))  # type: ignore[arg-type]
    except (PackageNotFoundError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise ParseError("corrupt_office", f"not a readable DOCX: {describe(exc)}") from exc


def _notes(document: Any) -> dict[tuple[str, str], tuple[Any, list[Any]]]:
    """(kind, id) -> (part, blocks) of the footnotes, endnotes and (if configured) comments."""
    kinds = ["footnote", "endnote"] + (["comment"] if OPTIONS.get("docx_comments", True) else [])
    return {(kind, key): value for kind in kinds for key, value in notes(document.part, kind).items()}


def parse_docx(path: Path, ext: str = ".docx") -> Parsed:
    """Parse a DOCX file (Transitional or Strict).

    Raises:
        ParseError: `encrypted`, `corrupt_office` or `empty`.
    """
    import docx
    from docx.opc.constants import RELATIONSHIP_TYPE as RT
    from docx.text.paragraph import Paragraph

    document = _open(path)
    part = document.part
    rendered = bool(document.element.body.xpath(".//w:lastRenderedPageBreak"))
    attached = _notes(document)
    style_numbers: dict[str | None, tuple[str, int] | None] = {}
    numbering = Numbering(
        part.numbering_part.element if RT.NUMBERING in {r.reltype for r in part.rels.values()} else None
    )
    page = 1
    body: list[Element] = []
    for block in blocks(document.element.body):
        label = ""
        if block.tag.endswith("}p"):
            paragraph = Paragraph(block, document)
            page += _page_breaks(paragraph, rendered)
            label = numbering.paragraph_label(block, partial(_style_numbering, paragraph, style_numbers))
        found = block_elements(block, part, page, lambda p: _kind(Paragraph(p, document)), label)
        if found and found[0].kind == "title" and block.tag.endswith("}p"):
            found[0].level = _level(Paragraph(block, document))
        body += found
        for key in references(block) if block.tag.endswith("}p") else []:
            note_part, note_blocks = attached.pop(key, (None, []))
            for note in note_blocks:
                body += [
                    Element(e.text, key[0] if e.kind == "text" else e.kind, page=page)
                    for e in block_elements(note, note_part, page, lambda _p: "text")
                ]
    for (kind, _), (note_part, note_blocks) in attached.items():  # notes no paragraph references
        for note in note_blocks:
            body += [Element(e.text, kind, page=page) for e in block_elements(note, note_part, page, lambda _p: "text")]
    if not body:
        raise ParseError("empty", "the DOCX has no text in its body")
    elements = _section_parts(document, "header") + body + _section_parts(document, "footer")
    return Parsed(elements, _metadata(document, page), f"python-docx-{docx.__version__}")
