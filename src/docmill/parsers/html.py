"""HTML content before partitioning: text that unstructured's `partition_html` drops is made visible, and
nesting it cannot parse is flattened, so that no part of a page is lost silently.

- Image `alt` text (`<img>`, `<area>`, `<input type=image>`) becomes inline text; the image data never does.
- `<figure>`, `<details>`, `<object>` and MathML (`<math>`) would be skipped whole: they become containers
  whose captions, summaries, fallback text and formulas (`alttext`, else their text) are read.
- Content that old table layouts put straight into a `<table>` or `<tr>`, outside any cell (a footer table,
  a paragraph, loose text), which browsers show and the partitioner skips: it gets a cell of its own, in place;
  a wrapper such as `<form>` around rows gives way to its rows.
- libxml2 stops at 256 levels of nesting (lxml without `huge_tree`) and drops the rest of the page. The page
  is parsed here with `huge_tree`; elements deeper than `_MAX_DEPTH` lose their wrapper tags (their text and
  inner blocks stay). Deeper than even `huge_tree` allows, the page is rebuilt from a streaming tokenizer
  (no depth limit): paragraphs and headings stay, the nesting goes.
"""

from __future__ import annotations

import logging
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from docmill.parsers.encoding import decode_bytes

logger = logging.getLogger(__name__)

# Tags that keep their structure below `_MAX_DEPTH` (paragraphs, list items, headings, table cells); the
# wrappers around them (div, span, font, section ...) are what pathological nesting is made of.
_KEEP_DEEP = {"table", "tr", "td", "th", "p", "li", "ul", "ol", "pre", "blockquote", "h1", "h2", "h3", "h4", "h5", "h6"}
_LIBXML_DEPTH = 250  # libxml2 stops at 256 levels without XML_PARSE_HUGE (and unstructured does not set it)
_MAX_DEPTH = 128  # well below libxml2's 256: unstructured adds no levels, but leaves room
_CELLS = {"td", "th"}
_TABLE_PARTS = {"tr", "thead", "tbody", "tfoot", "caption", "colgroup", "col"}
_BLOCK_WRAPPERS = {"figure": "div", "details": "div", "summary": "p", "figcaption": "p", "object": "div"}
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([A-Za-z0-9_.:-]+)""", re.IGNORECASE)
_DEPTH_ERROR = "excessive depth"
_SKIP = {"script", "style", "template", "noscript", "head", "title"}
_BLOCKS = {
    "p", "div", "br", "li", "tr", "table", "section", "article", "header", "footer", "blockquote", "pre",
    "figcaption", "figure", "dt", "dd", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "ul", "ol", "dl", "td", "th",
}  # fmt: skip


def decode_html(data: bytes) -> str:
    """The page's text: a BOM or UTF-16/32 shape first, then its declared `<meta charset>`, then detection."""
    declared = _META_CHARSET.search(data[:4096])
    if declared and not data.startswith((b"\xff\xfe", b"\xfe\xff", b"\xef\xbb\xbf")) and b"\x00" not in data[:64]:
        try:
            return data.decode(declared.group(1).decode("ascii").lower())
        except (LookupError, UnicodeDecodeError):
            pass
    return decode_bytes(data)[0]


def _text_for_alt(element: Any, text: str) -> None:
    """Replace an element by a span holding `text` (its tail text stays in place)."""
    from lxml import html

    span = html.Element("span")
    span.text = f" {text} "
    span.tail = element.tail
    element.getparent().replace(element, span)


def _reveal(root: Any) -> None:
    """Alt text, figures, details, object fallbacks and formulas become text that the partitioner reads."""
    for element in list(root.iter("img", "area", "input")):
        alt = (element.get("alt") or "").strip()
        if element.getparent() is None or (element.tag == "input" and element.get("type") != "image"):
            continue
        if alt:
            _text_for_alt(element, alt)
    for element in list(root.iter("math")):
        if element.getparent() is not None:
            formula = (element.get("alttext") or " ".join(element.itertext())).strip()
            if formula:
                _text_for_alt(element, formula)
    for element in root.iter(*_BLOCK_WRAPPERS):
        element.tag = _BLOCK_WRAPPERS[element.tag]


def _holder(container: Any) -> tuple[Any, Any]:
    """A new cell for stray content of `container`: (what to insert, the cell), a row around it in a table."""
    from lxml import html

    cell = html.Element("td")
    if container.tag == "tr":
        return cell, cell
    row = html.Element("tr")
    row.append(cell)
    return row, cell


def _has_rows(element: Any) -> bool:
    return element.tag != "table" and next(element.iter("tr", "td", "th"), None) is not None


def _cells_for_strays(root: Any) -> None:
    """Content in a table or row outside any cell gets a cell of its own, where it stands (see the docstring)."""
    for container in list(root.iter("table", "thead", "tbody", "tfoot", "tr")):
        allowed = _CELLS if container.tag == "tr" else _TABLE_PARTS
        while wrappers := [c for c in container if isinstance(c.tag, str) and c.tag not in allowed and _has_rows(c)]:
            for wrapper in wrappers:
                wrapper.drop_tag()  # a <form> around rows: the rows stay, the wrapper goes
        if (container.text or "").strip():
            holder, cell = _holder(container)
            cell.text, container.text = container.text, None
            container.insert(0, holder)
        for child in list(container):
            if not isinstance(child.tag, str):
                continue
            if child.tag not in allowed:
                holder, cell = _holder(container)
                child.addprevious(holder)
                cell.append(child)  # its tail text moves along, into the cell
            elif (child.tail or "").strip():
                holder, cell = _holder(container)
                cell.text, child.tail = child.tail, None
                child.addnext(holder)


def _max_depth(root: Any) -> int:
    deepest, stack = 0, [(root, 0)]
    while stack:
        element, depth = stack.pop()
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in element)
    return deepest


def _flatten_deep(root: Any) -> int:
    """Drop the tags (not the content) of elements nested deeper than `_MAX_DEPTH`; returns how many."""
    deep = []
    stack = [(root, 0)]
    while stack:
        element, depth = stack.pop()
        if depth > _MAX_DEPTH and isinstance(element.tag, str):
            deep.append(element)
        stack.extend((child, depth + 1) for child in element)
    for element in reversed(deep):  # innermost first: each drop moves children one level up
        if element.getparent() is not None and element.tag not in _KEEP_DEEP:
            element.drop_tag()
    return len(deep)


class _Blocks(HTMLParser):
    """Streaming tokenizer: visible text, split into blocks at block-level tags (no tree, no depth limit)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[tuple[str, str]] = []
        self._skip = 0
        self._heading = ""
        self._parts: list[str] = []

    def flush(self) -> None:
        text = " ".join("".join(self._parts).split())
        if text:
            self.blocks.append((self._heading or "p", text))
        self._parts = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            self._skip += 1
        elif tag in _BLOCKS:
            self.flush()
            self._heading = tag if tag[0] == "h" and tag[1:].isdigit() else ""
        elif tag == "img" and (alt := dict(attrs).get("alt")):
            self._parts.append(f" {alt} ")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self._skip = max(0, self._skip - 1)
        elif tag in _BLOCKS:
            self.flush()
            self._heading = ""

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self._parts.append(data)


def text_blocks(text: str) -> list[tuple[str, str]]:
    """(tag, text) of each block of an HTML fragment, `h1`-`h6` for headings, else `p` (streaming, cheap)."""
    tokenizer = _Blocks()
    tokenizer.feed(text)
    tokenizer.close()
    tokenizer.flush()  # the last open block
    return tokenizer.blocks


def _streamed(text: str) -> str:
    """A flat page rebuilt from the tokenizer's blocks (headings kept)."""
    from html import escape

    body = "".join(f"<{tag}>{escape(block)}</{tag}>" for tag, block in text_blocks(text))
    return f"<html><body>{body}</body></html>"


def prepared_html(path: Path) -> str:
    """The page as HTML text that `partition_html` reads whole (see the module's docstring)."""
    from lxml import etree, html

    text = decode_html(path.read_bytes())
    parser = html.HTMLParser(encoding="utf-8", huge_tree=True, remove_comments=True)
    try:
        root = html.document_fromstring(text.encode("utf-8"), parser=parser)
    except (etree.ParserError, ValueError):
        logger.info("%s: HTML rebuilt from a streaming tokenizer (unparsable as a tree)", path.name)
        return _streamed(text)
    if any(_DEPTH_ERROR in entry.message.lower() for entry in parser.error_log):
        logger.info("%s: HTML rebuilt from a streaming tokenizer (nesting beyond the parser's limit)", path.name)
        return _streamed(text)
    _reveal(root)
    _cells_for_strays(root)
    flattened = _flatten_deep(root)
    if _max_depth(root) >= _LIBXML_DEPTH:  # nested lists or quotes all the way down
        logger.info("%s: HTML rebuilt from a streaming tokenizer (nesting of structural tags)", path.name)
        return _streamed(text)
    if flattened:
        logger.info("%s: %d HTML elements nested deeper than %d lost their tags", path.name, flattened, _MAX_DEPTH)
    return str(html.tostring(root, encoding="unicode"))
