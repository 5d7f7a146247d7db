"""Jupyter notebooks (`.ipynb`): Markdown cells as Markdown, code cells as code, text outputs as text; the
notebook's JSON keys, ids, execution counts and image outputs (base64) are not content."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from docmill.parsers import Parsed, ParseError
from docmill.parsers.text import markdown_elements, read_text
from docmill.records import Element

_TEXT_OUTPUTS = ("text/plain", "text/markdown")


def _source(value: Any) -> str:
    return "".join(value) if isinstance(value, list) else str(value or "")


def _outputs(cell: dict[str, Any]) -> list[Element]:
    elements = []
    for output in cell.get("outputs") or []:
        if output.get("output_type") == "stream":
            text = _source(output.get("text"))
        elif output.get("output_type") == "error":
            text = f"{output.get('ename', '')}: {output.get('evalue', '')}"
        else:
            data = output.get("data") or {}
            text = next((_source(data[kind]) for kind in _TEXT_OUTPUTS if kind in data), "")
        if text.strip():
            elements.append(Element(text.strip(), "text"))
    return elements


def parse_notebook(path: Path, ext: str = "") -> Parsed:
    """One element per Markdown block, code cell and text output, in cell order.

    Raises:
        ParseError: `corrupt_ipynb` (not a notebook's JSON) or `empty`.
    """
    text, encoding = read_text(path)
    try:
        notebook = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ParseError("corrupt_ipynb", f"invalid JSON at line {exc.lineno} column {exc.colno}") from exc
    if not isinstance(notebook, dict) or not isinstance(notebook.get("cells"), list):
        raise ParseError("corrupt_ipynb", "no `cells` list: not a Jupyter notebook (nbformat 4)")
    elements: list[Element] = []
    for cell in notebook["cells"]:
        source = _source(cell.get("source")).strip()
        if cell.get("cell_type") == "markdown":
            elements += markdown_elements(source)
        elif source:
            elements.append(Element(source, "code" if cell.get("cell_type") == "code" else "text"))
        elements += _outputs(cell)
    meta = notebook.get("metadata") or {}
    title = meta.get("title")
    if isinstance(title, str) and title.strip() and not any(e.text == title.strip() for e in elements):
        elements.insert(0, Element(title.strip(), "title"))
    if not elements:
        raise ParseError("empty", "the notebook's cells hold no text")
    language = (meta.get("kernelspec") or {}).get("language") or (meta.get("language_info") or {}).get("name")
    info = {"encoding": encoding, "cells": len(notebook["cells"]), "language": language}
    return Parsed(elements, {k: v for k, v in info.items() if v}, "docmill.ipynb")
