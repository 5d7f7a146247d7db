"""PDF parsing with pymupdf: text blocks per page in reading order, page numbers and document metadata."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pymupdf

from docmill.parsers import OPTIONS, Parsed, ParseError, describe
from docmill.parsers.pdf_headings import Font, block_fonts, font_levels, outline_levels
from docmill.parsers.pdf_tables import PageTable, Word, page_tables
from docmill.parsers.pdf_unruled import unruled_tables
from docmill.records import Element

log = logging.getLogger(__name__)
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


def has_ruled_grid(page: pymupdf.Page) -> bool:
    """Whether the page's straight rules could form a table grid: at least three horizontal and three
    vertical rules, and no more curves and slanted lines than rules (those pages hold figures and charts;
    on the shared corpus none of them held a table). A cheap gate (~1 ms per page) for `find_tables`
    (20-400 ms per page)."""
    horizontal = vertical = other = 0
    for path in page.get_cdrawings():
        for item in path.get("items", ()):
            if item[0] == "l":
                (x0, y0), (x1, y1) = item[1], item[2]
                horizontal += abs(y0 - y1) < 1
                vertical += abs(x0 - x1) < 1
                other += abs(y0 - y1) >= 1 and abs(x0 - x1) >= 1
            elif item[0] == "re":
                rect = pymupdf.Rect(item[1])
                horizontal += 2 if rect.height >= 3 else 1
                vertical += 2 if rect.width >= 3 else 0
            else:
                other += 1
    return horizontal >= 3 and vertical >= 3 and other <= horizontal + vertical


def _page_elements(page: pymupdf.Page, fonts: bool = False) -> tuple[list[Element], list[Font | None]]:
    """Text blocks with their vertical position (so repeated headers and footers can be found later), and with
    `fonts` each element's dominant font (None for tables).

    Ruled tables (when `pdf_tables` is on, the page passes `has_ruled_grid` and the grid passes the checks of
    `pdf_tables`) become one `table` element in Markdown each, where the first block holding their words stood;
    the words of a block outside every table stay in that block's text."""
    number = page.number + 1
    placed = _placer(page)
    textpage = page.get_textpage(flags=pymupdf.TEXTFLAGS_TEXT)
    blocks = page.get_text("blocks", sort=False, textpage=textpage)
    block_font = block_fonts(page, textpage) if fonts else {}
    tables: list[PageTable] = []
    words: list[Word] = []
    if OPTIONS.get("pdf_tables", True):
        words = page.get_text("words", sort=False, textpage=textpage)
        try:
            tables = page_tables(page, words) if has_ruled_grid(page) else []
            tables += unruled_tables(page, words, set().union(*(t.words for t in tables)))
        except Exception as exc:  # the table finder failing on a drawing must not lose the page: plain text stays
            log.warning("page %d: table detection failed (%s: %s), kept as text", number, type(exc).__name__, exc)
    pending = {
        i: placed(t.markdown, "table", _union([w for w in words if w[5:8] in t.words])) for i, t in enumerate(tables)
    }
    held = set().union(*(t.words for t in tables))
    by_block: dict[int, list[Word]] = {}
    for word in words if tables else ():
        by_block.setdefault(word[5], []).append(word)
    elements: list[Element] = []
    found: list[Font | None] = []
    for block in blocks:
        text = block[4].strip() if block[6] == 0 else ""  # block[6] == 1: an image block
        if not text:
            continue
        mine = by_block.get(block[5], [])
        if any(w[5:8] in held for w in mine):
            keys = {w[5:8] for w in mine}
            done = [pending.pop(i) for i, t in enumerate(tables) if i in pending and not t.words.isdisjoint(keys)]
            elements, found = elements + done, found + [None] * len(done)
            text = _words_text([w for w in mine if w[5:8] not in held])
            if not text:
                continue
        kind = "title" if _looks_like_title(text) else "text"
        elements.append(placed(text, kind, pymupdf.Rect(block[:4])))
        found.append(block_font.get(block[5]))
    return elements + list(pending.values()), found + [None] * len(pending)


def _placer(page: pymupdf.Page) -> Callable[[str, str, pymupdf.Rect], Element]:
    """An element of the page at a rectangle; its `top` and `bottom` are the rectangle's, as a share of the
    page's height as shown: text coordinates are in the unrotated page, so on a page with `/Rotate` (a
    landscape table printed on a portrait sheet) the rectangle is turned into the displayed frame first."""
    height = page.rect.height or 1.0
    turn = page.rotation_matrix

    def placed(text: str, kind: str, rect: pymupdf.Rect) -> Element:
        turned = rect * turn
        # glyphs may stick out of the page (a line set to the very edge): a position is on the page, 0 to 1
        top, bottom = (round(min(max(y / height, 0.0), 1.0), 4) for y in (turned.y0, turned.y1))
        return Element(text, kind, page.number + 1, top=top, bottom=bottom)

    return placed


def _union(words: list[Word]) -> pymupdf.Rect:
    """The rectangle around words, in the text layer's (unrotated) frame: a table's position on the page (the
    table finders' own rectangles may be in the displayed frame, see `pdf_tables._found_tables`)."""
    rect = pymupdf.Rect(words[0][:4]) if words else pymupdf.Rect()
    for word in words[1:]:
        rect |= pymupdf.Rect(word[:4])
    return rect


def _words_text(words: list[Word]) -> str:
    """Words of one block as text: a line per text line, words one space apart."""
    lines: dict[int, list[str]] = {}
    for word in sorted(words, key=lambda w: w[5:8]):
        lines.setdefault(word[6], []).append(word[4])
    return "\n".join(" ".join(line) for line in lines.values())


def _outline(doc: pymupdf.Document) -> list[list[Any]]:
    """The document's outline (`[level, title, page]` entries), empty when it has none or it cannot be read."""
    try:
        return [entry for entry in doc.get_toc(simple=True) if str(entry[1]).strip()]
    except Exception as exc:  # a damaged outline must not lose the document: font sizes decide then
        log.warning("outline unreadable (%s), heading levels from font sizes", describe(exc))
        return []


def _ocr_page(page: pymupdf.Page, dpi: int = 300) -> tuple[list[Element], float]:
    from docmill.parsers.ocr import ocr_png

    result = ocr_png(page.get_pixmap(dpi=dpi).tobytes("png"))
    return [Element(text, "text", page=page.number + 1) for text in result.paragraphs], result.confidence


def parse_pdf(path: Path, ext: str = ".pdf") -> Parsed:
    """Text blocks of every page (1-based page numbers); short single-line blocks are marked as titles, with
    heading levels from the outline or the font sizes (`pdf_headings`).

    Pages without a usable text layer but with images are OCRed with Tesseract (when `ocr` is on); the
    metadata lists them with Tesseract's mean word confidence per page.

    Raises:
        ParseError: `corrupt_pdf`, `encrypted`, `no_text_layer` (OCR off), `missing_dependency:tesseract`,
            `no_text_found`.
    """
    try:
        doc = pymupdf.open(path, filetype="pdf")
    except Exception as exc:
        raise ParseError("corrupt_pdf", f"pymupdf cannot open the file: {describe(exc)}") from exc
    with doc:
        if doc.needs_pass:
            raise ParseError("encrypted", "PDF requires a password")
        if doc.page_count == 0:
            raise ParseError("corrupt_pdf", "no readable page (damaged or truncated file)")
        elements: list[Element] = []
        fonts: list[Font | None] = []
        ocr: dict[int, float] = {}
        missing_ocr: ParseError | None = None
        toc = _outline(doc)
        for page in doc.pages():
            try:
                found, found_fonts = _page_elements(page, fonts=not toc)
                scanned = sum(len(e.text) for e in found) < 10 and bool(page.get_images())
                if scanned and OPTIONS.get("ocr", True):
                    try:
                        found, ocr[page.number + 1] = _ocr_page(page)
                        found_fonts = [None] * len(found)
                    except ParseError as exc:
                        missing_ocr = exc
            except Exception as exc:  # a damaged page object (its text, its image list or its rendering)
                raise ParseError("corrupt_pdf", f"page {page.number + 1} unreadable: {describe(exc)}") from exc
            elements += found
            fonts += found_fonts
        if not elements:
            if missing_ocr:
                raise missing_ocr
            if not OPTIONS.get("ocr", True):
                raise ParseError("no_text_layer", f"{doc.page_count} page(s) without a text layer and OCR is off")
            raise ParseError("no_text_found", f"{doc.page_count} page(s): no text layer and OCR found no text")
        if toc:
            outline_levels(elements, toc)
        else:
            font_levels(elements, fonts)
        meta = _metadata(doc)
        if ocr:
            meta.update({"ocr": True, "ocr_confidence": {p: round(c, 1) for p, c in ocr.items()}})
        return Parsed(elements, meta, f"pymupdf-{pymupdf.VersionBind}")
