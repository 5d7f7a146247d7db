"""Chunk: structure-aware spans of the cleaned text, bounded in tokens by the embedding model's tokenizer.

Titles start new chunks; consecutive sentences are packed up to the token budget; a configurable number of
tokens overlaps between neighbouring chunks of one section. A table is a chunk of its own when it fits the
budget, otherwise it is cut between rows (never inside a cell's row, unless one row alone is over budget).
Every chunk's text is exactly `document.text[char_start:char_end]`.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Protocol

from docmill.records import Chunk, Document, Reject, StageResult, config_hash, make_chunk_id
from docmill.settings import ChunkConfig

_SENTENCE_END = re.compile(r"(?<=[.!?;:])\s+|\n+")


class Tokenizer(Protocol):
    """Token offsets from the embedding model's own tokenizer (see `docmill.embedding.ModelTokenizer`)."""

    max_tokens: int

    def offsets(self, texts: list[str]) -> list[list[tuple[int, int]]]: ...


@dataclass(slots=True)
class _Piece:
    start: int
    end: int
    tokens: int
    page: int | None
    title: bool
    table: int | None  # index of the table element the piece belongs to


def _sentences(doc: Document) -> list[tuple[int, int, int | None, bool, int | None]]:
    spans = []
    for index, element in enumerate(doc.elements):
        title = element.kind.endswith("title")
        table = index if element.kind == "table" else None
        cursor = element.char_start
        if title:
            parts = [element.text]
        elif table is not None:
            parts = element.text.split("\n")  # rows (Markdown) or the whole table (HTML, one line)
        else:
            parts = _SENTENCE_END.split(element.text)
        for part in parts:
            if not part:
                continue
            start = doc.text.index(part, cursor)
            spans.append((start, start + len(part), element.page, title, table))
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
    offsets = tokenizer.offsets([doc.text[s:e] for s, e, _, _, _ in spans])
    pieces: list[_Piece] = []
    for (start, end, page, title, table), offs in zip(spans, offsets, strict=True):
        if len(offs) <= budget:
            pieces.append(_Piece(start, end, max(len(offs), 1), page, title, table))
            continue
        for first, end in _word_cuts(offs, budget):  # an over-long sentence is cut between words
            part = offs[first:end]
            pieces.append(_Piece(start + part[0][0], start + part[-1][1], len(part), page, title and first == 0, table))
    return pieces


def _pack(pieces: list[_Piece], config: ChunkConfig, budget: int) -> list[list[_Piece]]:
    groups: list[list[_Piece]] = []
    current: list[_Piece] = []
    for piece in pieces:
        size = sum(p.tokens for p in current)
        only_titles = all(p.title for p in current)
        new_section = piece.title and config.titles_start_chunks and not only_titles
        # a table starts its own chunk (headings right before it stay with it) and ends it
        table_edge = piece.table != (current[-1].table if current else None) and not (
            piece.table is not None and only_titles
        )
        if current and (new_section or table_edge):
            groups.append(current)
            current = []
        elif current and size + piece.tokens > budget:
            groups.append(current)
            carry: list[_Piece] = []
            for prev in reversed(current if piece.table is None else []):
                if sum(p.tokens for p in carry) + prev.tokens > config.overlap_tokens:
                    break
                carry.insert(0, prev)
            fits = sum(p.tokens for p in carry) + piece.tokens <= budget
            current = carry if fits and len(carry) < len(current) else []
        current.append(piece)
    if current:
        groups.append(current)
    return groups


def chunk_document(doc: Document, config: ChunkConfig, tokenizer: Tokenizer) -> list[Chunk]:
    """Split one cleaned document into chunks."""
    budget = config.max_tokens or tokenizer.max_tokens
    settings_hash = config_hash(config.model_copy(update={"max_tokens": budget}))  # lineage: how it was cut
    groups = _pack(_pieces(doc, tokenizer, budget), config, budget)
    spans = [(g[0].start, g[-1].end, [p.page for p in g if p.page is not None]) for g in groups]
    counts = [len(o) for o in tokenizer.offsets([doc.text[s:e] for s, e, _ in spans])]
    chunks = []
    for index, ((start, end, pages), count) in enumerate(zip(spans, counts, strict=True)):
        text = doc.text[start:end]
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
                {"chunk_config": settings_hash},
            )
        )
    return chunks


def chunk(docs: list[Document], config: ChunkConfig, tokenizer: Tokenizer) -> StageResult[Chunk]:
    """Chunk a batch of cleaned documents; a document that yields no chunk is rejected (`no_chunks`)."""
    started = time.perf_counter()
    result: StageResult[Chunk] = StageResult(records=[])
    for doc in docs:
        chunks = chunk_document(doc, config, tokenizer)
        if not chunks:
            result.rejects.append(Reject("chunk", "no_chunks", "no text to chunk", doc.doc_id, doc.source_uri))
        result.records.extend(chunks)
    return result.finish(len(docs), started)
