"""Chunk: structure-aware spans of the cleaned text, bounded in tokens by the embedding model's tokenizer.

Titles start new chunks; consecutive sentences are packed up to the token budget; a configurable number of
tokens overlaps between neighbouring chunks of one section. A table is a chunk of its own when it fits the
budget, otherwise it is cut between rows (never inside a cell's row, unless one row alone is over budget).
E-mail quotes and signatures that the clean stage separated are chunks of their own too, with `part` in their
metadata. A CSV row or a key-value record (`table_row`, `record` elements) is one piece: neither a boundary nor
the overlap cuts it, nor a Markdown table row. Chunks whose quality signals fail (OCR noise, broken encoding)
are rejected as `quality.<signal>`. Every chunk's text is exactly `document.text[char_start:char_end]`.

Context: every chunk records its heading path (`metadata["headings"]`: the titles in force at its start, by
their levels, e.g. `["Title", "Section", "Subsection"]`). With `chunk.contextualize`, `Chunk.context` holds the
heading path and, for a chunk that continues a table, the table's header row (at most a quarter of the model's
token limit): the embedded text (`Chunk.embedding_text`) starts with them, the chunk's `text` and span do not.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from functools import partial
from pathlib import PurePosixPath
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

from docmill.config.settings import ChunkConfig, QualityConfig
from docmill.isolation import steps
from docmill.records import Chunk, Document, Reject, StageResult, config_hash, make_chunk_id
from docmill.text import quality

_SENTENCE_END = re.compile(r"(?<=[.!?;:])\s+|\n+")
OWN_CHUNK_KINDS = ("table", "quoted", "signature")  # elements that never share a chunk with other elements
WHOLE_KINDS = ("table_row", "record")  # elements that are one piece (a CSV row, a key-value record)
_RULE = re.compile(r"^\|?\s*:?-{3,}")  # a Markdown table's header rule (`| --- | :-- |`)
_SEPARATOR_TOKENS = 2  # kept free between a context and the text (a blank line; some tokenizers count it)


class Tokenizer(Protocol):
    """Token offsets from the embedding model's own tokenizer (see `docmill.embedding.encoder.ModelTokenizer`)."""

    max_tokens: int

    def offsets(self, texts: list[str]) -> list[list[tuple[int, int]]]: ...


@dataclass(slots=True)
class _Piece:
    start: int
    end: int
    tokens: int
    page: int | None
    title: bool
    block: int | None  # index of the element (a table, a quote) the piece belongs to, if it chunks alone
    element: int  # index of the element the piece belongs to


def _sentences(doc: Document) -> list[tuple[int, int, int | None, bool, int | None, int]]:
    spans = []
    for index, element in enumerate(doc.elements):
        title = element.kind.endswith("title")
        block = index if element.kind in OWN_CHUNK_KINDS else None
        cursor = element.char_start
        if title or element.kind in WHOLE_KINDS:
            parts = [element.text]
        elif element.kind == "table":
            parts = element.text.split("\n")  # rows (Markdown) or the whole table (HTML, one line)
        else:
            parts = _SENTENCE_END.split(element.text)
        for part in parts:
            if not part:
                continue
            start = doc.text.index(part, cursor)
            spans.append((start, start + len(part), element.page, title, block, index))
            cursor = start + len(part)
    return spans


def _word_cuts(offs: list[tuple[int, int]], budget: int) -> list[tuple[int, int]]:
    """Token ranges of at most `budget` tokens that start at a word start (a gap before the token) when one
    exists, so that re-tokenising a piece never yields more tokens than counted."""
    cuts, first = [], 0
    while first < len(offs):
        end = min(first + budget, len(offs))
        if end < len(offs):
            boundary = next((k for k in range(end, first, -1) if offs[k][0] > offs[k - 1][1]), None)
            end = boundary or end
        cuts.append((first, end))
        first = end
    return cuts


def _pieces(doc: Document, tokenizer: Tokenizer, budget: int) -> list[_Piece]:
    spans = _sentences(doc)
    offsets = tokenizer.offsets([doc.text[s:e] for s, e, _, _, _, _ in spans])
    pieces: list[_Piece] = []
    for (start, end, page, title, block, index), offs in zip(spans, offsets, strict=True):
        if len(offs) <= budget:
            pieces.append(_Piece(start, end, max(len(offs), 1), page, title, block, index))
            continue
        for first, end in _word_cuts(offs, budget):  # an over-long sentence is cut between words
            part = offs[first:end]
            first_piece = title and first == 0
            pieces.append(_Piece(start + part[0][0], start + part[-1][1], len(part), page, first_piece, block, index))
    return pieces


def _pack(pieces: list[_Piece], config: ChunkConfig, budget: int) -> list[list[_Piece]]:
    groups: list[list[_Piece]] = []
    current: list[_Piece] = []
    for piece in pieces:
        size = sum(p.tokens for p in current)
        only_titles = all(p.title for p in current)
        new_section = piece.title and config.titles_start_chunks and not only_titles
        # a table (quote) starts its own chunk (headings right before it stay with it) and ends it
        block_edge = piece.block != (current[-1].block if current else None) and not (
            piece.block is not None and only_titles
        )
        if current and (new_section or block_edge):
            groups.append(current)
            current = []
        elif current and size + piece.tokens > budget:
            groups.append(current)
            carry: list[_Piece] = []
            for prev in reversed(current if piece.block is None else []):
                if sum(p.tokens for p in carry) + prev.tokens > config.overlap_tokens:
                    break
                carry.insert(0, prev)
            fits = sum(p.tokens for p in carry) + piece.tokens <= budget
            current = carry if fits and len(carry) < len(current) else []
        current.append(piece)
    if current:
        groups.append(current)
    return groups


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


def _context_reserve(doc: Document, tokenizer: Tokenizer) -> int:
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


def chunk_document(doc: Document, config: ChunkConfig, tokenizer: Tokenizer) -> list[Chunk]:
    """Split one cleaned document into chunks. With `config.contextualize`, the budget leaves room for the
    context before the text, so that the text embedded with it still fits the model's window."""
    budget = config.max_tokens or tokenizer.max_tokens
    settings_hash = config_hash(config.model_copy(update={"max_tokens": budget}))  # lineage: how it was cut
    if config.contextualize:
        budget = max(min(budget, tokenizer.max_tokens - _context_reserve(doc, tokenizer)), 8)
    groups = _pack(_pieces(doc, tokenizer, budget), config, budget)
    spans = [(g[0].start, g[-1].end, [p.page for p in g if p.page is not None]) for g in groups]
    counts = [len(o) for o in tokenizer.offsets([doc.text[s:e] for s, e, _ in spans])]
    paths, headers = heading_paths(doc), table_headers(doc)
    chunks = []
    for index, ((start, end, pages), count, group) in enumerate(zip(spans, counts, groups, strict=True)):
        text = doc.text[start:end]
        headings = paths[next((p.element for p in group if not p.title), group[-1].element)]
        meta: dict[str, Any] = {"chunk_config": settings_hash, "headings": headings}
        block = group[-1].block
        if block is not None:
            meta["part"] = doc.elements[block].kind  # table, quoted or signature
        header = next((headers[p.element] for p in group if p.element in headers), None)
        context = [*headings, header[2]] if header and header[0] < start else headings  # a table continued
        chunks.append(
            Chunk(
                make_chunk_id(doc.doc_id, index, text),
                doc.doc_id,
                index,
                text,
                count,
                start,
                end,
                min(pages) if pages else None,
                max(pages) if pages else None,
                meta,
                context="\n".join(context) if config.contextualize else None,
            )
        )
    if config.contextualize:
        fit_contexts(chunks, tokenizer)
    return chunks


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


def _judge(chunks: list[Chunk], doc: Document, config: QualityConfig) -> list[Reject]:
    """Record each chunk's quality signals; reject (and remove) those that fail (tables: damage only)."""
    rejects = []
    for item in list(chunks):
        table = item.metadata.get("part") == "table"
        values = quality.signals("" if table else item.text, document=False, tables=item.text if table else "")
        item.metadata["quality"] = values
        failed = quality.failures(values, config, document=False) if config.enabled else []
        if failed:
            message = f"chunk {item.index} dropped: " + "; ".join(map(str, failed))
            rejects.append(Reject("chunk", failed[0].reason, message, doc.doc_id, doc.source_uri, item.chunk_id))
            chunks.remove(item)
    return rejects


def _chunked(
    doc: Document, config: ChunkConfig, tokenizer: Tokenizer, checks: QualityConfig | None
) -> tuple[list[Chunk], list[Reject]]:
    """One document's chunks that pass the quality checks, and the rejects of those that do not."""
    chunks = chunk_document(doc, config, tokenizer)
    return chunks, _judge(chunks, doc, checks) if checks is not None else []


def chunk(
    docs: list[Document], config: ChunkConfig, tokenizer: Tokenizer, checks: QualityConfig | None = None
) -> StageResult[Chunk]:
    """Chunk a batch of cleaned documents; a document that yields no chunk is rejected (`no_chunks`), or
    with the reason its chunks failed the quality checks (`checks`) when all of them did."""
    started = time.perf_counter()
    result: StageResult[Chunk] = StageResult(records=[])
    dropped = 0
    for doc in docs:
        work = partial(_chunked, doc, config, tokenizer, checks)
        outcome = steps.attempt("chunk", "chunk", steps.Item(doc.doc_id, doc.source_uri), work)
        if isinstance(outcome, steps.Failure):
            result.rejects.append(outcome.reject)
            continue
        chunks, failed = outcome
        dropped += len(failed)
        result.rejects.extend(failed)
        if not chunks:
            reason, message = (failed[-1].reason, "every chunk failed") if failed else ("no_chunks", "no text to chunk")
            result.rejects.append(Reject("chunk", reason, message, doc.doc_id, doc.source_uri))
        result.records.extend(chunks)
    return result.finish(len(docs), started, chunks_rejected=dropped)


def for_documents(result: StageResult[Chunk], docs: list[Document]) -> StageResult[Chunk]:
    """The part of a chunk result that belongs to `docs` (chunking ran ahead on documents that deduplication or
    a contract dropped later), with its counters as if only `docs` had been chunked."""
    keep = {d.doc_id for d in docs}
    records = [c for c in result.records if c.doc_id in keep]
    rejects = [r for r in result.rejects if r.doc_id in keep]
    stats = {**result.stats, "in": len(docs), "out": len(records), "rejected": len(rejects)}
    stats["chunks_rejected"] = sum(r.chunk_id is not None for r in rejects)
    return StageResult(records, rejects, stats, result.worker)
