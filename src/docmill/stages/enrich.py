"""Enrich: attach document metadata (source, type, hash, title, dates, pages, language, department) to chunks."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import PurePath
from typing import Any
from urllib.parse import unquote, urlparse

from docmill import steps
from docmill.records import Chunk, Document, SourceFile, StageResult
from docmill.settings import EnrichConfig
from docmill.sources.folder import glob_match

_CARRIED = ("author", "created", "modified", "last_modified", "subject", "sent_from", "sent_to", "encoding")


def path_labels(path: str, config: EnrichConfig) -> dict[str, str]:
    """Department and category from the first path rule whose glob matches the file's POSIX path."""
    posix = PurePath(path).as_posix().lstrip("/")
    for rule in config.rules:
        if glob_match(posix, rule.pattern.lstrip("/")):
            return {k: v for k, v in (("department", rule.department), ("category", rule.category)) if v}
    return {}


def _origin_path(source: SourceFile) -> str:
    """The file's path in its source folder (for an archive member: the archive's path)."""
    outer = source.source_uri.split("!/", 1)[0]
    remote = not outer.startswith("file:")  # a connector's item: its path in the source, not the staged copy
    return unquote(urlparse(outer).path) if "!/" in source.source_uri or remote else source.path


def _title(doc: Document, source: SourceFile) -> str:
    title = str(doc.metadata.get("title") or "").strip()
    if title:
        return title
    first = next((e.text for e in doc.elements if e.kind.endswith("title")), "")
    return first.split("\n")[0][:200] if first else PurePath(source.path).stem


def location_metadata(source: SourceFile, config: EnrichConfig) -> dict[str, Any]:
    """The metadata that depends on where the bytes are (not what they are): updated in place when a file
    moves, without re-extracting or re-embedding it. `department` and `category` only when a rule matches."""
    meta: dict[str, Any] = {
        "source_uri": source.source_uri,
        "source_path": source.path,
        "file_name": PurePath(source.path).name,
        "file_mtime": datetime.fromtimestamp(source.mtime, UTC).isoformat(timespec="seconds"),
    }
    meta.update(path_labels(_origin_path(source), config))
    meta.update(source.metadata)  # from the connector: SQL columns, mail thread (message_id, thread_id, ...)
    return meta


def document_metadata(
    doc: Document, source: SourceFile, config: EnrichConfig, language: Callable[[str], str] | None
) -> dict[str, Any]:
    """The metadata every chunk of `doc` carries."""
    meta: dict[str, Any] = {
        **location_metadata(source, config),
        "file_type": doc.file_type,
        "sha256": source.doc_id,
        "size_bytes": source.size,
        "title": _title(doc, source),
        "pages": doc.metadata.get("pages"),
        "parser": doc.parser,
    }
    meta.update({k: doc.metadata[k] for k in _CARRIED if doc.metadata.get(k)})
    # from the clean stage: PII counts by type (never values), document quality signals, near-duplicate link
    for key, name in (("pii_counts", "pii"), ("quality", "document_quality"), ("near_duplicate_of", None)):
        if doc.metadata.get(key):
            meta[name or key] = doc.metadata[key]
    if "!/" in source.source_uri:  # a member of an archive: keep the way back to it
        meta["container_uri"] = source.source_uri.rsplit("!/", 1)[0]
    if language and config.detect_language:
        meta["language"] = doc.metadata.get("language") or language(doc.text[:5000])
    return meta


def chunk_languages(chunks: list[Chunk], config: EnrichConfig, language: Callable[[str], str] | None) -> None:
    """Give each chunk its own language (`chunk_language`), when detection is on. A function of the chunk's text
    alone, so the pipeline runs it with the chunking, ahead of the batch's turn; `enrich` fills in what is
    missing (a chunk whose detection failed here fails there again, as its document's reject)."""
    if language and config.detect_language:
        for item in chunks:
            who = steps.Item(item.doc_id, chunk_id=item.chunk_id)
            outcome = steps.attempt("enrich", "enrich", who, partial(language, item.text))
            if isinstance(outcome, str):
                item.metadata["chunk_language"] = outcome


def _enriched(
    doc: Document, chunks: list[Chunk], source: SourceFile, config: EnrichConfig, language: Callable[[str], str] | None
) -> list[Chunk]:
    meta = document_metadata(doc, source, config, language)
    if language and config.detect_language:
        for item in chunks:
            if "chunk_language" not in item.metadata:
                item.metadata["chunk_language"] = language(item.text)
    for item in chunks:
        item.metadata = {**meta, **item.metadata}
    return chunks


def enrich(
    docs: list[Document],
    chunks: list[Chunk],
    sources: dict[str, SourceFile],
    config: EnrichConfig,
    language: Callable[[str], str] | None = None,
) -> StageResult[Chunk]:
    """Give every chunk its document's metadata and its own language. A document whose enrichment fails is
    rejected (`step_failed:enrich:<Exception>`) with its chunks."""
    started = time.perf_counter()
    by_doc: dict[str, list[Chunk]] = {}
    for item in chunks:
        by_doc.setdefault(item.doc_id, []).append(item)
    result: StageResult[Chunk] = StageResult(records=[])
    for doc in docs:
        work = partial(_enriched, doc, by_doc.get(doc.doc_id, []), sources[doc.doc_id], config, language)
        outcome = steps.attempt("enrich", "enrich", steps.Item(doc.doc_id, doc.source_uri), work)
        if isinstance(outcome, steps.Failure):
            result.rejects.append(outcome.reject)
        else:
            result.records.extend(outcome)
    return result.finish(len(chunks), started)
