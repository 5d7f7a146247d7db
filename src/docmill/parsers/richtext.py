"""Rich-text JSON (ProseMirror and Box notes, Slate, Lexical, Draft.js, Quill deltas, editor exports): the text
of its text-bearing string values, one element per block, instead of every key path.

A JSON value is rich text when most of its wordy string characters sit under `text` (or Quill's `insert`) keys
inside a tree of `content`/`children`/`blocks`/`nodes`/`ops` lists. Record-like JSON (meaningful field
names) is not, and keeps its `key: value` lines (see `docmill.parsers.structured`).
"""

from __future__ import annotations

import re
from typing import Any

from docmill.records import Element

_CHILDREN = ("content", "children", "blocks", "nodes", "ops")
_TEXT_KEYS = ("text", "insert")
_WORDS = re.compile(r"\w\s+\w")
_INLINE_TYPES = {"text", "hardbreak", "hard_break", "linebreak", "emoji", "mention", "link", "hashtag"}


def _chars(value: Any, under_text: bool = False) -> tuple[int, int]:
    """(characters in text-key strings, characters in those and in other strings that hold words); keys and
    identifier-like values (`paragraph`, `header-one`, ids) are not counted."""
    if isinstance(value, str):
        if under_text:
            return len(value), len(value)
        return 0, (len(value) if _WORDS.search(value) else 0)
    text = total = 0
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else []
    for key, item in items:
        t, n = _chars(item, key in _TEXT_KEYS)
        text, total = text + t, total + n
    return text, total


def _has_tree(value: Any) -> bool:
    if isinstance(value, dict):
        return any(isinstance(value.get(k), list) for k in _CHILDREN) or any(_has_tree(v) for v in value.values())
    return isinstance(value, list) and any(_has_tree(v) for v in value)


def is_rich_text(value: Any) -> bool:
    """Most string characters are under text keys, inside a tree of child lists."""
    text, total = _chars(value)
    return total > 0 and text >= 0.5 * total and _has_tree(value)


def _kind(node: dict[str, Any]) -> str:
    kind = str(node.get("type") or node.get("style") or "").lower()
    if "head" in kind or "title" in kind:
        return "title"
    if "item" in kind or "bullet" in kind or "list" in kind:
        return "list_item"
    return "code" if "code" in kind else "text"


def _is_inline(node: Any) -> bool:
    if isinstance(node, str):
        return True
    if not isinstance(node, dict):
        return False
    kind = str(node.get("type", "")).lower()
    return (kind in _INLINE_TYPES or (not kind and "text" in node)) and not any(k in node for k in _CHILDREN[2:])


def _inline_text(node: Any) -> str:
    if isinstance(node, str):
        return node
    if str(node.get("type", "")).lower() in ("hardbreak", "hard_break", "linebreak"):
        return "\n"
    own = node.get("text") if isinstance(node.get("text"), str) else ""
    children: list[Any] = next((node[k] for k in _CHILDREN if isinstance(node.get(k), list)), [])
    return own + "".join(_inline_text(c) for c in children if isinstance(c, (dict, str)))


def _quill(ops: list[Any]) -> list[Element]:
    text = "".join(op["insert"] for op in ops if isinstance(op, dict) and isinstance(op.get("insert"), str))
    return [Element(line.strip(), "text") for line in text.split("\n") if line.strip()]


def rich_text_elements(value: Any) -> list[Element]:
    """One element per block of a rich-text tree, in document order."""
    if isinstance(value, list):
        return [e for item in value for e in rich_text_elements(item)]
    if not isinstance(value, dict):
        return []
    if isinstance(value.get("ops"), list):
        return _quill(value["ops"])
    children = next((value[k] for k in _CHILDREN if isinstance(value.get(k), list)), None)
    if children is not None and children and all(_is_inline(c) for c in children):
        text = "".join(_inline_text(c) for c in children).strip()
        return [Element(text, _kind(value))] if text else []
    if children is None and isinstance(value.get("text"), str):  # a Draft.js block: text on the block itself
        return [Element(value["text"].strip(), _kind(value))] if value["text"].strip() else []
    if children is not None:
        return [e for child in children for e in rich_text_elements(child)]
    return [e for item in value.values() if isinstance(item, (dict, list)) for e in rich_text_elements(item)]
