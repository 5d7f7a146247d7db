"""RSS and Atom feeds: the feed's title and description, then per item its title, author, date and text (the
HTML of `description`, `content:encoded` or Atom `content`/`summary` read as HTML); links, GUIDs, categories
and the XML itself are not content."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from docmill.parsers import Parsed, ParseError, describe
from docmill.parsers.html import text_blocks
from docmill.records import Element

_CONTENT = "{http://purl.org/rss/1.0/modules/content/}encoded"
_DC_CREATOR = "{http://purl.org/dc/elements/1.1/}creator"


def _local(tag: Any) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _child(node: Any, *names: str) -> Any:
    for name in names:
        for child in node:
            if child.tag == name or _local(child.tag) == name:
                return child
    return None


def _text(node: Any) -> str:
    return " ".join("".join(node.itertext()).split()) if node is not None else ""


def _html(node: Any) -> list[Element]:
    """An element whose text is HTML (escaped or inline XHTML) as paragraphs and headings."""
    if node is None:
        return []
    from lxml import etree

    markup = node.text or "" if not len(node) else etree.tostring(node, encoding="unicode")
    return [Element(text, "title" if tag[0] == "h" else "text") for tag, text in text_blocks(markup)]


def _entry(node: Any) -> list[Element]:
    elements = [Element(_text(_child(node, "title")), "title")]
    author = _child(node, _DC_CREATOR, "author")
    byline = " · ".join(t for t in (_text(author), _text(_child(node, "pubDate", "published", "updated"))) if t)
    if byline:
        elements.append(Element(byline, "text"))
    body = _html(_child(node, _CONTENT, "content"))
    return elements + (body or _html(_child(node, "description", "summary")))


def parse_feed(path: Path, ext: str = "") -> Parsed:
    """One title per item, its byline and its text.

    Raises:
        ParseError: `corrupt_xml` or `empty`.
    """
    from lxml import etree

    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)
    try:
        root = etree.fromstring(path.read_bytes(), parser)
    except etree.XMLSyntaxError as exc:
        raise ParseError("corrupt_xml", describe(exc)) from exc
    channel = _child(root, "channel") if _local(root.tag) == "rss" else root
    if channel is None:
        raise ParseError("corrupt_xml", "an RSS document without a channel")
    elements = [Element(_text(_child(channel, "title")), "title")]
    elements += _html(_child(channel, "description", "subtitle"))
    entries = [child for child in channel if _local(child.tag) in ("item", "entry")]
    entries += [child for child in root if _local(child.tag) == "item"]  # RSS 1.0 (RDF) keeps items outside
    for entry in entries:
        elements += _entry(entry)
    elements = [e for e in elements if e.text.strip()]
    if not elements:
        raise ParseError("empty", "the feed holds no text")
    return Parsed(elements, {"format": _local(root.tag), "items": len(entries)}, "docmill.feed")
