"""PDF tables never add, drop, glue or reverse words compared with the page's plain text (issue 19).

Each defect class has a PDF generated here with pymupdf: a ruled form whose top row spans the columns (glued
words, `Col3` placeholders), a table with empty header cells, right-to-left cell text, banded rows, a sideways
page; plus the word-level check over every born-digital PDF of the shared corpora."""

import unicodedata
from collections import Counter
from pathlib import Path

import pymupdf
import pytest

from benchmarks.fidelity_reference import born_digital_pdfs, word_scores
from docmill.parsers import OPTIONS, parse_file
from docmill.parsers.pdf_tables import markdown_words
from docmill.records import Element


def _words_at(page: pymupdf.Page, x: float, y: float, text: str, size: float = 9) -> None:
    """Insert each word on its own (no space characters), as many PDF producers position words."""
    font = pymupdf.Font("helv")
    for word in text.split():
        page.insert_text((x, y), word, fontsize=size)
        x += font.text_length(word + " ", fontsize=size)


def _grid(page: pymupdf.Page, x0: float, y0: float, widths: list[float], heights: list[float]) -> tuple[list, list]:
    xs, ys = [x0], [y0]
    for width in widths:
        xs.append(xs[-1] + width)
    for height in heights:
        ys.append(ys[-1] + height)
    for y in ys:
        page.draw_line((xs[0], y), (xs[-1], y))
    for x in xs:
        page.draw_line((x, ys[0]), (x, ys[-1]))
    return xs, ys


def _parse(doc: pymupdf.Document, folder: Path, name: str = "doc.pdf") -> list[Element]:
    doc.save(folder / name)
    return parse_file(folder / name, ".pdf").elements


def _page_words(path: Path) -> Counter[str]:
    with pymupdf.open(path) as doc:
        return sum((Counter(page.get_text().split()) for page in doc), Counter())


def _all_words(elements: list[Element]) -> Counter[str]:
    return sum((markdown_words(e.text) for e in elements), Counter())


def test_ruled_form_with_a_spanning_prose_row_keeps_the_page_words(tmp_path: Path) -> None:
    doc = pymupdf.open()
    page = doc.new_page()
    xs, ys = _grid(page, 50, 100, [150, 150, 150], [20, 20, 20])
    _words_at(page, 54, 114, "Names the row permission that is granted to the user")  # across the column rules
    for c, text in enumerate(["Grantee", "Privilege", "Object"]):
        _words_at(page, xs[c] + 4, ys[1] + 14, text)
    for c, text in enumerate(["sales team", "select insert", "orders table"]):
        _words_at(page, xs[c] + 4, ys[2] + 14, text)
    elements = _parse(doc, tmp_path)
    assert _all_words(elements) == _page_words(tmp_path / "doc.pdf"), "no word added, dropped or glued"
    text = "\n".join(e.text for e in elements)
    assert "Names the row permission that is granted to the user" in text
    assert "Col" not in text


def test_empty_header_cells_stay_empty_without_placeholders(tmp_path: Path) -> None:
    doc = pymupdf.open()
    page = doc.new_page()
    rows = [["", "Q1", "", "Q3"], ["North", "120", "130", "140"], ["South", "90", "95", "99"]]
    xs, ys = _grid(page, 60, 100, [100, 80, 80, 80], [20, 20, 20])
    for r, row in enumerate(rows):
        for c, cell in enumerate(row):
            _words_at(page, xs[c] + 4, ys[r] + 14, cell)
    tables = [e.text for e in _parse(doc, tmp_path) if e.kind == "table"]
    assert tables == ["||Q1||Q3|\n|---|---|---|---|\n|North|120|130|140|\n|South|90|95|99|"]


@pytest.mark.parametrize(
    "rows",
    [
        [["שם", "עיר", "גיל"], ["דוד כהן", "תל אביב", "30"], ["שרה לוי", "ירושלים", "25"]],
        [["اسم", "مدينة", "رقم"], ["أحمد سعيد", "دبي", "مصر"], ["سارة حسن", "مسقط", "عمان"]],
        [["نام", "شهر", "کشور"], ["مریم احمدی", "تهران", "ایران"], ["رضا", "شیراز", "ایران"]],
    ],
    ids=["hebrew", "arabic", "persian"],
)
def test_right_to_left_cells_read_as_the_page_text(tmp_path: Path, rows: list[list[str]]) -> None:
    doc = pymupdf.open()
    page = doc.new_page()
    xs, ys = _grid(page, 72, 100, [130, 130, 130], [30, 30, 30])
    for r, row in enumerate(rows):
        for c, cell in enumerate(row):
            page.insert_htmlbox(
                pymupdf.Rect(xs[c] + 4, ys[r] + 4, xs[c + 1] - 4, ys[r + 1] - 4), f'<p dir="rtl">{cell}</p>'
            )
    elements = _parse(doc, tmp_path)
    tables = [e for e in elements if e.kind == "table"]
    assert len(tables) == 1
    with pymupdf.open(tmp_path / "doc.pdf") as pdf:  # get_text() glues a city and 30 across cells; words do not
        assert markdown_words(tables[0].text) == Counter(w[4] for w in pdf[0].get_text("words"))
    table = unicodedata.normalize("NFKC", tables[0].text)  # Arabic glyphs are presentation forms in the PDF
    for row in rows:  # every cell as written: words in reading order, not reversed, not glued
        assert "|" + "|".join(row) + "|" in table


def test_banded_rows_ruled_every_few_lines_become_one_row_per_line(tmp_path: Path) -> None:
    doc = pymupdf.open()
    page = doc.new_page()
    names = ["Alabama", "Alaska", "Arizona", "Arkansas", "Colorado", "Delaware"]
    xs, ys = _grid(page, 60, 100, [120, 80, 80], [20, 42, 42])  # header, then two bands of three lines
    for c, text in enumerate(["State", "Permit", "Totals"]):
        _words_at(page, xs[c] + 4, ys[0] + 14, text)
    for i, name in enumerate(names):
        y = ys[1] + 12 + (i % 3) * 12 + (i // 3) * 42
        for c, text in enumerate([name, f"{1000 + i:,}", f"{70000 + i:,}"]):
            _words_at(page, xs[c] + 4, y, text)
    tables = [e.text for e in _parse(doc, tmp_path) if e.kind == "table"]
    assert len(tables) == 1
    for i, name in enumerate(names):
        assert f"|{name}|{1000 + i:,}|{70000 + i:,}|" in tables[0]


def test_a_sideways_table_shown_upright_by_page_rotation_keeps_its_rows(tmp_path: Path) -> None:
    doc = pymupdf.open()
    page = doc.new_page(width=842, height=595)
    rows = [
        ["Item", "Quantity", "Amount"],
        ["Dark chocolate bar", "415", "$ 253.15"],
        ["Almond bar", "560", "$ 341.60"],
    ]
    xs, ys = _grid(page, 60, 100, [200, 100, 100], [20, 20, 20])
    for r, row in enumerate(rows):
        for c, cell in enumerate(row):
            _words_at(page, xs[c] + 4, ys[r] + 14, cell)
    page.set_rotation(90)
    tables = [e.text for e in _parse(doc, tmp_path) if e.kind == "table"]
    assert tables == [
        "|" + "|".join(rows[0]) + "|\n|---|---|---|\n" + "\n".join("|" + "|".join(r) + "|" for r in rows[1:])
    ]


def test_tables_switched_off_keep_the_same_words(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    doc = pymupdf.open()
    page = doc.new_page()
    xs, ys = _grid(page, 60, 100, [100, 100], [20, 20, 20])
    for r, row in enumerate([["Asset", "Owner"], ["Laptop", "IT"], ["Badge", "Facilities"]]):
        for c, cell in enumerate(row):
            _words_at(page, xs[c] + 4, ys[r] + 14, cell)
    with_tables = _parse(doc, tmp_path)
    monkeypatch.setitem(OPTIONS, "pdf_tables", False)
    without = _parse(doc, tmp_path, "again.pdf")
    assert [e.kind for e in with_tables] == ["table"] and "table" not in [e.kind for e in without]
    assert _all_words(with_tables) == _all_words(without)


def test_born_digital_pdfs_of_every_shared_corpus_match_the_page_text(shared_root: Path) -> None:
    """Words of every born-digital PDF against pymupdf's `get_text()` of the same pages: precision >= 0.98,
    recall >= 0.99 (tables reorder words, never add or lose them)."""
    checked = []
    for path in born_digital_pdfs(shared_root):
        precision, recall = word_scores(path)
        assert precision >= 0.98 and recall >= 0.99, f"{path.name}: precision {precision:.4f}, recall {recall:.4f}"
        checked.append(path.name)
    assert len(checked) >= 80


@pytest.fixture(scope="module")
def shared_root(shared_corpus: Path) -> Path:
    """The folder of all shared corpora."""
    return shared_corpus.parent


def test_a_failing_table_finder_keeps_the_page_as_text(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(page: pymupdf.Page, words: list) -> list:
        raise ValueError("not enough values to unpack")  # as pymupdf's finder raises on some drawings

    monkeypatch.setattr("docmill.parsers.pdf.page_tables", broken)
    doc = pymupdf.open()
    page = doc.new_page()
    xs, ys = _grid(page, 60, 100, [100, 100], [20, 20, 20])
    for r, row in enumerate([["Asset", "Owner"], ["Laptop", "IT"], ["Badge", "Facilities"]]):
        for c, cell in enumerate(row):
            _words_at(page, xs[c] + 4, ys[r] + 14, cell)
    elements = _parse(doc, tmp_path)
    assert _all_words(elements) == _page_words(tmp_path / "doc.pdf")


def test_a_ruled_header_band_over_an_unruled_body_is_read_by_alignment(tmp_path: Path) -> None:
    doc = pymupdf.open()
    page = doc.new_page()
    xs, ys = _grid(page, 50, 80, [110, 90, 150, 90], [20, 20])  # a ruled header band: two rows of four cells
    page.draw_rect(pymupdf.Rect(50, 120, 490, 420))  # the body: one frame, columns set by position only
    for c, text in enumerate(["DOCUMENT NO.", "DATE", "PAYEE NAME", "AMOUNT ($)"]):
        _words_at(page, xs[c] + 4, ys[0] + 14, text)
    for c, text in enumerate(["", "POSTED", "", "USD"]):
        _words_at(page, xs[c] + 4, ys[1] + 14, text)
    for line in range(20):
        row = [f"DHAW2019{line:04d}", f"09/{line + 1:02d}/2019", "CITIBANK - TRAVEL CBA CARD", f"{411 + line}.49"]
        for c, text in enumerate(row):
            _words_at(page, xs[c] + 4, 134 + 14 * line, text)
    elements = _parse(doc, tmp_path)
    assert _all_words(elements) == _page_words(tmp_path / "doc.pdf")
    # the frame is not a grid (no cell holding the whole body): the body's columns come from its text alignment
    (table,) = [e.text.splitlines() for e in elements if e.kind == "table"]
    assert table[0] == "|DOCUMENT NO.|DATE|PAYEE NAME|AMOUNT ($)|" and table[2] == "||POSTED||USD|"
    assert table[3:] == [
        f"|DHAW2019{line:04d}|09/{line + 1:02d}/2019|CITIBANK - TRAVEL CBA CARD|{411 + line}.49|" for line in range(20)
    ]


def test_positions_on_a_rotated_page_are_as_shown(shared_root: Path, tmp_path: Path) -> None:
    """Text coordinates are in the unrotated page: on a page with `/Rotate 90` (senate-expenditures.pdf, a
    landscape table on a portrait sheet) `bottom` reached 1.17 and a line at the shown top read as mid-page."""
    from docmill.parsers.pdf import parse_pdf

    senate = parse_pdf(shared_root / "pdfplumber-tests" / "tests" / "pdfs" / "senate-expenditures.pdf")
    assert all(0 <= e.top <= e.bottom <= 1 for e in senate.elements), [(e.top, e.bottom) for e in senate.elements]
    doc = pymupdf.open()
    page = doc.new_page(width=612, height=792)
    page.insert_text((20, 200), "Quarterly facilities report, page header line")
    page.insert_text((545, 600), "Page 1 of 3")
    page.set_rotation(90)  # shown landscape: unrotated x becomes the shown vertical position
    doc.save(tmp_path / "rotated.pdf")
    header, footer = parse_pdf(tmp_path / "rotated.pdf").elements
    assert header.top < 0.1 and 0.85 < footer.top <= footer.bottom <= 1, (header, footer)
