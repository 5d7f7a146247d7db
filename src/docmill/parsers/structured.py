"""JSON, NDJSON, YAML, XML, reStructuredText and Org: cheap parsers that keep structure as text."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from docmill.parsers import Parsed, ParseError, describe
from docmill.parsers.text import read_text
from docmill.records import Element

_RST_UNDERLINE = re.compile(r"^([=\-~^\"'`#*+])\1{2,}\s*$")
_ORG_HEADING = re.compile(r"^\*+\s+(.*)$")


def _flatten(value: Any, prefix: str = "") -> list[str]:
    """`path: value` lines for every scalar in a JSON-like value."""
    if isinstance(value, dict):
        return [
            line for key, item in value.items() for line in _flatten(item, f"{prefix}.{key}" if prefix else str(key))
        ]
    if isinstance(value, list):
        return [line for i, item in enumerate(value) for line in _flatten(item, f"{prefix}[{i}]")]
    if value is None or value == "":
        return []
    if isinstance(value, bool):  # as JSON and YAML write it, not Python's True/False
        value = "true" if value else "false"
    return [f"{prefix}: {value}" if prefix else str(value)]


def _records(values: list[Any], parser: str, meta: dict[str, Any]) -> Parsed:
    from docmill.parsers.richtext import is_rich_text, rich_text_elements

    if values and is_rich_text(values):  # editor documents: their text, not their key paths
        elements = [e for e in rich_text_elements(values) if e.text]
        if elements:
            return Parsed(elements, {**meta, "records": len(values), "rich_text": True}, parser)
    elements = [Element("\n".join(lines), "record") for value in values if (lines := _flatten(value))]
    if not elements:
        raise ParseError("empty", "no values in the structured file")
    return Parsed(elements, {**meta, "records": len(values)}, parser)


def parse_json(path: Path, ext: str = "") -> Parsed:
    """JSON: a top-level list gives one element per item, anything else one element."""
    text, encoding = read_text(path)
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ParseError("corrupt_json", f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from exc
    return _records(value if isinstance(value, list) else [value], "docmill.json", {"encoding": encoding})


def parse_ndjson(path: Path, ext: str = "") -> Parsed:
    """NDJSON/JSON Lines: one element per line; invalid lines are counted in the metadata."""
    text, encoding = read_text(path)
    values, bad = [], 0
    for line in text.splitlines():
        if line.strip():
            try:
                values.append(json.loads(line))
            except json.JSONDecodeError:
                bad += 1
    if not values:
        raise ParseError("corrupt_json", f"none of the {bad} lines is valid JSON")
    return _records(values, "docmill.ndjson", {"encoding": encoding, "invalid_lines": bad})


def parse_yaml(path: Path, ext: str = "") -> Parsed:
    """YAML (safe loader; every document of a stream)."""
    import yaml

    text, encoding = read_text(path)
    try:
        values = [v for v in yaml.safe_load_all(text) if v is not None]
    except yaml.YAMLError as exc:
        raise ParseError("corrupt_yaml", describe(exc)) from exc
    return _records(values, "docmill.yaml", {"encoding": encoding})


def parse_xml(path: Path, ext: str = "") -> Parsed:
    """XML: one element per child of the root, with its text (no entity expansion, no network)."""
    from lxml import etree

    data = path.read_bytes()
    try:
        root = etree.fromstring(data, etree.XMLParser(resolve_entities=False, no_network=True, recover=False))
    except etree.XMLSyntaxError as exc:
        if "excessive depth" not in str(exc).lower():
            raise ParseError("corrupt_xml", describe(exc)) from exc
        # valid XML nested deeper than libxml2's default 256 levels: not corrupt; entities stay unexpanded
        deep = etree.XMLParser(resolve_entities=False, no_network=True, recover=False, huge_tree=True)
        try:
            root = etree.fromstring(data, deep)
        except etree.XMLSyntaxError as again:
            raise ParseError("corrupt_xml", describe(again)) from again
    elements = []
    for child in root if len(root) else [root]:
        text = " ".join(t.strip() for t in child.itertext() if t.strip())
        if text:
            elements.append(Element(text, "record"))
    if not elements:
        raise ParseError("empty", "the XML holds no text")
    return Parsed(elements, {"root": etree.QName(root).localname}, "docmill.xml")


def parse_markup(path: Path, ext: str = "") -> Parsed:
    """reStructuredText (underlined titles) and Org (`*` headings): titles and paragraphs."""
    text, encoding = read_text(path)
    lines = text.splitlines()
    elements: list[Element] = []
    paragraph: list[str] = []

    def flush() -> None:
        if paragraph:
            elements.append(Element("\n".join(paragraph), "text"))
            paragraph.clear()

    for i, line in enumerate(lines):
        org = _ORG_HEADING.match(line) if (ext or path.suffix.lower()) == ".org" else None
        rst_title = i + 1 < len(lines) and line.strip() and _RST_UNDERLINE.match(lines[i + 1])
        if org or rst_title:
            flush()
            elements.append(Element((org.group(1) if org else line).strip(), "title"))
        elif _RST_UNDERLINE.match(line) or not line.strip():
            flush()
        else:
            paragraph.append(line)
    flush()
    if not elements:
        raise ParseError("empty", "no text")
    return Parsed(elements, {"encoding": encoding}, f"docmill{ext or path.suffix.lower()}")
