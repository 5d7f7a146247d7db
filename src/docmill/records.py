"""Typed records that flow between stages, and the content-derived identities they carry.

Identity is content: a document's id is the sha256 of its source bytes, a chunk's id is derived from
(doc_id, position, text), and a Qdrant point id is the uuid5 of the chunk id.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import numpy as np

T = TypeVar("T")

POINT_NAMESPACE = uuid.UUID("6f0d2b7e-4a5c-5e2a-9b1f-d0c0ffee0001")


def sha256_hex(data: bytes | str) -> str:
    """Hex sha256 of bytes, or of a string encoded as UTF-8."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    return hashlib.sha256(data).hexdigest()


def make_chunk_id(doc_id: str, index: int, text: str) -> str:
    """Stable chunk id from its document, position and text."""
    return sha256_hex(f"{doc_id}:{index}:{sha256_hex(text)}")[:32]


def make_point_id(chunk_id: str) -> str:
    """Qdrant point id: uuid5 of the chunk id, so re-uploading updates instead of duplicating."""
    return str(uuid.uuid5(POINT_NAMESPACE, chunk_id))


def config_hash(config: Any) -> str:
    """Short hash of a settings model (or any JSON-able value), stable across key order."""
    data = config.model_dump(mode="json") if hasattr(config, "model_dump") else config
    return sha256_hex(json.dumps(data, sort_keys=True, default=str))[:16]


@dataclass(slots=True, frozen=True)
class FileItem:
    """One item as listed by a source: `relative` is its stable id within the source, `version` its change
    marker (mtime, etag, row version), `path` its local bytes (empty until a remote item is fetched; for a
    folder item the listed path, replaced by ingest with a private copy of the bytes it hashed)."""

    source_uri: str
    path: str
    relative: str
    size: int
    mtime: float
    version: str = ""
    metadata: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    identity: tuple[int, int] | None = field(default=None, compare=False)  # (st_dev, st_ino) as listed
    target: str = ""  # a folder item read through another path below the root (a link's target)

    @property
    def read_path(self) -> str:
        """The path below the source root whose bytes this item is."""
        return self.target or self.relative


@dataclass(slots=True)
class SourceFile:
    """One file found by ingest. `doc_id` is the sha256 of its bytes."""

    source_uri: str
    path: str
    size: int
    mtime: float
    doc_id: str
    extension: str
    version: str = ""  # the source's change marker (mtime, etag, row version), for incremental fetching
    metadata: dict[str, Any] = field(default_factory=dict)  # from the connector (SQL columns, mail thread)


@dataclass(slots=True)
class Element:
    """A structural piece of a document: a title, a paragraph, a table, a list item."""

    text: str
    kind: str = "text"
    page: int | None = None
    char_start: int = 0
    char_end: int = 0
    top: float | None = None  # paged formats: vertical position on the page, 0 = top edge, 1 = bottom edge
    bottom: float | None = None
    html: str | None = None  # tables read from HTML (unstructured): the source structure, never in `text`
    level: int | None = None  # a title's heading level: 0 the document title, 1 a top section, 2 below it...


@dataclass(slots=True)
class Document:
    """A parsed (and later cleaned) document. `text` is set by the clean stage."""

    doc_id: str
    source_uri: str
    file_type: str
    elements: list[Element]
    metadata: dict[str, Any] = field(default_factory=dict)
    parser: str = ""
    text: str = ""
    text_hash: str = ""


@dataclass(slots=True)
class SparseVector:
    """A sparse lexical vector: term ids (sorted, unique) and their weights (`docmill.embedding.sparse`)."""

    indices: list[int] = field(default_factory=list)
    values: list[float] = field(default_factory=list)


@dataclass(slots=True)
class Chunk:
    """A span of a cleaned document's text, the unit that gets embedded."""

    chunk_id: str
    doc_id: str
    index: int
    text: str
    token_count: int
    char_start: int
    char_end: int
    page_start: int | None = None
    page_end: int | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    vector: np.ndarray | None = None
    sparse: SparseVector | None = None  # set by the embed stage, next to `vector`
    # `chunk.contextualize`: what is put before the text when it is embedded (the chunker's heading path and a
    # split table's header row, enrich's document title first); None when contextualizing is off. Never part of
    # `text` or its span; stored with the chunk (`stored_metadata`), so a point rebuilt from its payload gets
    # the same sparse vector.
    context: str | None = None

    @property
    def point_id(self) -> str:
        """The Qdrant point id of this chunk."""
        return make_point_id(self.chunk_id)

    @property
    def text_hash(self) -> str:
        """sha256 of the chunk text (the span `document.text[char_start:char_end]`)."""
        return sha256_hex(self.text)

    @property
    def embedding_text(self) -> str:
        """The text that is embedded: with `context` set (enrich puts the document title first), the context
        lines, a blank line and the chunk text; else the chunk text."""
        lines = [line for line in (self.context or "").split("\n") if line]
        return "\n".join(lines) + "\n\n" + self.text if lines else self.text

    def stored_metadata(self) -> dict[str, Any]:
        """The metadata the catalog, the point payload and the dataset rows keep: `metadata` and, when set, the
        `context` (what was embedded before the text is part of where the vector came from)."""
        return self.metadata if self.context is None else {**self.metadata, "context": self.context}

    @property
    def cache_key(self) -> str:
        """The embedding cache key together with the model id: `text_hash` when the text is embedded alone (so
        vectors cached without context stay valid), else the hash of both texts' hashes."""
        if self.context is None:
            return self.text_hash
        return sha256_hex(f"{self.text_hash}:{sha256_hex(self.embedding_text)}")


@dataclass(frozen=True, slots=True)
class SemanticMatch:
    """The canonical chunk a chunk is a semantic near-duplicate of, and the cosine of their dense vectors."""

    chunk_id: str
    doc_id: str
    cosine: float


@dataclass(slots=True)
class Reject:
    """A document or chunk that left the pipeline, with the stage and a specific reason code."""

    stage: str
    reason: str
    message: str
    doc_id: str | None = None
    source_uri: str | None = None
    chunk_id: str | None = None
    part: str | None = None  # a part dropped from a document that goes on, e.g. `page 3`
    duplicate_of: str | None = None  # a duplicate reject (`DUPLICATE_REASONS`): the doc_id of the canonical copy

    @property
    def whole_document(self) -> bool:
        """True when the document itself left the pipeline (not one of its chunks or parts)."""
        return self.doc_id is not None and self.chunk_id is None and self.part is None


@dataclass(slots=True)
class StageResult(Generic[T]):
    """What every stage returns: records that go on, rejects with reasons, and counters."""

    records: list[T]
    rejects: list[Reject] = field(default_factory=list)
    stats: dict[str, float] = field(default_factory=dict)
    worker: str = ""  # `host:pid` of the process that did the work, when it may not be the flow's (stagework)

    def finish(self, count_in: int, started: float, **extra: float) -> StageResult[T]:
        """Fill the counters every stage reports (in, out, rejected, seconds) plus stage-specific ones."""
        self.stats = {
            "in": count_in,
            "out": len(self.records),
            "rejected": len(self.rejects),
            "seconds": time.perf_counter() - started,
            **extra,
        }
        return self


@dataclass(frozen=True, slots=True)
class DatasetVersion:
    """A dataset version as the version stage leaves it: DVC's id of its folder, its git tag, its rows, whether
    this cut made it (False: the chunks were byte-identical to the current version, which is reported again)
    and the seconds the cut took."""

    version_id: str
    tag: str
    rows: int
    new: bool
    seconds: float = 0.0

    @property
    def stats(self) -> dict[str, float]:
        """The version stage's counters in the run summary: `rows`, `new_version` (0 or 1), `seconds`."""
        return {"rows": self.rows, "new_version": int(self.new), "seconds": self.seconds}
