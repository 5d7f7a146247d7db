"""PDF heading levels: from the outline (bookmarks) when the file has one, else from the font size and weight
of the title blocks relative to the body text.

The parser marks short single-line blocks as titles (`pdf._looks_like_title`); this module gives them levels
(`Element.level`, which the chunker turns into heading paths). With an outline, a block whose whole text is an
outline entry of its page becomes a title of that entry's level; a title the outline does not name is a
heading below its deepest level. Without one, the body size is the font size that holds most characters; the
distinct sizes of titles set larger than the body (by 10 %) are levels 1, 2, ... from the largest (at most
five), a bold title at body size the next level, any other title the one below it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from docmill.records import Element

_BOLD = 16  # pymupdf span flag
_SIZES = 5  # distinct heading sizes that get a level of their own


@dataclass(frozen=True, slots=True)
class Font:
    """The font most of a block's characters are set in: size (to half a point), bold, character count."""

    size: float
    bold: bool
    chars: int


def block_fonts(page: Any, textpage: Any) -> dict[int, Font]:
    """Block number -> the dominant font of each text block of a page (same numbers as `get_text("blocks")`
    on the same text page)."""
    fonts = {}
    for block in page.get_text("dict", textpage=textpage, sort=False)["blocks"]:
        if block.get("type") != 0:
            continue
        sizes: Counter[float] = Counter()
        bold = chars = 0
        for line in block["lines"]:
            for span in line["spans"]:
                count = len(span["text"].strip())
                sizes[round(span["size"] * 2) / 2] += count
                bold += count if span["flags"] & _BOLD else 0
                chars += count
        if chars:
            fonts[block["number"]] = Font(sizes.most_common(1)[0][0], bold * 2 > chars, chars)
    return fonts


def _key(text: str) -> str:
    return "".join(text.split()).casefold()


def outline_levels(elements: list[Element], toc: list[list[Any]]) -> None:
    """Give titles the outline's levels (in place): see the module docstring."""
    entries: dict[tuple[int, str], int] = {}
    anywhere: dict[str, int] = {}
    for level, title, page, *_ in toc:
        entries.setdefault((page, _key(title)), level)
        anywhere.setdefault(_key(title), level)
    below = max(level for level, *_ in toc) + 1
    for element in elements:
        if element.kind not in ("title", "text"):
            continue
        key = _key(element.text)
        level = entries.get((element.page or 0, key)) or (anywhere.get(key) if element.kind == "title" else None)
        if level is not None:
            element.kind, element.level = "title", level
        elif element.kind == "title":
            element.level = below


def font_levels(elements: list[Element], fonts: list[Font | None]) -> None:
    """Give titles levels from their fonts (in place): see the module docstring."""
    by_size: Counter[float] = Counter()
    for element, font in zip(elements, fonts, strict=True):
        if font is not None and element.kind == "text":
            by_size[font.size] += font.chars
    if not by_size:
        by_size.update({f.size: f.chars for f in fonts if f is not None})
    if not by_size:
        return
    body = by_size.most_common(1)[0][0]
    larger = {f.size for e, f in zip(elements, fonts, strict=True) if f and e.kind == "title" and f.size > body * 1.1}
    ranks = {size: rank for rank, size in enumerate(sorted(larger, reverse=True)[:_SIZES], 1)}
    smallest = min(ranks, default=body * 1.1)
    for element, font in zip(elements, fonts, strict=True):
        if element.kind != "title" or font is None:
            continue
        if font.size in ranks:
            element.level = ranks[font.size]
        elif font.size >= smallest:
            element.level = len(ranks)
        else:
            element.level = len(ranks) + (1 if font.bold else 2)
