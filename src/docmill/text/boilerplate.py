"""Boilerplate: repeated page headers/footers and page numbers; quoted replies and signatures in e-mails.

Headers and footers are found per document, not by a fixed list: a line among the first or last two lines of
a page is a header/footer when the same line (case and digits ignored, so `Page 3 of 9` and `Page 4 of 9`
agree) appears at the top or bottom of at least `header_footer_min_share` of the pages. Bare page numbers at
a page's edge go too. Where the parser gave positions, only lines in the top or bottom 15 % of the page count.

Only pages with layout evidence are searched: elements with positions on the page, or pages of a fixed-layout
file (a scan's OCR text, see `FIXED_LAYOUT_TYPES`). Flowing formats (DOCX, ODT, PPTX, HTML) keep their
running headers in parts of their own, which their parsers emit as `header`/`footer` elements; their "pages"
(rendered breaks, slides) start and end with body text, list items included, that recurs for other reasons.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator

from docmill.config.settings import CleanConfig
from docmill.records import Element

_EDGE_LINES = 2
_EDGE_ZONE = 0.15
_DIGITS = re.compile(r"\d+")
_PAGE_NUMBER = re.compile(
    r"^(?:page|seite|p\.|pg\.?)?\s*[-\u2013(\[]?\s*#\s*(?:(?:of|/|von|sur)\s*#)?\s*[-\u2013)\]]?$"
)
_REPLY_HEADER = re.compile(
    r"^(?:On .{4,200} wrote:|-{2,}\s*Original Message\s*-{2,}|-{2,}\s*Forwarded message\s*-{2,}"
    r"|_{10,}|Am .{4,200} schrieb .{1,200}:|Le .{4,200} a écrit\s?:)$",
    re.IGNORECASE,
)
_OUTLOOK_HEADER = re.compile(r"^From:\s.+", re.IGNORECASE)
_SIGNATURE = re.compile(r"^(?:--|-- |Sent from my .{2,40}|Get Outlook for .{2,20})$")
EMAIL_TYPES = frozenset({"eml", "msg", "email", "mbox"})
# Files whose pages are physical pages even where the parser gave no positions (OCR of scans and images).
FIXED_LAYOUT_TYPES = frozenset({"pdf", "tif", "tiff", "png", "jpg", "jpeg", "bmp", "gif", "webp", "heic"})


def _key(line: str) -> str:
    return _DIGITS.sub("#", " ".join(line.casefold().split()))


def _pages(elements: list[Element], fixed_layout: bool) -> dict[int, list[int]]:
    pages: dict[int, list[int]] = {}
    for index, element in enumerate(elements):
        if element.page is not None and (fixed_layout or element.top is not None):
            pages.setdefault(element.page, []).append(index)
    return pages


def _edges(elements: list[Element], indexes: list[int]) -> Iterator[tuple[int, int, str]]:
    """(element index, line number, line) of the first and last lines of one page, within the edge zones."""
    lines = [(i, n, line) for i in indexes for n, line in enumerate(elements[i].text.split("\n")) if line.strip()]
    chosen = lines[:_EDGE_LINES] + lines[_EDGE_LINES:][-_EDGE_LINES:]
    for i, n, line in chosen:
        top, bottom = elements[i].top, elements[i].bottom
        at_top = top is None or top <= _EDGE_ZONE
        at_bottom = bottom is None or bottom >= 1 - _EDGE_ZONE
        if at_top or at_bottom:
            yield i, n, line


def strip_headers_footers(
    elements: list[Element], config: CleanConfig, fixed_layout: bool = False
) -> tuple[list[Element], int]:
    """Remove recurring page-edge lines and page numbers; returns the elements left and the lines removed.

    Args:
        elements: the document's elements.
        config: the clean settings (minimum pages and share).
        fixed_layout: the file's pages are physical pages (see `FIXED_LAYOUT_TYPES`); otherwise only elements
            with positions on their page are considered.
    """
    pages = _pages(elements, fixed_layout)
    if len(pages) < config.header_footer_min_pages:
        return elements, 0
    edges = {page: list(_edges(elements, indexes)) for page, indexes in pages.items()}
    seen = Counter(key for found in edges.values() for key in {_key(line) for _, _, line in found})
    needed = max(2, config.header_footer_min_share * len(pages))
    drop: dict[int, set[int]] = {}
    for found in edges.values():
        for i, n, line in found:
            key = _key(line)
            if seen[key] >= needed or _PAGE_NUMBER.match(key):
                drop.setdefault(i, set()).add(n)
    kept: list[Element] = []
    for index, element in enumerate(elements):
        if index in drop:
            lines = [line for n, line in enumerate(element.text.split("\n")) if n not in drop[index]]
            element.text = "\n".join(lines).strip()
        if element.text:
            kept.append(element)
    return kept, sum(len(lines) for lines in drop.values())


def _state_after(line: str, previous: str | None, state: str) -> str:
    """The part (`body`, `signature`, `quoted`) a line of an e-mail body belongs to."""
    stripped = line.strip()
    if state == "quoted":
        return state
    outlook = _OUTLOOK_HEADER.match(stripped) and previous is not None and not previous.strip()
    if _REPLY_HEADER.match(stripped) or outlook or stripped.startswith(">"):
        return "quoted"
    if state == "body" and _SIGNATURE.match(line.rstrip()):
        return "signature"
    return state


def split_email(elements: list[Element], config: CleanConfig) -> tuple[list[Element], Counter[str]]:
    """Mark quoted replies and signatures: kept, dropped or separated into `quoted`/`signature` elements.

    The body ends at a signature delimiter (`-- `, `Sent from my ...`) or a reply header (`On ... wrote:`,
    `-----Original Message-----`, an Outlook `From:` block, `>` lines); once quoting starts, the rest of the
    message is quoted (replies quote downwards). Returns the elements and the number of parts marked."""
    counts: Counter[str] = Counter()
    if config.email_quotes == "keep":
        return elements, counts
    result: list[Element] = []
    state, previous, last = "body", None, ""
    for element in elements:
        parts: list[tuple[str, list[str]]] = []
        for line in element.text.split("\n"):
            state = "quoted" if element.kind == "quoted" else _state_after(line, previous, state)
            if not parts or parts[-1][0] != state:
                parts.append((state, []))
            parts[-1][1].append(line)
            previous = line
        for part, lines in parts:
            text = "\n".join(lines).strip()
            if not text:
                continue
            if part != "body" and last == part:  # consecutive pieces: one quote, one signature
                if config.email_quotes == "separate":
                    result[-1].text += "\n" + text
                continue
            last = part
            if part != "body":
                counts[part] += 1
                if config.email_quotes == "drop":
                    continue
            kind = element.kind if part == "body" else part
            result.append(
                Element(text, kind, element.page, top=element.top, bottom=element.bottom, level=element.level)
            )
    return result, counts
