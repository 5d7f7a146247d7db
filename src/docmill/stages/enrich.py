"""Enrich: attach document metadata (source, type, hash, title, dates, pages, language, department) to chunks,
and root each chunk's heading path (`headings`) and its context (`chunk.contextualize`) at the document title."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import PurePath
from typing import Any, Protocol
from urllib.parse import unquote_to_bytes, urlparse

from docmill.config.globs import glob_match
from docmill.config.settings import EnrichConfig
from docmill.isolation import steps
from docmill.records import Chunk, Document, SourceFile, StageResult
from docmill.stages.context import Tokenizer, fit_contexts


class NameRedactor(Protocol):
    """PII in names (see `docmill.text.pii.Redactor.name` and `.uri`)."""

    def name(self, name: str) -> str: ...

    def uri(self, uri: str) -> str: ...

    def value(self, value: Any) -> Any: ...


# Version of the redaction of names in location metadata (`docmill.text.pii.Redactor.name`): part of the catalog's
# config key, so raising it re-enriches every document (vectors are reused: the texts do not change).
NAME_REDACTION = 2  # 2: metadata values too (connector columns, e-mail headers, document properties)

_CARRIED = ("author", "created", "modified", "last_modified", "subject", "sent_from", "sent_to", "encoding")
_CARRIED_TEXT = ("author", "subject", "sent_from", "sent_to")  # free text: redacted like the document's text
# every key docmill itself writes into a chunk's metadata and its point's payload (lineage, positions, the
# context, quality, flags): a connector's field of one of these names (a SQL column named `source_uri`, `title`
# or `context`) is kept as `source_<name>`, so it can neither forge docmill's lineage nor be lost under it. The
# document properties of `_CARRIED` (author, subject, ...) are no such key: a connector's value (a mail's
# subject) stands until the document's own replaces it
OWN_KEYS = frozenset(
    {
        *("text", "doc_id", "chunk_id", "chunk_index", "char_start", "char_end", "page_start", "page_end"),
        *("token_count", "run_id", "context", "headings", "chunk_config", "part", "quality", "chunk_language"),
        *("model", "sparse_model", "semantic_duplicate_of", "semantic_duplicate_doc", "semantic_duplicate_cosine"),
        *("source_uri", "source_path", "file_name", "file_mtime", "container_uri", "department", "category"),
        *("file_type", "sha256", "size_bytes", "title", "pages", "parser", "language", "pii", "document_quality"),
        "near_duplicate_of",
    }
)


def path_labels(path: str, config: EnrichConfig) -> dict[str, str]:
    """Department and category from the first path rule whose glob matches the file's POSIX path."""
    posix = PurePath(path).as_posix().lstrip("/")
    for rule in config.rules:
        if glob_match(posix, rule.pattern.lstrip("/")):
            return {k: v for k, v in (("department", rule.department), ("category", rule.category)) if v}
    return {}


def display_path(uri_path: str) -> str:
    """A URI's path for people and payloads: decoded where it is UTF-8; bytes that are not (a POSIX file name
    may hold any) stay percent-encoded, so nothing is lost and every output stays valid UTF-8."""
    raw = unquote_to_bytes(uri_path).decode("utf-8", "surrogateescape")
    return "".join(f"%{ord(c) - 0xDC00:02X}" if "\udc80" <= c <= "\udcff" else c for c in raw)


def _origin_path(source: SourceFile) -> str:
    """The file's path in its source (for an archive member: the archive's path), from its URI: the local
    `path` is a private copy (folder items) or a staged download (connectors)."""
    return display_path(urlparse(source.source_uri.split("!/", 1)[0]).path)


def _source_path(source: SourceFile) -> str:
    """Where the document's bytes are: the file in its folder, or the staged/derived copy of anything else."""
    local = source.source_uri.startswith("file:") and "!/" not in source.source_uri
    return _origin_path(source) if local else source.path


def _title(doc: Document, source: SourceFile, names: NameRedactor | None) -> str:
    title = str(doc.metadata.get("title") or "").strip()
    if title:
        return str(names.value(title)) if names else title
    first = next((e.text for e in doc.elements if e.kind.endswith("title")), "")
    stem = PurePath(_source_path(source)).stem
    return first.split("\n")[0][:200] if first else names.name(stem) if names else stem


def location_metadata(source: SourceFile, config: EnrichConfig, names: NameRedactor | None = None) -> dict[str, Any]:
    """The metadata that depends on where the bytes are (not what they are): updated in place when a file
    moves, without re-extracting or re-embedding it. `department` and `category` only when a rule matches
    (on the raw path). With `names`, the PII in the URI, path and names is replaced: the chunks, their points
    and every export carry the redacted names; only the catalog's sources and documents keep the raw ones."""
    uri, path = source.source_uri, _source_path(source)
    meta: dict[str, Any] = {
        "source_uri": names.uri(uri) if names else uri,
        "source_path": names.name(path) if names else path,
        "file_name": names.name(PurePath(path).name) if names else PurePath(path).name,
        "file_mtime": datetime.fromtimestamp(source.mtime, UTC).isoformat(timespec="seconds"),
    }
    if "!/" in uri:  # a member of an archive or an attachment: keep the way back to its container
        container = uri.rsplit("!/", 1)[0]
        meta["container_uri"] = names.uri(container) if names else container
    meta.update(path_labels(_origin_path(source), config))
    # from the connector: SQL columns, mail thread (message_id, thread_id, ...); their text redacted like names
    for key, value in source.metadata.items():
        meta[connector_key(key)] = names.value(value) if names else value
    return meta


def connector_key(name: str) -> str:
    """The metadata key of a connector's field `name`: the name itself, or `source_<name>` when docmill writes a
    key of that name itself (`OWN_KEYS`)."""
    return f"source_{name}" if name in OWN_KEYS else name


def document_metadata(
    doc: Document,
    source: SourceFile,
    config: EnrichConfig,
    language: Callable[[str], str] | None,
    names: NameRedactor | None = None,
) -> dict[str, Any]:
    """The metadata every chunk of `doc` carries (names redacted with `names`, see `location_metadata`)."""
    meta: dict[str, Any] = {
        **location_metadata(source, config, names),
        "file_type": doc.file_type,
        "sha256": source.doc_id,
        "size_bytes": source.size,
        "title": _title(doc, source, names),
        "pages": doc.metadata.get("pages"),
        "parser": doc.parser,
    }
    carried = {k: doc.metadata[k] for k in _CARRIED if doc.metadata.get(k)}
    meta.update({k: names.value(v) if names and k in _CARRIED_TEXT else v for k, v in carried.items()})
    # from the clean stage: PII counts by type (never values), document quality signals, near-duplicate link
    for key, name in (("pii_counts", "pii"), ("quality", "document_quality"), ("near_duplicate_of", None)):
        if doc.metadata.get(key):
            meta[name or key] = doc.metadata[key]
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
    doc: Document,
    chunks: list[Chunk],
    source: SourceFile,
    config: EnrichConfig,
    language: Callable[[str], str] | None,
    names: NameRedactor | None,
    tokenizer: Tokenizer | None,
) -> list[Chunk]:
    meta = document_metadata(doc, source, config, language, names)
    if language and config.detect_language:
        for item in chunks:
            if "chunk_language" not in item.metadata:
                item.metadata["chunk_language"] = language(item.text)
    for item in chunks:
        item.metadata = {**meta, **item.metadata}
        item.metadata["headings"] = rooted(item.metadata.get("headings") or [], meta["title"])
    titled(chunks, meta["title"], tokenizer)
    return chunks


def titled(chunks: list[Chunk], title: str, tokenizer: Tokenizer | None) -> None:
    """Put the document title first in the context of every chunk that has one (`chunk.contextualize`), then,
    given the model's `tokenizer`, cut each context to what the model's window leaves free beside its chunk
    (`context.fit_contexts`: a long title may not fit beside a long chunk)."""
    for item in chunks:
        if item.context is not None:
            item.context = "\n".join(rooted([line for line in item.context.split("\n") if line], title))
    if tokenizer is not None:
        fit_contexts(chunks, tokenizer)


def rooted(headings: list[str], title: str) -> list[str]:
    """A chunk's heading path under its document's title (unless the path starts with it already), so that
    every chunk has one: a dataset column that is empty in every row of a split would lose its type there."""
    return [title, *headings] if title and headings[:1] != [title] else list(headings)


def enrich(
    docs: list[Document],
    chunks: list[Chunk],
    sources: dict[str, SourceFile],
    config: EnrichConfig,
    language: Callable[[str], str] | None = None,
    names: NameRedactor | None = None,
    tokenizer: Tokenizer | None = None,
) -> StageResult[Chunk]:
    """Give every chunk its document's metadata (names redacted with `names`) and its own language; put the
    title first in every chunk's context (`chunk.contextualize`), cut to what the model's window leaves free
    (`context.fit_contexts`) given the model's `tokenizer`. A document whose enrichment fails is rejected
    (`step_failed:enrich:<Exception>`) with its chunks."""
    started = time.perf_counter()
    by_doc: dict[str, list[Chunk]] = {}
    for item in chunks:
        by_doc.setdefault(item.doc_id, []).append(item)
    result: StageResult[Chunk] = StageResult(records=[])
    for doc in docs:
        work = partial(
            _enriched, doc, by_doc.get(doc.doc_id, []), sources[doc.doc_id], config, language, names, tokenizer
        )
        outcome = steps.attempt("enrich", "enrich", steps.Item(doc.doc_id, doc.source_uri), work)
        if isinstance(outcome, steps.Failure):
            result.rejects.append(outcome.reject)
        else:
            result.records.extend(outcome)
    return result.finish(len(chunks), started)
