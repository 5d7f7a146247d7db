"""Ruled PDF tables as Markdown, built from the page's own words and kept only when they lose nothing.

pymupdf's `find_tables` finds the grid; the cell texts it extracts itself are not used: they glue the words of
a cell's lines together, repeat the text of spanning cells, reverse right-to-left scripts and name empty header
cells `Col3`. Instead each word of the page's text layer (`get_text("words")`, the same text as `get_text()`)
goes to the cell that holds its centre, in the text layer's reading order. A grid is a table only when
- every word inside its bounding box falls in a cell (none would be dropped),
- no word straddles a ruling line (text drawn across the rules of a diagram or a box),
- at least two rows have text in two or more cells, and no one cell holds most of the words set in columns of
  their own (a ruled header band over an unruled body),
- and the rendered Markdown holds exactly the words of the page text inside the box (the guard: no word added,
  lost or glued). Otherwise the page's plain text blocks stay as they are.
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

import pymupdf

_UNESCAPED_PIPE = re.compile(r"(?<!\\)\|")
_SEPARATOR_ROW = re.compile(r"^\|(?:-{3,}\|)+$", re.M)
# a word may reach this far (share of its width) beyond its cell before it counts as straddling a rule
_OVERHANG = 0.25
# a cell line of at most this many words is a value (a number, a name); longer lines are prose
_VALUE_WORDS = 3
# a table of at least this many words whose one cell holds more than half of them is a frame, not a grid
_FRAME_WORDS = 40
# ... and at least this many of that cell's lines hold columns (wide gaps between words)
_FRAME_LINES = 3

Word = tuple[float, float, float, float, str, int, int, int]  # pymupdf's get_text("words") tuple


@dataclass(slots=True)
class PageTable:
    """A table kept for a page: its box, its Markdown and the text-layer words it holds (block, line, word)."""

    rect: pymupdf.Rect
    markdown: str
    words: set[tuple[int, int, int]]


def markdown_words(text: str) -> Counter[str]:
    """Words of a text that may hold Markdown tables: cell separators and the `|---|` row are not words."""
    text = _SEPARATOR_ROW.sub(" ", text)
    return Counter(word.replace("\\|", "|") for word in _UNESCAPED_PIPE.sub(" ", text).split())


def centre_in(word: Word, rect: tuple[float, float, float, float]) -> bool:
    """Whether the centre of a word lies in a box (x0, y0, x1, y1)."""
    x, y = (word[0] + word[2]) / 2, (word[1] + word[3]) / 2
    return rect[0] <= x <= rect[2] and rect[1] <= y <= rect[3]


def _straddles(word: Word, cell: tuple[float, float, float, float], row_cells: list[Any]) -> bool:
    """Whether a word reaches into a neighbouring cell of its row (text drawn across a rule between cells)."""
    if word[0] >= cell[0] and word[2] <= cell[2]:
        return False
    slack = _OVERHANG * (word[2] - word[0])
    return any(
        other and other != cell and min(word[2], other[2]) - max(word[0], other[0]) > slack for other in row_cells
    )


def _grid(table: Any, words: list[Word]) -> list[list[list[Word]]] | None:
    """Words per cell (rows of cells), or None when a word falls in no cell or straddles a rule."""
    rows = [[cell for cell in row.cells] for row in table.rows]
    grid: list[list[list[Word]]] = [[[] for _ in row] for row in rows]
    for word in words:
        spot = next(
            ((r, c) for r, row in enumerate(rows) for c, cell in enumerate(row) if cell and centre_in(word, cell)),
            None,
        )
        if spot is None or _straddles(word, rows[spot[0]][spot[1]], rows[spot[0]]):
            return None
        grid[spot[0]][spot[1]].append(word)
    return grid


def _line_bands(row: list[list[Word]]) -> list[float]:
    """Upper limits of the text lines of a ruled row (words of all its cells grouped by vertical centre)."""
    words = sorted((w for cell in row for w in cell), key=lambda w: w[1] + w[3])
    if not words:
        return []
    gap = 0.5 * sorted(w[3] - w[1] for w in words)[len(words) // 2]
    limits, last = [], (words[0][1] + words[0][3]) / 2
    for word in words[1:]:
        centre = (word[1] + word[3]) / 2
        if centre - last > gap:
            limits.append((last + centre) / 2)
        last = centre
    return [*limits, float("inf")]


def _band(word: Word, limits: list[float]) -> int:
    return next(i for i, limit in enumerate(limits) if (word[1] + word[3]) / 2 < limit)


def _value_per_line(cell: list[Word], limits: list[float]) -> bool:
    """A short value (at most `_VALUE_WORDS` words) on every line of the row: a column of values, not prose."""
    per_line = Counter(_band(w, limits) for w in cell)
    return len(per_line) == len(limits) and max(per_line.values()) <= _VALUE_WORDS


def _split_rows(grid: list[list[list[Word]]]) -> list[list[list[Word]]]:
    """Split a ruled row holding several rows of values (rules only every few lines, as in banded reports) into
    one row per text line: when at least two of its cells hold a short value on every line. A cell whose text
    merely wraps, and cells of prose side by side, keep their lines together."""
    out = []
    for row in grid:
        limits = _line_bands(row)
        full = sum(1 for cell in row if len(limits) > 1 and _value_per_line(cell, limits))
        if full < 2:
            out.append(row)
            continue
        bands: list[list[list[Word]]] = [[[] for _ in row] for _ in limits]
        for c, cell in enumerate(row):
            for word in cell:
                bands[_band(word, limits)][c].append(word)
        out += bands
    return out


def _cell_text(words: list[Word]) -> str:
    """A cell's words in text-layer order (block, line, word), one space apart; `|` escaped for Markdown."""
    return " ".join(w[4] for w in sorted(words, key=lambda w: w[5:8])).replace("|", "\\|")


def _one_cell_holds_the_text(grid: list[list[list[Word]]]) -> bool:
    """A ruled frame (a header band over an unruled body) rather than a grid: one cell holds most of the words,
    and they stand in columns of their own (several of its lines have gaps wider than twice the text height).
    A footnote row of prose under a real table holds words too, but in running lines."""
    cells = [cell for row in grid for cell in row]
    total = sum(len(cell) for cell in cells)
    biggest = max(cells, key=len)
    if total < _FRAME_WORDS or len(biggest) * 2 <= total:
        return False
    limits = _line_bands([biggest])
    lines: dict[int, list[Word]] = {}
    for word in biggest:
        lines.setdefault(_band(word, limits), []).append(word)
    columned = 0
    for line in lines.values():
        line.sort(key=lambda w: w[0])
        height = max(w[3] - w[1] for w in line)
        columned += any(b[0] - a[2] > 2 * height for a, b in itertools.pairwise(line))
    return columned >= _FRAME_LINES


def render_markdown(rows: list[list[str]]) -> str:
    """Rows of cell texts as a Markdown table (the first row is the header; empty cells stay empty)."""
    width = max(len(row) for row in rows)
    lines = ["|" + "|".join(row + [""] * (width - len(row))) + "|" for row in rows]
    return "\n".join([lines[0], "|" + "---|" * width, *lines[1:]])


def _found_tables(page: pymupdf.Page, words: list[Word]) -> tuple[list[Any], list[Word]]:
    """The page's ruled grids and the words, both in the frame where the text runs left to right.

    The text layer's words are in the unrotated page; `find_tables` works in the displayed (rotated) page. On a
    rotated page whose words run horizontally unrotated (a sideways table shown upright by /Rotate), the grid is
    found with the rotation set to 0 for the call; otherwise the words are rotated into the displayed frame."""
    if not page.rotation:
        return page.find_tables(use_layout=False).tables, words
    long_words = [w for w in words if len(w[4]) >= 3] or words
    if sum(w[2] - w[0] > w[3] - w[1] for w in long_words) * 2 > len(long_words):
        rotation = page.rotation
        page.set_rotation(0)
        try:
            return page.find_tables(use_layout=False).tables, words
        finally:
            page.set_rotation(rotation)
    matrix = page.rotation_matrix
    return page.find_tables(use_layout=False).tables, [(*(pymupdf.Rect(w[:4]) * matrix), *w[4:]) for w in words]  # type: ignore[misc]


def page_tables(page: pymupdf.Page, words: list[Word]) -> list[PageTable]:
    """The ruled tables of a page that pass every check of this module (see its docstring)."""
    found = []
    tables, words = _found_tables(page, words)
    for table in tables:
        rect = pymupdf.Rect(table.bbox)
        inside = [w for w in words if centre_in(w, (rect.x0, rect.y0, rect.x1, rect.y1))]
        grid = _grid(table, inside)
        if grid is None:
            continue
        grid = _split_rows(grid)
        rows = [[_cell_text(cell) for cell in row] for row in grid]
        rows = [row for row in rows if any(row)]
        if sum(1 for row in rows if sum(1 for cell in row if cell) >= 2) < 2 or _one_cell_holds_the_text(grid):
            continue
        markdown = render_markdown(rows)
        if markdown_words(markdown) != Counter(w[4] for w in inside):
            continue
        found.append(PageTable(rect, markdown, {w[5:8] for w in inside}))
    return found
