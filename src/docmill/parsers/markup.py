"""Markup formats read as their format, through pandoc's document tree (`-t json`), so that only content
remains: LaTeX, JATS/NLM, DocBook, FictionBook, OPML, AsciiDoc, MediaWiki, Textile, Typst and EPUB.

Headings become titles, list items list items, tables Markdown pipe tables, everything else paragraphs; link
targets, raw TeX/HTML, comments, citation keys and image data are not content. Title, subtitle, authors,
date and abstract of the document's metadata come first (JATS and LaTeX keep the abstract there). Footnotes
follow the block that cites them.

pandoc: the binary shipped in the `pypandoc-binary` wheel (a recent pandoc: AsciiDoc and Typst readers) is
preferred; Debian's `pandoc` serves where it has the reader. A format whose reader no installed pandoc has is
quarantined as `missing_dependency:pandoc-<format>-reader`.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from docmill.parsers import OPTIONS, Parsed, ParseError, scrub
from docmill.parsers.pandoc import find_pandoc
from docmill.records import Element

FORMATS = {
    ".tex": "latex", ".latex": "latex", ".nxml": "jats", ".jats": "jats", ".dbk": "docbook", ".docbook": "docbook",
    ".fb2": "fb2", ".opml": "opml", ".adoc": "asciidoc", ".asciidoc": "asciidoc", ".wiki": "mediawiki",
    ".mediawiki": "mediawiki", ".textile": "textile", ".typ": "typst", ".epub": "epub",
}  # fmt: skip
_META_FIRST = ("title", "subtitle", "author", "date", "abstract", "description")
_INLINE_CONTAINERS = {"Emph", "Underline", "Strong", "Strikeout", "Superscript", "Subscript", "SmallCaps"}


def _inlines(nodes: list[dict[str, Any]], notes: list[str]) -> str:
    """Plain text of a list of inline nodes; footnotes go to `notes`."""
    parts: list[str] = []
    for node in nodes:
        kind, content = node["t"], node.get("c", [])
        if kind == "Str":
            parts.append(content)
        elif kind in ("Space", "SoftBreak"):
            parts.append(" ")
        elif kind == "LineBreak":
            parts.append("\n")
        elif kind in _INLINE_CONTAINERS:
            parts.append(_inlines(content, notes))
        elif kind == "Quoted":
            quote = '"' if content[0]["t"] == "DoubleQuote" else "'"
            parts.append(quote + _inlines(content[1], notes) + quote)
        elif kind in ("Cite", "Span") or kind in ("Link", "Image"):
            parts.append(_inlines(content[1], notes))
        elif kind in ("Code", "Math"):
            parts.append(content[1])
        elif kind == "Note":
            notes.append("\n".join(e.text for e in _blocks(content, notes)))
    return "".join(parts)


def _cells(row: list[Any], notes: list[str]) -> list[str]:
    return [" ".join(e.text for e in _blocks(cell[4], notes)).replace("|", "\\|").replace("\n", " ") for cell in row[1]]


def _table(content: list[Any], notes: list[str]) -> list[Element]:
    """A pandoc table as a Markdown pipe table (header row, then body and foot rows), its caption before it."""
    _, caption, _, head, bodies, foot = content
    rows = [_cells(row, notes) for row in head[1]]
    for body in bodies:
        rows += [_cells(row, notes) for row in body[2] + body[3]]
    rows += [_cells(row, notes) for row in foot[1]]
    elements = _blocks(caption[1], notes)
    if rows:
        width = max(len(r) for r in rows)
        lines = ["| " + " | ".join(r + [""] * (width - len(r))) + " |" for r in rows]
        lines.insert(1, "| " + " | ".join(["---"] * width) + " |")
        elements.append(Element("\n".join(lines), "table"))
    return elements


def _blocks(nodes: list[dict[str, Any]], notes: list[str]) -> list[Element]:
    """Elements of a list of block nodes."""
    elements: list[Element] = []
    for node in nodes:
        kind, content = node["t"], node.get("c", [])
        if kind in ("Para", "Plain"):
            elements.append(Element(_inlines(content, notes), "text"))
        elif kind == "LineBlock":
            elements.append(Element("\n".join(_inlines(line, notes) for line in content), "text"))
        elif kind == "CodeBlock":
            elements.append(Element(content[1], "code"))
        elif kind == "Header":
            elements.append(Element(_inlines(content[2], notes), "title", level=content[0]))
        elif kind in ("BulletList", "OrderedList"):
            for item in content if kind == "BulletList" else content[1]:
                elements.append(Element("\n".join(e.text for e in _blocks(item, notes)), "list_item"))
        elif kind == "DefinitionList":
            for term, definitions in content:
                elements.append(Element(_inlines(term, notes), "text"))
                elements += [e for definition in definitions for e in _blocks(definition, notes)]
        elif kind in ("BlockQuote", "Div"):
            elements += _blocks(content if kind == "BlockQuote" else content[1], notes)
        elif kind == "Figure":
            elements += _blocks(content[2], notes) + _blocks(content[1][1], notes)
        elif kind == "Table":
            elements += _table(content, notes)
        if notes and kind not in ("Div", "BlockQuote"):
            elements += [Element(note, "text") for note in notes]
            notes.clear()
    return [e for e in elements if e.text.strip()]


def _meta_text(value: dict[str, Any]) -> str:
    kind, content = value["t"], value.get("c", [])
    if kind == "MetaString":
        return str(content)
    if kind == "MetaInlines":
        return _inlines(content, [])
    if kind == "MetaBlocks":
        return "\n".join(e.text for e in _blocks(content, []))
    if kind == "MetaList":
        return "; ".join(_meta_text(item) for item in content)
    if kind == "MetaMap":
        return "; ".join(_meta_text(item) for item in content.values())
    return ""


def _metadata(meta: dict[str, Any]) -> tuple[list[Element], dict[str, Any]]:
    elements, fields = [], {}
    for key in _META_FIRST:
        if key in meta and (text := _meta_text(meta[key]).strip()):
            fields[key] = text
            elements.append(Element(text, "title", level=0) if key == "title" else Element(text, "text"))
    return elements, fields


def parse_markup(path: Path, ext: str = "") -> Parsed:
    """Read a markup file with pandoc's reader for its format.

    Raises:
        ParseError: `missing_dependency:pandoc-<format>-reader`, `corrupt_<format>` or `empty`.
    """
    ext = ext or path.suffix.lower()
    reader = FORMATS[ext]
    pandoc = find_pandoc(reader)
    if pandoc is None:
        raise ParseError(
            f"missing_dependency:pandoc-{reader}-reader",
            f"no installed pandoc reads {reader} (install the pypandoc-binary wheel, or pandoc >= 3.8)",
        )
    proc = subprocess.run(
        [pandoc.path, f"--from={reader}", "--to=json", str(path)],
        capture_output=True,
        timeout=float(OPTIONS.get("timeout_s", 300)),
        check=False,
    )
    if proc.returncode != 0:
        raise ParseError(f"corrupt_{reader}", scrub(proc.stderr.decode(errors="replace")))
    tree = json.loads(proc.stdout)
    elements, fields = _metadata(tree.get("meta", {}))
    elements += _blocks(tree.get("blocks", []), [])
    if not elements:
        raise ParseError("empty", f"pandoc's {reader} reader found no text")
    return Parsed(elements, {**fields, "format": reader}, f"pandoc-{pandoc.version}")
