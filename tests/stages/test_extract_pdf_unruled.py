"""PDF tables without ruling lines (columns set by text alignment only) become `table` elements; prose in columns,
lists and key: value forms stay text. Every PDF is generated here with pymupdf; every page keeps its words."""

import unicodedata
from collections import Counter
from pathlib import Path

import pymupdf
import pytest

from docmill.records import Element
from tests.stages.test_extract_pdf_tables import _all_words, _page_words, _parse, _words_at

_SENTENCES = [
    "The committee met on Tuesday to review the annual budget and the plans for the new building.",
    "Members asked how the costs of heating and cleaning would be shared between the departments,",
    "and the treasurer explained that each department pays in proportion to the floor space it uses.",
    "After a long discussion the proposal was accepted with two changes to the timetable of the works.",
]
_PROSE = " ".join(_SENTENCES).split()


def _lines(words: list[str], per_line: int) -> list[str]:
    return [" ".join(words[i : i + per_line]) for i in range(0, len(words), per_line)]


def _tables(elements: list[Element]) -> list[list[list[str]]]:
    return [[row.strip("|").split("|") for row in e.text.splitlines()] for e in elements if e.kind == "table"]


def test_unruled_table_of_short_values_becomes_a_table_with_its_header(tmp_path: Path) -> None:
    doc = pymupdf.open()
    page = doc.new_page()
    _words_at(page, 60, 60, "Quarterly travel expenses of the regional office, as posted by the finance team.")
    header = ["Document", "Date", "Payee", "Start", "End", "Amount"]
    payees = ["ACME TRAVEL", "CITY CABS", "RAIL CO"]
    rows = [
        [
            f"DOC{n:04d}",
            f"09/{n + 1:02d}/2019",
            payees[n % 3],
            f"08/{n + 1:02d}/2019",
            f"08/{n + 3:02d}/2019",
            f"{n}.50",
        ]
        for n in range(12)
    ]
    xs = [60, 130, 200, 290, 360, 440]
    for r, row in enumerate([header, *rows]):
        for x, text in zip(xs, row, strict=True):
            _words_at(page, x, 100 + 13 * r, text)
    _words_at(page, 60, 300, "All amounts are in US dollars and include taxes.")
    elements = _parse(doc, tmp_path)
    assert _all_words(elements) == _page_words(tmp_path / "doc.pdf")
    tables = _tables(elements)
    assert len(tables) == 1, [e.text for e in elements]
    table = tables[0]
    assert table[0] == header and table[2:] == rows  # table[1] is the `---` row
    texts = [e.text for e in elements if e.kind != "table"]
    assert any("Quarterly travel" in t for t in texts) and any("US dollars" in t for t in texts)


def test_unruled_table_with_a_wrapped_description_keeps_one_row_per_record(tmp_path: Path) -> None:
    doc = pymupdf.open()
    page = doc.new_page()
    for n in range(6):
        y = 80 + 26 * n
        record = [f"REF{n}", f"0{n + 1}/05/2020", "STAFF TRAVEL", f"{n + 2}0.00"]
        for x, text in zip([50, 130, 210, 500], record, strict=True):
            _words_at(page, x, y, text)
        _words_at(page, 210, y + 12, f"TRAIN FARE FOR MEETING NUMBER {n} AND RETURN")
    elements = _parse(doc, tmp_path)
    assert _all_words(elements) == _page_words(tmp_path / "doc.pdf")
    (table,) = _tables(elements)
    assert table[-1] == ["REF5", "06/05/2020", "STAFF TRAVEL TRAIN FARE FOR MEETING NUMBER 5 AND RETURN", "70.00"]
    assert len(table) == 7


def test_two_column_prose_stays_text(tmp_path: Path) -> None:
    doc = pymupdf.open()
    page = doc.new_page()
    for column, x in enumerate([50, 310]):
        for n, line in enumerate(_lines(_PROSE[column * 20 :] + _PROSE, 6)[:30]):
            _words_at(page, x, 80 + 12 * n, line)
    elements = _parse(doc, tmp_path)
    assert _all_words(elements) == _page_words(tmp_path / "doc.pdf")
    assert not _tables(elements)


def test_three_column_article_stays_text(tmp_path: Path) -> None:
    doc = pymupdf.open()
    page = doc.new_page()
    for column, x in enumerate([40, 220, 400]):
        for n, line in enumerate(_lines(_PROSE[column * 7 :] + _PROSE, 5)[:25]):
            _words_at(page, x, 80 + 12 * n, line)
    elements = _parse(doc, tmp_path)
    assert _all_words(elements) == _page_words(tmp_path / "doc.pdf")
    assert not _tables(elements)


def test_bulleted_list_stays_text(tmp_path: Path) -> None:
    doc = pymupdf.open()
    page = doc.new_page()
    y = 80
    for item in range(6):  # items of two lines, the second indented under the first's text
        _words_at(page, 60, y, "-")
        for line in _lines(_PROSE[item * 9 : item * 9 + 9], 5):
            _words_at(page, 80, y, line)
            y += 14
    elements = _parse(doc, tmp_path)
    assert _all_words(elements) == _page_words(tmp_path / "doc.pdf")
    assert not _tables(elements)


def test_key_value_form_stays_text(tmp_path: Path) -> None:
    doc = pymupdf.open()
    page = doc.new_page()
    fields = [("Name:", "Jane Smith", "Date:", "12/03/2024"), ("Department:", "Finance", "Phone:", "555 0101")]
    fields += [("Manager:", "John Doe", "Room:", "B 12"), ("Project:", "Annual audit", "Code:", "AU-7")]
    for n, row in enumerate(fields):
        for x, text in zip([60, 150, 320, 400], row, strict=True):
            _words_at(page, x, 80 + 14 * n, text)
    elements = _parse(doc, tmp_path)
    assert _all_words(elements) == _page_words(tmp_path / "doc.pdf")
    assert not _tables(elements)


def test_references_in_two_columns_stay_text(tmp_path: Path) -> None:
    doc = pymupdf.open()
    page = doc.new_page()
    for column, x in enumerate([40, 310]):
        y = 80
        for ref in range(5):  # a label, then the reference's text wrapped under itself
            _words_at(page, x, y, f"[R{column}{ref}]", size=7)
            for line in _lines(_PROSE[ref * 8 + column : ref * 8 + column + 16], 8):
                _words_at(page, x + 30, y, line, size=7)
                y += 10
    elements = _parse(doc, tmp_path)
    assert _all_words(elements) == _page_words(tmp_path / "doc.pdf")
    assert not _tables(elements)


@pytest.mark.parametrize(
    "rows",
    [
        [["שם", "עיר", "גיל"], ["דוד כהן", "תל אביב", "30"], ["שרה לוי", "ירושלים", "25"]],
        [["اسم", "مدينة", "رقم"], ["أحمد سعيد", "دبي", "مصر"], ["سارة حسن", "مسقط", "عمان"]],
    ],
    ids=["hebrew", "arabic"],
)
def test_unruled_right_to_left_cells_read_as_the_page_text(tmp_path: Path, rows: list[list[str]]) -> None:
    doc = pymupdf.open()
    page = doc.new_page()
    for r, row in enumerate(rows):
        for c, cell in enumerate(row):
            page.insert_htmlbox(
                pymupdf.Rect(76 + 130 * c, 104 + 16 * r, 198 + 130 * c, 120 + 16 * r), f'<p dir="rtl">{cell}</p>'
            )
    elements = _parse(doc, tmp_path)
    with pymupdf.open(tmp_path / "doc.pdf") as pdf:  # get_text() glues a city and 30 across cells; words do not
        assert _all_words(elements) == Counter(w[4] for w in pdf[0].get_text("words"))
    (table,) = [unicodedata.normalize("NFKC", e.text) for e in elements if e.kind == "table"]
    for row in rows:  # every cell as written: words in reading order, not reversed
        assert "|" + "|".join(row) + "|" in table
