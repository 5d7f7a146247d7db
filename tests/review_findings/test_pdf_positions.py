"""Hostile review of 8e94715/58ead4b (PDF element `top`/`bottom` as shown on pages with `/Rotate`).

Ground truth is the rendered page: the rows holding ink in `get_pixmap` are where a reader sees the text.
Tests "Found by review" assert what the reviewer expected and failed on the reviewed code (findings, fixed since)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pymupdf
import pytest

from docmill.parsers import OPTIONS
from docmill.parsers.pdf import parse_pdf

CORPUS = Path(__file__).resolve().parents[2] / ".." / "shared" / "corpus" / "pdfplumber-tests" / "tests" / "pdfs"


@pytest.fixture(autouse=True)
def _no_ocr() -> Iterator[None]:
    before = dict(OPTIONS)
    OPTIONS["ocr"] = False
    yield
    OPTIONS.clear()
    OPTIONS.update(before)


def _page(doc: pymupdf.Document, rotation: int, crop: tuple[float, ...] | None) -> None:
    page = doc.new_page(width=612, height=792)
    page.insert_text((72, 60), "HEADMARK words here for a block", fontsize=12)
    page.insert_text((72, 760), "FOOTMARK words here for a block", fontsize=12)
    if crop:
        page.set_cropbox(pymupdf.Rect(*crop))
    page.set_rotation(rotation)


def _ink(page: pymupdf.Page) -> tuple[float, float]:
    pix = page.get_pixmap(dpi=72, colorspace=pymupdf.csGRAY)
    rows = [y for y in range(pix.height) if min(pix.samples[y * pix.width : (y + 1) * pix.width]) < 128]
    return rows[0] / pix.height, (rows[-1] + 1) / pix.height


def test_positions_match_the_rendered_page_for_every_rotation_and_crop_offset(tmp_path: Path) -> None:
    """Checked, right: rotations 0/90/180/270, with and without a CropBox offset, mixed in one document: the span
    of the page's elements matches the rows of ink of the rendered page (within 2 % of the height)."""
    doc = pymupdf.open()
    specs = [(r, c) for r in (0, 90, 180, 270) for c in (None, (50, 30, 562, 780), (10, 20, 600, 790))]
    for rotation, crop in specs:
        _page(doc, rotation, crop)
    path = tmp_path / "rotations.pdf"
    doc.save(path)
    elements = parse_pdf(path).elements
    shown = pymupdf.open(path)
    for page in shown.pages():
        mine = [e for e in elements if e.page == page.number + 1]
        top, bottom = min(e.top for e in mine), max(e.bottom for e in mine)
        ink_top, ink_bottom = _ink(page)
        assert abs(top - ink_top) < 0.02 and abs(bottom - ink_bottom) < 0.02, (specs[page.number], top, bottom)


@pytest.mark.parametrize("rotation", [0, 180])
def test_text_straddling_the_page_edge_stays_within_0_and_1(tmp_path: Path, rotation: int) -> None:
    """Found by review (low): a line whose glyph boxes cross the (crop) edge gets `bottom` 1.0126 (rotation 0) or,
    turned, `top` -0.0126 (rotation 180): positions are not clamped to the page, so `0 <= top <= bottom <= 1`
    (records.Element: 0 = top edge, 1 = bottom edge) does not hold."""
    doc = pymupdf.open()
    page = doc.new_page(width=612, height=792)
    page.insert_text((72, 100), "INSIDE words of a visible block of text", fontsize=12)
    page.insert_text((72, 785), "EDGE words straddling the bottom edge", fontsize=14)
    page.set_cropbox(pymupdf.Rect(0, 50, 612, 780))
    page.set_rotation(rotation)
    path = tmp_path / "edge.pdf"
    doc.save(path)
    bad = [(e.text[:10], e.top, e.bottom) for e in parse_pdf(path).elements if not 0 <= e.top <= e.bottom <= 1]
    assert not bad


@pytest.mark.parametrize("name", ["issue-33-lorem-ipsum.pdf", "pr-136-example.pdf"])
def test_corpus_positions_stay_within_0_and_1(name: str) -> None:
    """Found by review (low, not caused by the rotation change: both pages have /Rotate 0): of the born-digital PDFs
    of ../shared/corpus (96 files scanned, OCR off), these two have elements with `bottom` > 1 (page numbers at
    the very bottom edge: 1.0044; a block on page 6: 1.0066). Every other PDF, including the four with /Rotate
    90/270 (one with a CropBox offset of 14 pt), satisfies `0 <= top <= bottom <= 1`."""
    path = CORPUS / name
    if not path.exists():
        pytest.skip("corpus not available")
    bad = [(e.page, e.top, e.bottom) for e in parse_pdf(path).elements if not 0 <= e.top <= e.bottom <= 1]
    assert not bad
