"""pdfplumber's own test PDFs (shared corpus `pdfplumber-tests/`): the cell values its tests assert
(`tests/test_table.py`, `tests/test_nics_report.py`, `tests/test_ca_warn_report.py`) are found cell by cell and
in row order in docmill's `table` elements; its broken PDFs end with the right reason."""

import re
from pathlib import Path

import pytest

from docmill.parsers import ParseError, parse_file

_CELL_SPLIT = re.compile(r"(?<!\\)\|")


@pytest.fixture(scope="module")
def pdfs(shared_corpus: Path) -> Path:
    """The PDFs of pdfplumber's test suite."""
    return shared_corpus.parent / "pdfplumber-tests/tests/pdfs"


def _tables(path: Path, page: int = 1) -> list[list[list[str]]]:
    """docmill's table elements of one page, as rows of cells (the `|---|` row left out)."""
    found = []
    for element in parse_file(path, ".pdf").elements:
        if element.kind == "table" and element.page == page:
            lines = element.text.splitlines()
            rows = [lines[0], *lines[2:]]
            found.append([[c.replace("\\|", "|") for c in _CELL_SPLIT.split(row[1:-1])] for row in rows])
    return found


def _in_order(row: list[str], values: list[str]) -> bool:
    """The values are cells of the row, left to right (other cells may stand between them)."""
    position = 0
    for value in values:
        try:
            position = row.index(value, position) + 1
        except ValueError:
            return False
    return True


def _rows_in_order(tables: list[list[list[str]]], expected: list[list[str]]) -> bool:
    """Each expected row matches a row of one table, later expected rows further down that table."""
    for table in tables:
        start = 0
        for values in expected:
            start = next((i + 1 for i, row in enumerate(table[start:], start) if _in_order(row, values)), -1)
            if start < 0:
                break
        else:
            return True
    return False


def test_lines_strict_table_last_row(pdfs: Path) -> None:  # test_table.py::test_edges_strict
    last = ["", "0085648100300", "CENTRAL KMA", "LILYS 55% DARK CHOC BAR", "415", "$ 0.61", "$ 253.15", "0.0000", ""]
    tables = _tables(pdfs / "issue-140-example.pdf")
    assert tables and tables[0][-1] == last


def test_table_with_curves(pdfs: Path) -> None:  # test_table.py::test_table_curves
    tables = _tables(pdfs / "table-curves-example.pdf")
    assert len(tables) == 1 and tables[0][-2][-2] == "Uncommon"


def test_three_tables_in_page_order(pdfs: Path) -> None:  # test_table.py::test_order
    assert [len(t) for t in _tables(pdfs / "issue-336-example.pdf")] == [8, 11, 2]


def test_ruled_tables_of_the_mixed_strategy_page(pdfs: Path) -> None:  # test_table.py::test_issue_466_mixed_strategy
    tables = _tables(pdfs / "issue-466-example.pdf")
    assert len(tables) >= 2
    for table in tables:
        assert len(table) == 4 and len(table[0]) == 3
        assert all("last" in cell for cell in table[3])


def test_fiscal_years_in_the_first_column(pdfs: Path) -> None:  # test_table.py::test_text_layout
    # pdfplumber's layout mode puts "FY2013\nFY2014" in one cell: two lines of a banded row, one row each here
    assert _rows_in_order(_tables(pdfs / "issue-53-example.pdf"), [["FY2013"], ["FY2014"]])


@pytest.mark.parametrize("name", ["nics-background-checks-2015-11.pdf", "nics-background-checks-2015-11-rotated.pdf"])
def test_nics_report_rows_and_column_totals(pdfs: Path, name: str) -> None:  # test_nics_report.py
    tables = _tables(pdfs / name)
    assert _rows_in_order(tables, [["Alabama", "71,137"], ["Wyoming", "5,017"]])
    table = next(t for t in tables if any(row[0] == "Alabama" for row in t))
    names = [row[0] for row in table]
    states = table[names.index("Alabama") : names.index("Wyoming") + 1]
    totals = table[names.index("Totals")]

    def number(cell: str) -> int:
        return int(cell.replace(",", "").replace(" ", "") or 0)

    assert len(states) >= 50
    for column in range(1, len(totals)):  # as pdfplumber's test_plain: every column adds up to its total
        assert sum(number(row[column]) for row in states) == number(totals[column]), table[1][column]
    assert "November - 2015" in " ".join(e.text for e in parse_file(pdfs / name, ".pdf").elements)


def test_ca_warn_report_header_and_first_row(pdfs: Path) -> None:  # test_ca_warn_report.py::test_parse
    def fix_row_spaces(row: list[str]) -> list[str]:  # as the pdfplumber test compares them
        return [cell.replace(" ", "") for cell in row[:3]] + row[3:]

    table = _tables(pdfs / "WARN-Report-for-7-1-2015-to-03-25-2016.pdf")[0]
    header = ["NoticeDate", "Effective", "Received", "Company", "City", "No. Of", "Layoff/Closure"]
    first = [
        "06/22/2015",
        "03/25/2016",
        "07/01/2015",
        "Maxim Integrated Product",
        "San Jose",
        "150",
        "Closure Permanent",
    ]
    assert fix_row_spaces(table[0]) == header
    assert fix_row_spaces(table[1]) == first


def test_unruled_expenditure_table_last_row(pdfs: Path) -> None:  # test_table.py::test_text_tolerance
    # columns by text alignment only (pdfplumber's `text` strategy); the description wraps onto a second line
    last = ["DHAW20190070", "09/09/2019", "CITIBANK - TRAVEL CBA CARD", "08/12/2019", "08/14/2019"]
    tables = _tables(pdfs / "senate-expenditures.pdf")
    assert _rows_in_order(tables, [last])
    assert any(_in_order(table[-1], last) for table in tables)


@pytest.mark.parametrize(
    ("name", "reason"), [("password-example.pdf", "encrypted"), ("empty.pdf", "empty")], ids=["password", "empty"]
)
def test_broken_pdfs_end_with_their_reason(pdfs: Path, name: str, reason: str) -> None:
    with pytest.raises(ParseError) as error:
        parse_file(pdfs / name, ".pdf")
    assert error.value.reason == reason


def test_malformed_pdf_is_repaired_and_read(pdfs: Path) -> None:  # test_repair.py: pymupdf repairs on open
    text = " ".join(e.text for e in parse_file(pdfs / "malformed-from-issue-932.pdf", ".pdf").elements)
    assert text.split()
