"""Text fidelity: nothing of the source text is lost, and structure comes out in reading order."""

import re
from collections import Counter
from pathlib import Path

import pymupdf
import pytest

from docmill.parsers import OPTIONS, ParseError, parse_file
from docmill.samples import make_docx, make_html, make_pdf, make_pptx, paragraphs


def _chars(text: str) -> Counter[str]:
    return Counter(re.sub(r"\s+", "", text))


def test_born_digital_pdfs_keep_99_percent_of_raw_pymupdf_text(shared_corpus: Path) -> None:
    checked = 0
    for path in sorted((shared_corpus / "pdf").glob("*.pdf")):
        try:
            parsed = parse_file(path, ".pdf")
        except ParseError:
            continue  # encrypted: covered elsewhere
        if parsed.metadata.get("ocr"):
            continue  # scans have no raw text layer to compare with
        with pymupdf.open(path) as doc:
            raw = _chars("".join(page.get_text() for page in doc))
        ours = _chars("".join(e.text for e in parsed.elements))
        covered = sum(min(n, ours[c]) for c, n in raw.items()) / max(sum(raw.values()), 1)
        assert covered >= 0.99, f"{path.name}: {covered:.3%}"
        checked += 1
    assert checked >= 25


def _in_order(text: str, expected: list[str]) -> None:
    positions = []
    for item in expected:
        assert item in text, f"missing: {item!r}"
        positions.append(text.index(item, positions[-1] if positions else 0))
    assert positions == sorted(positions)


def _parsed_text(folder: Path, name: str, data: bytes) -> str:
    """Write a generated file, parse it, and join its elements' text."""
    (folder / name).write_bytes(data)
    return "\n".join(e.text for e in parse_file(folder / name, Path(name).suffix).elements)


def _sections(title: str, heading: str, body: list[str]) -> list[str]:
    """A title, then for each paragraph its numbered heading and the paragraph (as the sample generators write)."""
    expected = [title]
    for number, paragraph in enumerate(body, 1):
        expected += [heading.format(number=number), paragraph]
    return expected


def test_generated_docx_keeps_headings_paragraphs_lists_and_cells_in_order(tmp_path: Path) -> None:
    text = _parsed_text(tmp_path, "policy.docx", make_docx(3))
    expected = _sections("Information Security Policy", "{number}. Scope of rule {number}", paragraphs(3, 4))
    expected += [
        "Lock your screen",
        "Report phishing",
        "Use the password manager",
        "Asset",
        "Owner",
        "Laptop",
        "IT",
        "Badge",
        "Facilities",
    ]
    _in_order(text, expected)


def test_generated_pptx_keeps_titles_bullets_and_notes(tmp_path: Path) -> None:
    (tmp_path / "deck.pptx").write_bytes(make_pptx(4))
    elements = parse_file(tmp_path / "deck.pptx", ".pptx").elements
    for number, paragraph in enumerate(paragraphs(4, 3, 2), 1):
        slide = "\n".join(e.text for e in elements if e.page == number)
        _in_order(slide, [f"Quarterly review, part {number}", paragraph])
        assert f"Speaker note {number}" in slide


def test_generated_html_keeps_content_in_order_and_drops_scripts(tmp_path: Path) -> None:
    text = _parsed_text(tmp_path, "page.html", make_html(5))
    expected = _sections("Travel Rules", "Topic {number}", paragraphs(5, 3))
    _in_order(text, [*expected, "Book through the portal", "Keep all receipts", "Hotel", "150 EUR"])
    assert "tracking" not in text and "font-family" not in text


def test_pdf_blocks_keep_their_position_for_header_and_footer_detection(tmp_path: Path) -> None:
    doc = pymupdf.open()
    for number in range(1, 4):
        page = doc.new_page()
        page.insert_text((72, 40), "ACME Corp - Confidential", fontsize=9)
        page.insert_textbox(pymupdf.Rect(72, 100, 520, 700), paragraphs(number, 1)[0], fontsize=11)
        page.insert_text((290, 815), f"Page {number} of 3", fontsize=9)
    doc.save(tmp_path / "paged.pdf")
    elements = parse_file(tmp_path / "paged.pdf", ".pdf").elements
    headers = [e for e in elements if e.text == "ACME Corp - Confidential"]
    footers = [e for e in elements if e.text.startswith("Page ")]
    assert len(headers) == len(footers) == 3
    assert all(e.top is not None and e.top < 0.06 for e in headers)
    assert all(e.bottom is not None and e.bottom > 0.95 for e in footers)
    body = [e for e in elements if e not in headers + footers]
    assert all(0.1 < (e.top or 0) < 0.9 for e in body)


TABLE = [["Asset", "Owner", "Cost"], ["Laptop", "IT", "1200"], ["Badge", "Facilities", "15"]]


def test_ruled_pdf_table_is_one_markdown_element_in_reading_order(tmp_path: Path) -> None:
    (tmp_path / "assets.pdf").write_bytes(make_pdf("Assets", 5, 2, TABLE))
    elements = parse_file(tmp_path / "assets.pdf", ".pdf").elements
    tables = [e for e in elements if e.kind == "table"]
    assert [t.text for t in tables] == ["|Asset|Owner|Cost|\n|---|---|---|\n|Laptop|IT|1200|\n|Badge|Facilities|15|"]
    assert tables[0].page == 2 and tables[0].top is not None
    assert elements[-1] is tables[0], "the table follows the prose above it"
    assert not any("Laptop" in e.text for e in elements if e.kind != "table"), "cells are not repeated as text"


def test_pdf_tables_can_be_switched_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(OPTIONS, "pdf_tables", False)
    (tmp_path / "assets.pdf").write_bytes(make_pdf("Assets", 5, 2, TABLE))
    elements = parse_file(tmp_path / "assets.pdf", ".pdf").elements
    assert not [e for e in elements if e.kind == "table"]
    assert "Laptop" in " ".join(e.text for e in elements)


def test_corpus_pdf_tables_keep_their_rows_together(shared_corpus: Path) -> None:
    elements = parse_file(shared_corpus / "pdf/layout-parser-paper-with-table.pdf", ".pdf").elements
    tables = [e for e in elements if e.kind == "table"]
    assert len(tables) == 1
    for name in ("PubLayNet", "PRImA", "Newspaper", "TableBank", "HJDataset"):
        assert name in tables[0].text
    korean = parse_file(shared_corpus / "pdf/korean-text-with-tables.pdf", ".pdf").elements
    assert sum(e.kind == "table" for e in korean) == 2
    assert any("이마트" in e.text for e in korean if e.kind == "table")
    boxed_layout = parse_file(shared_corpus / "pdf/list-item-example.pdf", ".pdf").elements
    assert not [e for e in boxed_layout if e.kind == "table"], "boxes around prose are not tables"


def test_docx_structure_tables_headers_and_pages(shared_corpus: Path) -> None:
    tables = [e.text for e in parse_file(shared_corpus / "docx-tables.docx", ".docx").elements if e.kind == "table"]
    assert tables[0] == "| Header Col 1 | Header Col 2 |\n|---|---|\n| Lorem ipsum | A link example |"
    assert "| d | e; f; g&t; h | i |" in tables[1], "a nested table stays inside its cell"
    merged = parse_file(shared_corpus / "grid_offset_error.docx", ".docx").elements  # rows disagree with the grid
    assert merged[0].text.startswith("| A | Merged B1-B3 |")
    kinds = [(e.kind, e.text) for e in parse_file(shared_corpus / "docx-hdrftr.docx", ".docx").elements]
    assert kinds == [  # tables in headers and footers are kept; a merged cell's hidden continuation is not
        ("header", "First header para\n| Table cell1 | Table cell2 |\n|---|---|\nLast header para"),
        ("text", "Main document"),
        ("footer", "para1\n| cell1 | a b; c; d; e f |\n|---|---|\npara2"),
    ]
    levels = parse_file(shared_corpus / "category-level.docx", ".docx").elements
    assert [e.text for e in levels if e.kind == "title"] == ["A Heading 1", "A Heading 2", "Another Heading 1"]
    assert sum(e.kind == "list_item" for e in levels) == 4
    pages = parse_file(shared_corpus / "handbook-1p.docx", ".docx")
    assert pages.metadata["pages"] == 2 and pages.elements[-2].page == 2  # Word's rendered page break
