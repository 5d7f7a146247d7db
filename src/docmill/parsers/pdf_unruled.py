"""Unruled PDF tables (columns set by text alignment only) as Markdown, kept only when they lose nothing.

The page's words (in the frame where the text runs left to right) are grouped into text lines. A run of
consecutive lines, each close below the last (no blank gap of two text heights), in which lines split into
several pieces by wide gaps (at least one text height) is a candidate. Its columns are the gutters: vertical
bands that no word of any of its lines covers. A line that fills a single cell right of the first column,
under a row that has text in that cell, continues that cell (a wrapped description). A candidate is a table only
when
- it has at least three columns and three rows with text in three or more cells, and most rows fill two cells,
- at least two columns hold short values (at most `_VALUE_WORDS` words on every line) and at most one column
  holds prose (a line of more than `_PROSE_WORDS` words): prose set in two or three columns has long lines in
  every column (and numbered references, a label before each text, have two of prose), a bulleted list has two
  columns,
- no column is a column of labels (half its cells or more end with `:`): a key: value form stays text,
- and, as for ruled tables, the rendered Markdown holds exactly the words of the page text inside its box (the
  guard in `pdf_tables`). Otherwise the page's plain text blocks stay as they are.
"""

from __future__ import annotations

import itertools
from collections import Counter
from operator import itemgetter

import pymupdf

from docmill.parsers.pdf_tables import PageTable, Word, centre_in, markdown_words, render_markdown

# gaps at least this many text heights wide separate columns (a space is ~0.2-0.3 of the height)
_GUTTER = 1.0
# lines whose centres lie further apart than this many text heights are not one table
_LINE_GAP = 2.0
_VALUE_WORDS = 3
# a column with a line of more words than this is prose; a table has at most one (a description column)
_PROSE_WORDS = 6
_MIN_COLUMNS = 3
_MIN_ROWS = 3


def _lines(words: list[Word]) -> list[list[Word]]:
    """Text lines, top to bottom, each left to right: pymupdf's own lines (its block and line numbers) joined
    when their vertical centres are closer than half the text height (cells of one row are lines of their own)."""
    spans: dict[tuple[int, int], list[Word]] = {}
    for word in words:
        spans.setdefault((word[5], word[6]), []).append(word)
    lines: list[list[Word]] = []
    centre = 0.0
    for span in sorted(spans.values(), key=lambda span: span[0][1] + span[0][3]):
        middle = (span[0][1] + span[0][3]) / 2
        if lines and middle - centre < 0.5 * (span[0][3] - span[0][1]):
            lines[-1] += span
        else:
            lines.append(span)
            centre = middle
    return [sorted(line, key=itemgetter(0)) for line in lines]


def _pieces(line: list[Word], gutter: float) -> int:
    return 1 + sum(b[0] - a[2] >= gutter for a, b in itertools.pairwise(line))


def _runs(lines: list[list[Word]], pieces: list[int], height: float) -> list[tuple[list[list[Word]], list[list[Word]]]]:
    """Runs of close consecutive lines that start and end with a line of several pieces and hold at least
    `_MIN_ROWS` lines of `_MIN_COLUMNS` pieces, each with the lines of one piece that follow it (wrapped last
    cells, or text under the table)."""
    centres = [(line[0][1] + line[0][3]) / 2 for line in lines]
    out = []
    start = 0
    for end in range(1, len(lines) + 1):
        if end < len(lines) and centres[end] - centres[end - 1] <= _LINE_GAP * height:
            continue
        split = [i for i in range(start, end) if pieces[i] > 1]
        if sum(pieces[i] >= _MIN_COLUMNS for i in split) >= _MIN_ROWS:
            out.append((lines[split[0] : split[-1] + 1], lines[split[-1] + 1 : end]))
        start = end
    return out


def _tail(tail: list[list[Word]], columns: list[tuple[float, float]]) -> list[list[Word]]:
    """The lines under a run that lie inside one column right of the first (the last row's wrapped cell)."""
    kept = []
    for line in tail:
        inside = [i for i, (a, b) in enumerate(columns) if a <= line[0][0] and line[-1][2] <= b]
        if not inside or inside[0] == 0:
            break
        kept.append(line)
    return kept


def _columns(run: list[list[Word]], gutter: float) -> list[tuple[float, float]]:
    """Horizontal extents of the columns: the words' x-ranges merged, split where a gap is `gutter` wide."""
    spans = sorted((w[0], w[2]) for line in run for w in line)
    columns = [list(spans[0])]
    for x0, x1 in spans[1:]:
        if x0 - columns[-1][1] >= gutter:
            columns.append([x0, x1])
        else:
            columns[-1][1] = max(columns[-1][1], x1)
    return [(a, b) for a, b in columns]


def _rows(run: list[list[Word]], columns: list[tuple[float, float]]) -> list[list[list[Word]]]:
    """Cells of words per row; a line with one cell right of the first, under a row holding it, continues it.
    In a cell's line, pymupdf's lines go left to right and the words of each keep the text layer's order (a
    right-to-left script reads as in the page text)."""
    rows: list[list[list[Word]]] = []
    for line in run:
        cells: list[list[Word]] = [[] for _ in columns]
        starts: dict[tuple[int, int], float] = {}
        for word in line:  # left to right: the first word seen of a pymupdf line is its left end
            starts.setdefault((word[5], word[6]), word[0])
        for word in sorted(line, key=lambda w: (starts[w[5], w[6]], w[5], w[6], w[7])):
            cells[next(i for i, (a, b) in enumerate(columns) if a <= word[0] <= b)].append(word)
        filled = [i for i, cell in enumerate(cells) if cell]
        if rows and len(filled) == 1 and filled[0] > 0 and rows[-1][filled[0]]:
            rows[-1][filled[0]] += cells[filled[0]]
        else:
            rows.append(cells)
    return rows


def _is_table(rows: list[list[list[Word]]], lines: list[list[Word]], columns: list[tuple[float, float]]) -> bool:
    """The checks of the module docstring, on cells (rows) and on the lines of each column."""
    if len(columns) < _MIN_COLUMNS:
        return False
    filled = [sum(1 for cell in row if cell) for row in rows]
    if sum(n >= _MIN_COLUMNS for n in filled) < _MIN_ROWS or sum(n >= 2 for n in filled) * 2 <= len(rows):
        return False
    per_line: list[Counter[int]] = [Counter() for _ in columns]
    for line in lines:
        for word in line:
            per_line[next(i for i, (a, b) in enumerate(columns) if a <= word[0] <= b)][id(line)] += 1
    values = sum(1 for counts in per_line if counts and max(counts.values()) <= _VALUE_WORDS)
    prose = sum(1 for counts in per_line if counts and max(counts.values()) > _PROSE_WORDS)
    if values < 2 or prose > 1:
        return False
    for row_cells in zip(*rows, strict=True):
        texts = [" ".join(w[4] for w in cell) for cell in row_cells if cell]
        if texts and sum(t.endswith(":") for t in texts) * 2 >= len(texts):
            return False
    return True


def displayed_words(page: pymupdf.Page, words: list[Word]) -> list[Word]:
    """The words in the frame where the text runs left to right: the displayed page when a /Rotate turns
    sideways text upright, else the unrotated page."""
    if not page.rotation:
        return words
    long_words = [w for w in words if len(w[4]) >= 3] or words
    if sum(w[2] - w[0] > w[3] - w[1] for w in long_words) * 2 > len(long_words):
        return words
    matrix = page.rotation_matrix
    return [(*(pymupdf.Rect(w[:4]) * matrix), *w[4:]) for w in words]  # type: ignore[misc]


def unruled_tables(page: pymupdf.Page, words: list[Word], held: set[tuple[int, int, int]]) -> list[PageTable]:
    """The unruled tables of a page (words not `held` by a ruled table) that pass every check (module docstring)."""
    words = displayed_words(page, words)
    # words that run left to right (a word of four letters or more is wider than tall)
    free = [w for w in words if (len(w[4]) < 4 or w[2] - w[0] > w[3] - w[1]) and (not held or w[5:8] not in held)]
    if len(free) < _MIN_COLUMNS * _MIN_ROWS:
        return []
    lines = _lines(free)
    height = sorted(line[0][3] - line[0][1] for line in lines)[len(lines) // 2]
    pieces = [_pieces(line, _GUTTER * height) for line in lines]
    if sum(n >= _MIN_COLUMNS for n in pieces) < _MIN_ROWS:
        return []
    found = []
    for run, tail in _runs(lines, pieces, height):
        columns = _columns(run, _GUTTER * height)
        run = run + _tail(tail, columns)
        rows = _rows(run, columns)
        if not _is_table(rows, run, columns):
            continue
        box = [w for line in run for w in line]
        edges = (min(w[0] for w in box), min(w[1] for w in box), max(w[2] for w in box), max(w[3] for w in box))
        inside = [w for w in words if centre_in(w, edges)]
        text = [[" ".join(w[4] for w in cell).replace("|", "\\|") for cell in row] for row in rows]
        markdown = render_markdown(text)
        if markdown_words(markdown) != Counter(w[4] for w in inside):
            continue
        found.append(PageTable(pymupdf.Rect(edges), markdown, {w[5:8] for w in inside}))
    return found
