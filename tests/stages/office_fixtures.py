"""Office documents generated for the extraction tests: written with python-docx, python-pptx and openpyxl,
or as flat OpenDocument XML that LibreOffice converts (it writes footnotes, comments, text boxes with their
VML fallback, formulas' cached values and chart caches the way office suites do)."""

from __future__ import annotations

import datetime as dt
import io
import os
import shutil
import subprocess
from pathlib import Path

import pytest

FODT = """<?xml version="1.0" encoding="UTF-8"?>
<office:document xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0"
 xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"
 xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0"
 xmlns:draw="urn:oasis:names:tc:opendocument:xmlns:drawing:1.0"
 xmlns:svg="urn:oasis:names:tc:opendocument:xmlns:svg-compatible:1.0"
 xmlns:dc="http://purl.org/dc/elements/1.1/"
 office:version="1.3" office:mimetype="application/vnd.oasis.opendocument.text">
 <office:body><office:text>
  <text:h text:outline-level="1">Quarterly review</text:h>
  <text:p>Revenue grew in every region<text:note text:id="n1" text:note-class="footnote"
   ><text:note-citation>1</text:note-citation><text:note-body
   ><text:p>Footnote: measured in constant currency</text:p></text:note-body></text:note> and
   costs fell<text:note text:id="n2" text:note-class="endnote"><text:note-citation>i</text:note-citation>
   <text:note-body><text:p>Endnote: restructuring charges excluded</text:p></text:note-body></text:note>.</text:p>
  <text:p><office:annotation><dc:creator>Reviewer</dc:creator>
   <text:p>Comment: please verify the margin figure</text:p></office:annotation>The margin reached twelve
   percent.</text:p>
  <text:p>Anchor paragraph for the box.<draw:frame draw:name="Box" text:anchor-type="paragraph"
   svg:width="6cm" svg:height="2cm" svg:x="1cm" svg:y="1cm">
   <draw:text-box><text:p>Boxed words inside a text frame</text:p></draw:text-box></draw:frame></text:p>
  <table:table table:name="Merged">
   <table:table-column table:number-columns-repeated="3"/>
   <table:table-row><table:table-cell><text:p>Region</text:p></table:table-cell>
    <table:table-cell table:number-columns-spanned="2"><text:p>Spanning header</text:p></table:table-cell>
    <table:covered-table-cell/></table:table-row>
   <table:table-row><table:table-cell><text:p>North|East</text:p></table:table-cell>
    <table:table-cell><text:p>first line<text:line-break/>second line</text:p></table:table-cell>
    <table:table-cell><table:table table:name="Inner"><table:table-column table:number-columns-repeated="2"/>
     <table:table-row><table:table-cell><text:p>inner one</text:p></table:table-cell>
      <table:table-cell><text:p>inner two</text:p></table:table-cell></table:table-row>
    </table:table></table:table-cell></table:table-row>
  </table:table>
 </office:text></office:body>
</office:document>
"""


def soffice_or_skip() -> None:
    """Skip (locally) or fail (CI) when LibreOffice is missing."""
    if shutil.which("soffice") is None:
        message = "LibreOffice (soffice) is not installed; scripts/install.sh installs it as root"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


def convert(source: Path, target: str) -> Path:
    """Convert with LibreOffice (`target` as soffice's --convert-to takes it); returns the new file."""
    soffice_or_skip()
    profile = source.parent / "lo-profile"
    subprocess.run(
        [
            "soffice",
            f"-env:UserInstallation={profile.as_uri()}",
            "--headless",
            "--norestore",
            "--convert-to",
            target,
            "--outdir",
            str(source.parent / "converted"),
            str(source),
        ],
        capture_output=True,
        timeout=180,
        check=True,
    )
    return source.parent / "converted" / f"{source.stem}.{target.split(':')[0]}"


def word_features_docx(folder: Path) -> Path:
    """A DOCX with a footnote, an endnote, a comment, a text box (DrawingML + VML fallback) and a table with
    a merged header, a `|`, a line break and a nested table (written by LibreOffice from flat ODF)."""
    source = folder / "features.fodt"
    source.write_text(FODT, encoding="utf-8")
    return convert(source, "docx:MS Word 2007 XML")


_STRICT = [  # Transitional -> Strict namespaces (ISO/IEC 29500-1, Annex A): what Word's "Strict Open XML" writes
    (
        "http://schemas.openxmlformats.org/wordprocessingml/2006/main",
        "http://purl.oclc.org/ooxml/wordprocessingml/main",
    ),
    (
        "http://schemas.openxmlformats.org/officeDocument/2006/relationships",
        "http://purl.oclc.org/ooxml/officeDocument/relationships",
    ),
    ("http://schemas.openxmlformats.org/drawingml/2006/main", "http://purl.oclc.org/ooxml/drawingml/main"),
    ("http://schemas.openxmlformats.org/spreadsheetml/2006/main", "http://purl.oclc.org/ooxml/spreadsheetml/main"),
    (
        "http://schemas.openxmlformats.org/officeDocument/2006/extended-properties",
        "http://purl.oclc.org/ooxml/officeDocument/extendedProperties",
    ),
]


def strict(source: Path) -> Path:
    """A Strict-conformance copy of a Transitional package: its parts renamed into the Strict namespaces and
    relationship types, the conformance attribute set."""
    import zipfile

    path = source.with_name(f"strict-{source.name}")
    with zipfile.ZipFile(source) as package, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target:
        for member in package.infolist():
            data = package.read(member)
            if member.filename.endswith((".xml", ".rels")):
                text = data.decode("utf-8")
                for transitional, strict_name in _STRICT:
                    text = text.replace(transitional, strict_name)
                text = text.replace("<w:document ", '<w:document w:conformance="strict" ', 1)
                text = text.replace("<workbook ", '<workbook conformance="strict" ', 1)
                data = text.encode("utf-8")
            target.writestr(member, data)
    return path


def strict_docx(folder: Path, lines: list[str]) -> Path:
    """A Strict DOCX: python-docx writes it Transitional, `strict` renames it."""
    import docx

    document = docx.Document()
    document.add_heading(lines[0], level=1)
    for line in lines[1:]:
        document.add_paragraph(line)
    document.save(folder / "lines.docx")
    return strict(folder / "lines.docx")


def strict_xlsx(folder: Path, rows: list[list[object]]) -> Path:
    """A Strict XLSX: openpyxl writes it Transitional, `strict` renames it."""
    import openpyxl

    book = openpyxl.Workbook()
    book.active.title = "Strict sheet"
    for row in rows:
        book.active.append(row)
    book.save(folder / "rows.xlsx")
    return strict(folder / "rows.xlsx")


def _png() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (40, 20), (200, 30, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


def features_pptx(folder: Path) -> Path:
    """A PPTX with a grouped pair of text boxes, a table (a `|` and a line break in cells), a bar chart
    (title, two series, categories), a picture with alternative text, and speaker notes."""
    import pptx
    from pptx.chart.data import CategoryChartData
    from pptx.enum.chart import XL_CHART_TYPE
    from pptx.util import Inches

    presentation = pptx.Presentation()
    slide = presentation.slides.add_slide(presentation.slide_layouts[5])
    slide.shapes.title.text = "Regional results"
    group = slide.shapes.add_group_shape()
    group.shapes.add_textbox(Inches(1), Inches(2), Inches(3), Inches(1)).text_frame.text = "Grouped north summary"
    group.shapes.add_textbox(Inches(1), Inches(3), Inches(3), Inches(1)).text_frame.text = "Grouped south summary"
    table = slide.shapes.add_table(2, 2, Inches(5), Inches(2), Inches(4), Inches(1)).table
    for (r, c), text in {(0, 0): "Office", (0, 1): "Head|count", (1, 0): "Lyon", (1, 1): "forty\nfive"}.items():
        table.cell(r, c).text = text
    slide.notes_slide.notes_text_frame.text = "Speaker note: mention the new office"
    chart_slide = presentation.slides.add_slide(presentation.slide_layouts[5])
    chart_slide.shapes.title.text = "Sales chart"
    data = CategoryChartData()
    data.categories = ["Q1 2024", "Q2 2024"]
    data.add_series("Widgets", (1250.5, 1380.25))
    data.add_series("Gadgets", (310, 295))
    kind = XL_CHART_TYPE.COLUMN_CLUSTERED
    frame = chart_slide.shapes.add_chart(kind, Inches(1), Inches(2), Inches(6), Inches(4), data)
    frame.chart.has_title = True
    frame.chart.chart_title.text_frame.text = "Units sold per quarter"
    picture = chart_slide.shapes.add_picture(io.BytesIO(_png()), Inches(8), Inches(1))
    picture._element.nvPicPr.cNvPr.set("descr", "Photo of the Lyon office entrance")
    path = folder / "features.pptx"
    presentation.save(path)
    return path


def features_xlsx(folder: Path) -> Path:
    """An XLSX written by openpyxl (a date, formatted numbers, a formula, a bar chart on a second sheet),
    then saved by LibreOffice, which stores the formula's result and the chart's cached values as Excel does."""
    import openpyxl
    from openpyxl.chart import BarChart, Reference

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Budget 2024"
    sheet.append(["Item", "Amount", "Share", "Booked", "Double"])
    sheet.append(["Travel", 1234.5, 0.256, dt.datetime(2024, 3, 5), "=B2*2"])
    sheet["B2"].number_format = "#,##0.00"
    sheet["C2"].number_format = "0.0%"
    sheet["D2"].number_format = "dd/mm/yyyy"
    data = book.create_sheet("Chart data")
    for row in (["Quarter", "Widgets", "Gadgets"], ["Q1", 1250, 310], ["Q2", 1380, 295]):
        data.append(row)
    chart = BarChart()
    chart.title = "Units per quarter"
    chart.add_data(Reference(data, min_col=2, max_col=3, min_row=1, max_row=3), titles_from_data=True)
    chart.set_categories(Reference(data, min_col=1, min_row=2, max_row=3))
    data.add_chart(chart, "E2")
    path = folder / "source" / "features.xlsx"
    path.parent.mkdir(exist_ok=True)
    book.save(path)
    return convert(path, "xlsx:Calc MS Excel 2007 XML")


FODS = """<?xml version="1.0" encoding="UTF-8"?>
<office:document xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0"
 xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"
 xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0"
 office:version="1.3" office:mimetype="application/vnd.oasis.opendocument.spreadsheet">
 <office:body><office:spreadsheet><table:table table:name="Outline">
  <table:table-column table:number-columns-repeated="2"/>
  <table:table-row><table:table-cell office:value-type="string"><text:p>Account</text:p></table:table-cell>
   <table:table-cell office:value-type="string"><text:p>Owner</text:p></table:table-cell></table:table-row>
  <table:table-row-group><table:table-row-group>
   <table:table-row><table:table-cell office:value-type="string"><text:p>Grouped row</text:p></table:table-cell>
    <table:table-cell office:value-type="string"><text:p>Treasury</text:p></table:table-cell></table:table-row>
  </table:table-row-group></table:table-row-group>
 </table:table></office:spreadsheet></office:body>
</office:document>
"""


def outline_ods(folder: Path) -> Path:
    """An ODS whose second row sits in a two-level outline row group (written by LibreOffice from flat ODF)."""
    source = folder / "outline.fods"
    source.write_text(FODS, encoding="utf-8")
    return convert(source, "ods")
