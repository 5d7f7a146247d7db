"""Spreadsheets: XLSX through openpyxl (streaming, formulas' cached values), XLS through xlrd, ODS through
the ODF reader. Each sheet is a `Sheet: <name>` title and one Markdown table of its cells as the
spreadsheet shows them (number formats applied); XLSX charts follow their sheet. The sheet number is each
element's page.
"""

from __future__ import annotations

import contextlib
import itertools
import posixpath
import re
import shutil
import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from docmill.parsers import Parsed, ParseError, describe
from docmill.parsers.charts import chart_elements
from docmill.parsers.numfmt import shown
from docmill.parsers.tables import markdown_table
from docmill.records import Element

_MAX_COLUMNS = 1024  # styled-but-empty columns up to XFD must not make 16k-cell rows


def sheet_elements(sheets: Iterable[tuple[str, Sequence[Sequence[str]]]]) -> tuple[list[Element], list[str]]:
    """(name, rows of shown cell texts) per sheet -> elements and the list of sheet names."""
    elements: list[Element] = []
    names: list[str] = []
    for number, (name, rows) in enumerate(sheets, 1):
        names.append(name)
        elements.append(Element(f"Sheet: {name}", "title", page=number, level=1))
        table = markdown_table(rows)
        if table:
            elements.append(Element(table, "table", page=number))
    return elements, names


def _trimmed(values: list[str]) -> list[str]:
    while values and not values[-1]:
        values.pop()
    return values


def _xlsx_rows(sheet: Any, formulas: Any = None) -> list[list[str]]:
    """Shown cell texts row by row, each cell in its own column (a sheet's stored size can be wrong or
    missing, so cells are placed by their column, not by the declared dimension). `formulas`, the same sheet
    read without cached values, gives the formula of a cell that has no cached result."""
    rows = []
    formula_rows = formulas.iter_rows() if formulas is not None else itertools.repeat(())
    for row, formula_row in zip(sheet.iter_rows(), formula_rows, strict=False):
        written = {getattr(c, "column", None): c.value for c in formula_row}
        values: list[str] = []
        for cell in row:
            column = getattr(cell, "column", None)
            value = cell.value if cell.value is not None else written.get(column)
            if value is None or column is None or column > _MAX_COLUMNS:
                continue
            values += [""] * (column - 1 - len(values))
            values.append(shown(value, cell.number_format))
        rows.append(values)
    return rows


def _sheet_rows(book: Any, written: Any, name: str) -> list[list[str]]:
    """A worksheet's rows (`written`: the workbook read with formulas); none for a chart sheet."""
    sheet = next((s for s in book.worksheets if s.title == name), None)
    if sheet is None:
        return []
    return _xlsx_rows(sheet, next(s for s in written.worksheets if s.title == name) if written else None)


def _rels(archive: zipfile.ZipFile, part: str) -> dict[str, str]:
    """Relationship targets of a package part, as archive member names."""
    from lxml import etree

    folder, name = posixpath.split(part)
    rels = posixpath.join(folder, "_rels", f"{name}.rels")
    if rels not in archive.namelist():
        return {}
    root = etree.fromstring(archive.read(rels), etree.XMLParser(resolve_entities=False, no_network=True))
    return {  # a target is relative to the part's folder, or absolute from the package root
        r.get("Id"): posixpath.normpath(posixpath.join(folder, r.get("Target", ""))).lstrip("/")
        for r in root
        if r.get("TargetMode") != "External"
    }


# A formula cell without a cached result (`<c><f>B2*2</f></c>`): files written by libraries, never calculated.
_UNCALCULATED = re.compile(rb"(</f>|<f\b[^>]*/>)\s*(<v\s*/>|<v>\s*</v>)?\s*</c>")


def _xlsx_layout(path: Path) -> list[tuple[str, list[bytes], bool]]:
    """(name, charts' XML, has formulas without results) per sheet in workbook order, chart sheets included
    (sheet or chart sheet -> drawing -> chart relationships)."""
    from lxml import etree

    layout = []
    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
        workbook = next((n for n in ("xl/workbook.xml", "xl/workbook2.xml") if n in names), "xl/workbook.xml")
        targets = _rels(archive, workbook)
        root = etree.fromstring(archive.read(workbook), etree.XMLParser(resolve_entities=False, no_network=True))
        for sheet in root.iter("{*}sheet"):
            part = targets.get(next((v for k, v in sheet.attrib.items() if k.endswith("}id")), ""), "")
            charts = [
                archive.read(target)
                for drawing in _rels(archive, part).values()
                for target in _rels(archive, drawing).values()
                if "/charts/" in target and target in names
            ]
            uncalculated = part in names and _UNCALCULATED.search(archive.read(part)) is not None
            layout.append((sheet.get("name", ""), charts, uncalculated))
    return layout


def parse_xlsx(path: Path, ext: str = ".xlsx") -> Parsed:
    """Parse an XLSX file.

    Raises:
        ParseError: `encrypted`, `corrupt_office` or `empty`.
    """
    import openpyxl

    from docmill.parsers.ooxml import check_container, open_package

    check_container(path, ".xlsx")
    try:
        layout = _xlsx_layout(path)
        book = openpyxl.load_workbook(open_package(path), read_only=True, data_only=True)
        written = openpyxl.load_workbook(open_package(path), read_only=True) if any(u for *_, u in layout) else None
        try:
            sheets = [
                (name, _sheet_rows(book, written if uncalculated else None, name)) for name, _, uncalculated in layout
            ]
        finally:
            book.close()
            if written is not None:
                written.close()
    except (zipfile.BadZipFile, KeyError, ValueError, OSError, TypeError) as exc:
        raise ParseError("corrupt_office", f"not a readable XLSX: {describe(exc)}") from exc
    elements, names = sheet_elements(sheets)
    for number, (_, charts, _) in enumerate(layout, 1):
        at = max(i for i, e in enumerate(elements) if e.page == number) + 1
        elements[at:at] = [e for xml in charts for e in chart_elements(xml, number)]
    if all(e.kind == "title" and e.text.startswith("Sheet: ") for e in elements):
        raise ParseError("empty", "no sheet has a cell with a value")
    return Parsed(elements, {"sheets": names, "pages": len(names)}, f"openpyxl-{openpyxl.__version__}")


def _xls_rows(book: Any, sheet: Any) -> list[list[str]]:
    import xlrd

    rows = []
    for r in range(sheet.nrows):
        values = []
        for c in range(min(sheet.ncols, _MAX_COLUMNS)):
            cell = sheet.cell(r, c)
            value: Any = cell.value
            fmt = book.format_map.get(book.xf_list[cell.xf_index].format_key) if book.xf_list else None
            if cell.ctype == xlrd.XL_CELL_DATE:
                with contextlib.suppress(ValueError, OverflowError):  # out of range: the serial number shows
                    value = xlrd.xldate.xldate_as_datetime(value, book.datemode)
            elif cell.ctype == xlrd.XL_CELL_BOOLEAN:
                value = bool(value)
            elif cell.ctype == xlrd.XL_CELL_ERROR:
                value = xlrd.error_text_from_code.get(value, "#ERROR")
            elif cell.ctype in (xlrd.XL_CELL_EMPTY, xlrd.XL_CELL_BLANK):
                value = None
            values.append(shown(value, fmt.format_str if fmt else None))
        rows.append(_trimmed(values))
    return rows


# A BIFF8 BOF record (id 0x0809, 16 bytes, version 0x0600) of a chart substream (type 0x0020): the workbook
# has a chart sheet or an embedded chart (MS-XLS 2.4.21), which xlrd does not read.
_CHART_BOF = b"\x09\x08\x10\x00\x00\x06\x20\x00"


def _has_charts(path: Path) -> bool:
    import olefile

    try:
        with olefile.OleFileIO(str(path)) as ole:
            stream = "Workbook" if ole.exists("Workbook") else "Book"
            return _CHART_BOF in ole.openstream(stream).read()
    except (OSError, ValueError):  # not an OLE file or no workbook stream: xlrd says what is wrong
        return False


def parse_xls(path: Path, ext: str = ".xls") -> Parsed:
    """Parse a legacy Excel (BIFF) workbook with xlrd (formulas' cached values, number formats); a workbook
    with charts goes through LibreOffice to XLSX instead when soffice is installed, so its charts are read.

    Raises:
        ParseError: `encrypted`, `corrupt_office` or `empty`.
    """
    import xlrd

    if shutil.which("soffice") and _has_charts(path):
        from docmill.parsers.office import soffice_converted

        with soffice_converted(path, ".xls", "xlsx") as converted:
            parsed = parse_xlsx(converted)
        parsed.parser += "+soffice"
        return parsed

    try:
        book = xlrd.open_workbook(str(path), formatting_info=True, on_demand=True)
    except xlrd.biffh.XLRDError as exc:
        reason = "encrypted" if "encrypt" in str(exc).lower() else "corrupt_office"
        raise ParseError(reason, f"not a readable XLS: {describe(exc)}") from exc
    except (ValueError, AssertionError, IndexError, KeyError, OSError) as exc:
        raise ParseError("corrupt_office", f"not a readable XLS: {describe(exc)}") from exc
    try:
        sheets = [(book.sheet_by_index(i).name, _xls_rows(book, book.sheet_by_index(i))) for i in range(book.nsheets)]
    finally:
        book.release_resources()
    elements, names = sheet_elements(sheets)
    if all(e.kind == "title" for e in elements):
        raise ParseError("empty", "no sheet has a cell with a value")
    return Parsed(elements, {"sheets": names, "pages": len(names)}, f"xlrd-{xlrd.__VERSION__}")
