"""Office formats keep all their text, as text: notes, comments, text boxes, SmartArt, charts, grouped shapes,
spreadsheet cells as shown, Strict OOXML, OpenDocument spreadsheets and presentations; tables are Markdown
pipe tables, never HTML."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import pytest

from docmill.parsers import OPTIONS, ParseError, parse_file
from docmill.parsers.sniff import detect_type
from docmill.samples import make_html
from tests.stages import office_fixtures as fx
from tests.stages import word_fixtures

_OFFICE = {".docx", ".pptx", ".xlsx", ".xls"}


def _text(path: Path, ext: str | None = None) -> str:
    return "\n".join(e.text for e in parse_file(path, ext or path.suffix).elements)


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("office")


def test_html_tables_become_markdown_with_the_html_kept_in_metadata(tmp_path: Path) -> None:
    page = tmp_path / "rates.html"
    page.write_bytes(
        make_html(4).replace(
            b"</body>",
            b"<table><tr><th>City</th><th colspan='2'>Rate | night</th></tr>"
            b"<tr><td>Oslo<br>Bergen</td><td>180</td><td>EUR</td></tr></table></body>",
        )
    )
    tables = [e for e in parse_file(page, ".html").elements if e.kind == "table"]
    assert tables and all("<t" not in e.text and e.text.startswith("| ") for e in tables)
    assert any(e.html and "<td" in e.html for e in tables), "the source structure stays in the metadata"
    assert "| Oslo Bergen | 180 | EUR |" in "\n".join(e.text for e in tables)
    assert "| City | Rate \\| night |  |" in "\n".join(e.text for e in tables)


def test_docx_notes_comments_text_boxes_and_merged_nested_tables(generated: Path) -> None:
    elements = parse_file(fx.word_features_docx(generated), ".docx").elements
    pairs = [(e.kind, e.text) for e in elements]
    text = "\n".join(e.text for e in elements)
    paragraph = pairs.index(("text", "Revenue grew in every region and costs fell."))
    assert pairs[paragraph + 1] == ("footnote", "Footnote: measured in constant currency")
    assert pairs[paragraph + 2] == ("endnote", "Endnote: restructuring charges excluded")
    margin = pairs.index(("text", "The margin reached twelve percent."))
    assert pairs[margin + 1] == ("comment", "Comment: please verify the margin figure")
    assert text.count("Boxed words inside a text frame") == 1, "DrawingML text box read once, not its VML copy"
    assert "<br>" not in text
    table = next(e.text for e in elements if e.kind == "table")
    assert table.splitlines() == [
        "| Region | Spanning header |  |",
        "|---|---|---|",
        "| North\\|East | first line second line | inner one; inner two |",
    ]


def test_docx_vml_only_text_box_is_text(tmp_path: Path) -> None:
    """A text box as Word 97-2003 wrote it (`w:pict` > `v:shape` > `v:textbox` > `w:txbxContent`), with no
    DrawingML choice beside it, is read after the paragraph that anchors it."""
    import docx
    from docx.oxml import parse_xml

    document = docx.Document()
    anchor = document.add_paragraph("The box is anchored here.")
    anchor._p.append(
        parse_xml(
            '<w:r xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main" '
            'xmlns:v="urn:schemas-microsoft-com:vml"><w:pict><v:shape id="box1" style="width:200pt;height:40pt">'
            "<v:textbox><w:txbxContent><w:p><w:r><w:t>Legacy boxed words</w:t></w:r></w:p></w:txbxContent>"
            "</v:textbox></v:shape></w:pict></w:r>"
        )
    )
    document.add_paragraph("After the box.")
    document.save(tmp_path / "vml.docx")
    texts = [e.text for e in parse_file(tmp_path / "vml.docx", ".docx").elements]
    assert texts.count("Legacy boxed words") == 1
    assert texts.index("The box is anchored here.") < texts.index("Legacy boxed words") < texts.index("After the box.")


def _numbered(document: Any, text: str, num_id: int, level: int = 0) -> None:
    from docx.oxml import parse_xml

    paragraph = document.add_paragraph(text)
    w = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
    paragraph._p.get_or_add_pPr().append(
        parse_xml(f'<w:numPr {w}><w:ilvl w:val="{level}"/><w:numId w:val="{num_id}"/></w:numPr>')
    )


def test_docx_numbered_paragraphs_keep_the_labels_word_shows(tmp_path: Path) -> None:
    """`1)`, `a)`, `(ii)` are text a reader sees and cites (unstructured and LibreOffice show them); docmill
    dropped them. Two `w:num` of one list continue it; a `w:startOverride` restarts it; bullets get no label."""
    import docx
    from docx.oxml import parse_xml

    document = docx.Document()
    w = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
    levels = [("decimal", "%1)"), ("lowerLetter", "%2)"), ("lowerRoman", "(%3)"), ("decimal", "%1.%2.%4")]
    lvl = "".join(
        f'<w:lvl w:ilvl="{i}"><w:start w:val="1"/><w:numFmt w:val="{fmt}"/><w:lvlText w:val="{text}"/></w:lvl>'
        for i, (fmt, text) in enumerate(levels)
    )
    numbering = document.part.numbering_part.element
    numbering.append(parse_xml(f'<w:abstractNum {w} w:abstractNumId="90">{lvl}</w:abstractNum>'))
    bullet = '<w:lvl w:ilvl="0"><w:numFmt w:val="bullet"/><w:lvlText w:val="\u2022"/></w:lvl>'
    numbering.append(parse_xml(f'<w:abstractNum {w} w:abstractNumId="91">{bullet}</w:abstractNum>'))
    restart = '<w:lvlOverride w:ilvl="0"><w:startOverride w:val="1"/></w:lvlOverride>'
    for num_id, abstract, extra in ((70, 90, ""), (71, 90, ""), (72, 90, restart), (73, 91, "")):
        numbering.append(
            parse_xml(f'<w:num {w} w:numId="{num_id}"><w:abstractNumId w:val="{abstract}"/>{extra}</w:num>')
        )
    for text, num_id, level in [("Scope", 70, 0), ("Terms", 70, 0), ("Fees", 70, 1), ("Taxes", 70, 1),
                                ("Late fees", 70, 2), ("Interest", 70, 2), ("Penalty", 70, 3), ("Payment", 71, 0),
                                ("Remedies", 70, 1), ("Annex", 72, 0), ("A bullet", 73, 0)]:  # fmt: skip
        _numbered(document, text, num_id, level)
    document.save(tmp_path / "numbered.docx")
    texts = [e.text for e in parse_file(tmp_path / "numbered.docx", ".docx").elements]
    assert texts == ["1) Scope", "2) Terms", "a) Fees", "b) Taxes", "(i) Late fees", "(ii) Interest", "2.b.1 Penalty",
                     "3) Payment", "a) Remedies", "1) Annex", "A bullet"]  # fmt: skip


def test_docx_tracked_insertions_and_content_controls_are_text(generated: Path) -> None:
    texts = [e.text for e in parse_file(word_fixtures.revisions_and_controls_docx(generated), ".docx").elements]
    assert texts == ["Contract value is forty thousand euros per annum", "Signed in Geneva"]


def test_docx_comments_can_be_left_out(generated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = fx.word_features_docx(generated)
    monkeypatch.setitem(OPTIONS, "docx_comments", False)
    text = _text(path)
    assert "The margin reached twelve percent." in text and "please verify" not in text


def test_docx_charts_and_smartart_are_text(generated: Path) -> None:
    elements = parse_file(word_fixtures.chart_and_smartart_docx(generated), ".docx").elements
    assert ("title", "Visitors by city") in [(e.kind, e.text) for e in elements]
    table = next(e.text for e in elements if e.kind == "table")
    assert "| Berlin | 15,200 | 16,750 |" in table and "Visitors 2024" in table
    assert [e.text for e in elements if e.kind == "list_item"] == ["Plan budget", "Hire team", "Ship release"]


def test_strict_ooxml_documents_are_read_not_corrupt(generated: Path) -> None:
    lines = ["Strict conformance policy", "First strict paragraph.", "Second strict paragraph."]
    path = fx.strict_docx(generated, lines)
    converted = fx.convert(path, "txt:Text")  # LibreOffice reads the fixture: it is a valid Strict document
    assert "First strict paragraph." in converted.read_text(encoding="utf-8-sig")
    elements = parse_file(path, ".docx").elements
    assert [(e.kind, e.text) for e in elements] == [("title", lines[0]), ("text", lines[1]), ("text", lines[2])]
    workbook = fx.strict_xlsx(generated, [["Account", "Balance"], ["Escrow", 1500]])
    assert "Escrow" in fx.convert(workbook, "csv").read_text()  # LibreOffice reads it too
    assert "| Escrow | 1500 |" in _text(workbook)


def test_pptx_groups_tables_charts_alt_text_and_notes(generated: Path) -> None:
    elements = parse_file(fx.features_pptx(generated), ".pptx").elements
    by_slide = {page: [(e.kind, e.text) for e in elements if e.page == page] for page in (1, 2)}
    assert ("title", "Regional results") in by_slide[1]
    assert ("text", "Grouped north summary") in by_slide[1] and ("text", "Grouped south summary") in by_slide[1]
    assert ("table", "| Office | Head\\|count |\n|---|---|\n| Lyon | forty five |") in by_slide[1]
    assert ("text", "Speaker note: mention the new office") in by_slide[1]
    assert ("title", "Units sold per quarter") in by_slide[2]
    assert ("text", "Photo of the Lyon office entrance") in by_slide[2]
    chart = next(text for kind, text in by_slide[2] if kind == "table")
    assert chart.splitlines()[0] == "|  | Widgets | Gadgets |" and "| Q2 2024 | 1380.25 | 295 |" in chart


@pytest.fixture(scope="module")
def workbook(generated: Path) -> Path:
    return fx.features_xlsx(generated)


@pytest.mark.parametrize("target", ["xlsx", "xls:MS Excel 97", "ods"])
def test_spreadsheet_cells_as_shown_with_sheet_names_and_charts(workbook: Path, target: str) -> None:
    path = workbook if target == "xlsx" else fx.convert(workbook, target)
    parsed = parse_file(path, path.suffix)
    assert parsed.metadata["sheets"] == ["Budget 2024", "Chart data"]
    assert [e.page for e in parsed.elements if e.kind == "title" and e.text.startswith("Sheet: ")] == [1, 2]
    budget = next(e.text for e in parsed.elements if e.kind == "table" and e.page == 1)
    assert "| Travel | 1,234.50 | 25.6% | 05/03/2024 | 2469 |" in budget.splitlines()
    sheet_two = [(e.kind, e.text) for e in parsed.elements if e.page == 2]
    assert ("title", "Units per quarter") in sheet_two, "the chart's title"
    assert sum(kind == "table" and "| Q2 | 1380 | 295 |" in text for kind, text in sheet_two) == 2, "cells, chart"
    if path.suffix == ".xls":
        assert parsed.parser.endswith("+soffice"), "xlrd reads no charts: this workbook goes through LibreOffice"


def test_xlsx_written_by_a_library_keeps_formulas_and_chart_titles(tmp_path: Path) -> None:
    import openpyxl
    from openpyxl.chart import BarChart, Reference

    book = openpyxl.Workbook()  # openpyxl stores no formula results and no chart caches (never calculated)
    book.active.append(["Net", "Gross"])
    book.active.append([100, "=A2*1.2"])
    chart = BarChart()
    chart.title = "Net against gross"
    chart.add_data(Reference(book.active, min_col=1, max_col=2, min_row=1, max_row=2), titles_from_data=True)
    book.active.add_chart(chart, "D2")  # its part is named by an absolute relationship target
    book.save(tmp_path / "uncalculated.xlsx")
    elements = parse_file(tmp_path / "uncalculated.xlsx", ".xlsx").elements
    assert "| 100 | =A2*1.2 |" in elements[1].text
    assert [(e.kind, e.text) for e in elements[2:]] == [("title", "Net against gross")]


def test_xls_without_charts_is_read_by_xlrd(shared_corpus: Path) -> None:
    parsed = parse_file(shared_corpus / "tests-example.xls", ".xls")
    assert parsed.parser.startswith("xlrd-") and parsed.metadata["sheets"] == ["Example Test", "Format Abbr.", "Readme"]
    assert "| MC | What is 2+2? | 4 | correct | 3 | incorrect |" in parsed.elements[1].text


def test_opendocument_type_comes_from_its_mimetype(workbook: Path, generated: Path) -> None:
    ods = fx.convert(workbook, "ods")
    odp = fx.convert(fx.features_pptx(generated), "odp")
    for path, kind in ((ods, ".ods"), (odp, ".odp")):
        renamed = generated / f"renamed-{kind.lstrip('.')}.odt"
        renamed.write_bytes(path.read_bytes())
        assert detect_type(renamed, ".odt", {".odt", ".ods", ".odp"}) == kind
        assert detect_type(renamed, "", {".odt", ".ods", ".odp"}) == kind
    assert "Sheet: Budget 2024" in _text(ods)
    slides = parse_file(odp, ".odp").elements
    assert ("title", "Units sold per quarter") in [(e.kind, e.text) for e in slides]
    assert ("table", "| Office | Head\\|count |\n|---|---|\n| Lyon | forty five |") in [
        (e.kind, e.text) for e in slides
    ]
    assert "<number>" not in "\n".join(e.text for e in slides), "no slide-number placeholder as text"


def test_ods_rows_inside_row_groups_are_kept(generated: Path) -> None:
    path = fx.outline_ods(generated)
    with zipfile.ZipFile(path) as package:
        assert package.read("content.xml").count(b"<table:table-row-group>") == 2
    assert "| Grouped row | Treasury |" in _text(path)


def test_office_corpus_files_are_extracted_or_have_a_true_reason(shared_corpus: Path) -> None:
    expected = {  # the two presentations hold a picture and no text (their picture's description is its file name)
        "password_protected.xlsx": "encrypted",
        "empty.xlsx": "empty",
        "picture.pptx": "empty",
        "test-image-jpg-mime.pptx": "empty",
    }
    files = [p for p in sorted(shared_corpus.rglob("*")) if p.suffix in _OFFICE | {".odt", ".pptx"}]
    files += [
        p
        for p in sorted((shared_corpus.parent / "markitdown-tests" / "tests" / "test_files").glob("*"))
        if p.suffix in _OFFICE
    ]
    outcomes = {}
    for path in files:
        try:
            outcomes[path.name] = "extracted" if _text(path).strip() else "empty"
        except ParseError as error:
            outcomes[path.name] = error.reason
    wrong = {n: o for n, o in outcomes.items() if o != expected.get(n, "extracted")}
    assert not wrong, wrong


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        ([["a|b", "x"], ["line\none", "  spaced   out "]], "| a\\|b | x |\n|---|---|\n| line one | spaced out |"),
        ([["h1", "", "h3"], ["1"], ["", "", ""]], "| h1 | h3 |\n|---|---|\n| 1 |  |"),
        ([["", ""], [None, " "]], ""),
    ],
)
def test_markdown_table_keeps_every_word_on_one_row(rows: list[list[Any]], expected: str) -> None:
    from docmill.parsers.tables import markdown_table

    assert markdown_table(rows) == expected


@pytest.mark.parametrize(
    ("value", "code", "shown"),
    [
        (1234.5, "#,##0.00", "1,234.50"),
        (-1234.5, '"EUR" #,##0.00', "EUR -1,234.50"),
        (1234.5, "[$€-407]#,##0.00", "€1,234.50"),
        (0.256, "0.0%", "25.6%"),
        (3.0, "General", "3"),
        (0.1 + 0.2, "General", "0.3"),
        (12345.678, "0.00E+00", "1.23E+04"),
        (7.5, "0.00_);[Red](0.00)", "7.50"),
        (True, None, "TRUE"),
        (12.5, 'General" kg"', "12.5 kg"),
        (0.5, "# ?/?", "0.5"),
    ],
)
def test_number_formats_show_values_as_the_spreadsheet_does(value: Any, code: str | None, shown: str) -> None:
    from docmill.parsers.numfmt import shown as show

    assert show(value, code) == shown


def test_date_formats_show_dates_as_the_spreadsheet_does() -> None:
    import datetime as dt

    from docmill.parsers.numfmt import shown

    stamp = dt.datetime(2024, 3, 5, 14, 7, 9)
    assert shown(stamp, "dd/mm/yyyy") == "05/03/2024"
    assert shown(stamp, "mmm d, yyyy") == "Mar 5, 2024"
    assert shown(stamp, "h:mm AM/PM") == "2:07 PM"
    assert shown(stamp, "yyyy-mm-dd hh:mm:ss") == "2024-03-05 14:07:09"
    assert shown(dt.datetime(2024, 3, 5), "General") == "2024-03-05"
