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
from typing import Any

from docmill.config.settings import ChunkConfig, QualityConfig
from docmill.isolation import steps
from docmill.records import Chunk, Document, Reject, StageResult, config_hash, make_chunk_id
from docmill.stages.context import Tokenizer, context_reserve, fit_contexts, heading_paths, table_headers
from docmill.text import quality

_SENTENCE_END = re.compile(r"(?<=[.!?;:])\s+|\n+")
OWN_CHUNK_KINDS = ("table", "quoted", "signature")  # elements that never share a chunk with other elements
WHOLE_KINDS = ("table_row", "record")  # elements that are one piece (a CSV row, a key-value record)


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


def chunk_document(doc: Document, config: ChunkConfig, tokenizer: Tokenizer) -> list[Chunk]:
    """Split one cleaned document into chunks. With `config.contextualize`, the budget leaves room for the
    context before the text, so that the text embedded with it still fits the model's window."""
    budget = config.max_tokens or tokenizer.max_tokens
    settings_hash = config_hash(config.model_copy(update={"max_tokens": budget}))  # lineage: how it was cut
    if config.contextualize:
        budget = max(min(budget, tokenizer.max_tokens - context_reserve(doc, tokenizer)), 8)
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
