"""A chunk's context: the heading path in force where it starts, a continued table's header row, and the
budget both take before the chunk's text when it is embedded (`chunk.contextualize`).

A context takes at most `context_limit` tokens (a quarter of the model's limit). The chunker leaves room for
each document's longest context (`context_reserve`) and cuts what does not fit (`fit_contexts`); enrich puts
the document title first and fits the contexts again (`enrich.titled`): the model never truncates a chunk's
own text. Used by `stages/chunk.py` and `stages/enrich.py`.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import Protocol
from urllib.parse import unquote, urlsplit

from docmill.records import Chunk, Document

_RULE = re.compile(r"^\|?\s*:?-{3,}")  # a Markdown table's header rule (`| --- | :-- |`)
_SEPARATOR_TOKENS = 2  # kept free between a context and the text (a blank line; some tokenizers count it)


class Tokenizer(Protocol):
    """Token offsets from the embedding model's own tokenizer (see `docmill.embedding.encoder.ModelTokenizer`)."""

    max_tokens: int

    def offsets(self, texts: list[str]) -> list[list[tuple[int, int]]]: ...


def context_limit(tokenizer: Tokenizer) -> int:
    """The most tokens a chunk's context (title, heading path, table header) may take: a quarter of the model's
    limit (a CSV header of thousands of characters, a heading made of a whole paragraph must not crowd the
    chunk's own text out of what the model reads)."""
    return max(tokenizer.max_tokens // 4, 16)


def _title_guess(doc: Document) -> str:
    """The title enrich will most likely give `doc` (before names are redacted): its own, its first title's
    first line, or its file name's stem."""
    own = str(doc.metadata.get("title") or "").strip()
    first = next((e.text for e in doc.elements if e.kind.endswith("title")), "")
    return own or first.split("\n")[0][:200] or PurePosixPath(unquote(urlsplit(doc.source_uri).path)).stem


def context_reserve(doc: Document, tokenizer: Tokenizer) -> int:
    """Tokens the chunks of `doc` leave free for their context: the longest context any of its chunks can get
    (title, heading path and table header row), at most `context_limit`, and the blank line after it."""
    paths, headers = heading_paths(doc), table_headers(doc)
    title = _title_guess(doc)
    contexts = {title}
    for index, path in enumerate(paths):
        lines = [*path, *([headers[index][2]] if index in headers else [])]
        contexts.add("\n".join(lines if lines[:1] == [title] else [title, *lines]))  # as enrich roots them
    longest = max((len(offs) for offs in tokenizer.offsets(sorted(contexts))), default=0)
    return min(longest, context_limit(tokenizer)) + _SEPARATOR_TOKENS


def fit_contexts(chunks: list[Chunk], tokenizer: Tokenizer) -> None:
    """Cut every chunk's context to what fits: at most `context_limit` tokens, and no more than the chunk's own
    text leaves free of the model's window, so the embedded text (`Chunk.embedding_text`) is never truncated by
    the model. The chunker reserves room for the context; enrich fits it again once the title is known."""
    framed = [c for c in chunks if c.context]
    limit = context_limit(tokenizer)
    for item, offs in zip(framed, tokenizer.offsets([c.context or "" for c in framed]), strict=True):
        room = min(limit, tokenizer.max_tokens - item.token_count - _SEPARATOR_TOKENS)
        if len(offs) > room:
            item.context = item.context[: offs[room - 1][1]] if room > 0 else ""  # type: ignore[index]


def _heading(text: str) -> str:
    return " ".join(text.split())[:200]


def heading_paths(doc: Document) -> list[list[str]]:
    """For every element, the heading path in force there: the titles before it (and itself) by level, a title
    ending the sections of its level and below (a title without a level is a top section). A title that heads
    CSV rows is their header, not a heading."""
    stack: list[tuple[int, str]] = []
    paths = []
    for index, element in enumerate(doc.elements):
        following = doc.elements[index + 1].kind if index + 1 < len(doc.elements) else ""
        if element.kind.endswith("title") and following != "table_row" and _heading(element.text):
            level = 1 if element.level is None else element.level
            while stack and stack[-1][0] >= level:
                stack.pop()
            stack.append((level, _heading(element.text)))
        paths.append([text for _, text in stack])
    return paths


def table_headers(doc: Document) -> dict[int, tuple[int, int, str]]:
    """Element index -> (start, end, text) of the header row of the table it belongs to: a Markdown table's
    first row (when a rule follows it; the rule itself tells a model nothing), or the title heading a run of CSV
    rows."""
    headers: dict[int, tuple[int, int, str]] = {}
    current: tuple[int, int, str] | None = None
    for index, element in enumerate(doc.elements):
        if element.kind == "table" and element.text.startswith("|"):
            lines = element.text.split("\n")
            if len(lines) > 1 and _RULE.match(lines[1]):
                headers[index] = (element.char_start, element.char_start + len(lines[0]), lines[0])
        elif element.kind == "table_row":
            before = doc.elements[index - 1] if index else None
            if before is not None and before.kind.endswith("title"):
                current = (before.char_start, before.char_end, before.text)
            if current is not None:
                headers[index] = current
        else:
            current = None
    return headers
