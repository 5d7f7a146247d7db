"""Ruled PDF tables as Markdown, built from the page's own words and kept only when they lose nothing.

pymupdf's `find_tables` finds the grid; the cell texts it extracts itself are not used: they glue the words of
a cell's lines together, repeat the text of spanning cells, reverse right-to-left scripts and name empty header
cells `Col3`. Instead each word of the page's text layer (`get_text("words")`, the same text as `get_text()`)
goes to the cell that holds its centre, in the text layer's reading order. A grid is a table only when
- every word inside its bounding box falls in a cell (none would be dropped),
- no word straddles a ruling line (text drawn across the rules of a diagram or a box),
- at least two rows have text in two or more cells,
- and the rendered Markdown holds exactly the words of the page text inside the box (the guard: no word added,
  lost or glued). Otherwise the page's plain text blocks stay as they are.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

import pymupdf

_UNESCAPED_PIPE = re.compile(r"(?<!\\)\|")
_SEPARATOR_ROW = re.compile(r"^\|(?:-{3,}\|)+$", re.M)
# a word may reach this far (share of its width) beyond its cell before it counts as straddling a rule
_OVERHANG = 0.25

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


def _centre_in(word: Word, rect: tuple[float, float, float, float]) -> bool:
    x, y = (word[0] + word[2]) / 2, (word[1] + word[3]) / 2
    return rect[0] <= x <= rect[2] and rect[1] <= y <= rect[3]


def _straddles(word: Word, cell: tuple[float, float, float, float]) -> bool:
    slack = _OVERHANG * (word[2] - word[0])
    return word[0] < cell[0] - slack or word[2] > cell[2] + slack


def _grid(table: Any, words: list[Word]) -> list[list[list[Word]]] | None:
    """Words per cell (rows of cells), or None when a word falls in no cell or straddles a rule."""
    rows = [[cell for cell in row.cells] for row in table.rows]
    grid: list[list[list[Word]]] = [[[] for _ in row] for row in rows]
    for word in words:
        spot = next(
            ((r, c) for r, row in enumerate(rows) for c, cell in enumerate(row) if cell and _centre_in(word, cell)),
            None,
        )
        if spot is None or _straddles(word, rows[spot[0]][spot[1]]):
            return None
        grid[spot[0]][spot[1]].append(word)
    return grid


def _cell_text(words: list[Word]) -> str:
    """A cell's words in text-layer order (block, line, word), one space apart; `|` escaped for Markdown."""
    return " ".join(w[4] for w in sorted(words, key=lambda w: w[5:8])).replace("|", "\\|")


def render_markdown(rows: list[list[str]]) -> str:
    """Rows of cell texts as a Markdown table (the first row is the header; empty cells stay empty)."""
    width = max(len(row) for row in rows)
    lines = ["|" + "|".join(row + [""] * (width - len(row))) + "|" for row in rows]
    return "\n".join([lines[0], "|" + "---|" * width, *lines[1:]])


def page_tables(page: pymupdf.Page, words: list[Word]) -> list[PageTable]:
    """The ruled tables of a page that pass every check of this module (see its docstring)."""
    found = []
    for table in page.find_tables(use_layout=False).tables:
        rect = pymupdf.Rect(table.bbox)
        inside = [w for w in words if _centre_in(w, tuple(rect))]
        grid = _grid(table, inside)
        if grid is None:
            continue
        rows = [[_cell_text(cell) for cell in row] for row in grid]
        rows = [row for row in rows if any(row)]
        if sum(1 for row in rows if sum(1 for cell in row if cell) >= 2) < 2:
            continue
        markdown = render_markdown(rows)
        if markdown_words(markdown) != Counter(w[4] for w in inside):
            continue
        found.append(PageTable(rect, markdown, {w[5:8] for w in inside}))
    return found
