"""Run the golden fixtures through the stage functions the pipeline calls and record what each stage produced.

The work ahead of a batch's turn is `plan.run_ahead` (`plan.AHEAD`: parsing in the parser pool, the
`extracted` contract, `clean.prepare` and chunking in the preparing workers, each chunk's language), as in
the flow's `prepare_task`. The turn repeats the first `plan.AT_TURN` steps without the catalog, the embedding
and the store: `clean.deduplicate` (an empty in-memory near-duplicate index: each fixture is its own batch, so no
fixture depends on another), `clean.merged`, the `cleaned` contract, `chunk.for_documents` and
`stagework.enrich_batch`. The records are plain JSON values: no timestamps, no absolute paths, floats rounded.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

from docmill.config.offline import apply_offline_defaults
from docmill.config.settings import Settings
from docmill.records import Chunk, Document, Element, FileItem, Reject, SourceFile, StageResult
from docmill.run import plan, stagework
from docmill.sources.folder import sha256_file
from docmill.stages import chunk, clean, ingest
from docmill.state.catalog.neardup import NearDupIndex
from tests.golden.fixtures import Fixture

DIGITS = 4  # floats (quality signals, positions on a page) are rounded to this many decimals
LAYOUT = 2  # version of the record layout below; bump it when the layout changes
# a record's keys in pipeline order (golden files sort their keys)
FIXTURE, EXTRACT, CLEAN, CHUNK, ENRICH = "0_fixture", "1_extract", "2_clean", "3_chunk", "4_enrich"


def golden_settings(data_dir: Path) -> Settings:
    """The default settings (no `configs/docmill.yaml`, no `DOCMILL_*` variables: `model_validate` reads no
    environment) with a private data folder."""
    return Settings.model_validate({"paths": {"data_dir": str(data_dir)}})


def capture(fixtures: list[Fixture], work: Path) -> dict[str, dict[str, Any]]:
    """Each fixture's golden record (see `record`), keyed by fixture name; `work` holds copies and the data folder."""
    apply_offline_defaults()
    copies = work / "files"
    copies.mkdir(parents=True, exist_ok=True)
    items = []
    for fixture in fixtures:
        path = fixture.write(copies)
        items.append(FileItem(fixture.source_uri, str(path), fixture.name, path.stat().st_size, 0.0))
    listed = ingest.ingest(items, lambda _uri: None, sha256_file)
    if listed.rejects:
        raise RuntimeError(f"fixtures not readable: {[r.message for r in listed.rejects]}")
    sources = [source for source, _change in listed.records]
    settings = golden_settings(work / "data")
    try:
        ahead = plan.run_ahead(settings, plan.Batch(0, sources))
        scrub = _scrubber(work)
        records = {
            f.name: record(f, settings, s, ahead.extracted, ahead.prepared, ahead.chunked, scrub)
            for f, s in zip(fixtures, sources, strict=True)
        }
    finally:
        stagework.release_workers(settings)
    return {name: json.loads(json.dumps(r)) for name, r in records.items()}  # exactly what a golden file holds


def record(
    fixture: Fixture,
    settings: Settings,
    source: SourceFile,
    extracted: StageResult[Document],
    prepared: StageResult[Document],
    chunked: StageResult[Chunk],
    scrub: Callable[[str], str],
) -> dict[str, Any]:
    """One fixture's batch turn after the work done ahead, and what each stage produced for it."""
    mine = source.doc_id
    out: dict[str, Any] = {
        FIXTURE: {"layout": LAYOUT, "source": fixture.source, "source_uri": fixture.source_uri, "sha256": mine}
    }
    extracted, prepared, chunked = _of(extracted, mine), _of(prepared, mine), _of(chunked, mine)
    out[EXTRACT] = _documents(extracted, scrub, _extracted_document)
    near = NearDupIndex(sqlite3.connect(":memory:"), settings.clean.dedup) if settings.clean.dedup.enabled else None
    deduplicated = clean.deduplicate(prepared.records, settings.clean, lambda _hash: None, near=near)
    cleaned = stagework.contract(clean.merged(prepared, deduplicated), "cleaned", settings.validate_)
    before = {d.doc_id: d.metadata for d in extracted.records}
    out[CLEAN] = _documents(cleaned, scrub, lambda d: _cleaned_document(d, before.get(d.doc_id, {})))
    chunks = chunk.for_documents(chunked, cleaned.records)
    out[CHUNK] = {
        "chunk_config": sorted({c.metadata.get("chunk_config", "") for c in chunks.records}),  # once, not per chunk
        "chunks": [_chunk(c) for c in chunks.records],
        "rejects": _rejects(chunks.rejects, scrub),
    }
    docs = [d for d in cleaned.records if any(c.doc_id == d.doc_id for c in chunks.records)]
    metadata = {c.chunk_id: dict(c.metadata) for c in chunks.records}  # enrich replaces each chunk's metadata
    enriched = stagework.enrich_batch(settings, docs, chunks.records, [source], None)
    out[ENRICH] = _enrichment(enriched, metadata, scrub)
    return out


def plain(value: Any) -> Any:
    """`value` as JSON values: floats rounded to `DIGITS`, tuples as lists, numpy scalars as Python ones."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        items = [plain(v) for v in value]
        return sorted(items, key=str) if isinstance(value, set) else items
    if hasattr(value, "item") and not isinstance(value, str | bytes):  # numpy scalar
        value = value.item()
    if isinstance(value, float):
        return round(value, DIGITS)
    for kind in (bool, int, str):  # the type itself: e-mail headers are str subclasses
        if isinstance(value, kind):
            return kind(value)
    return None if value is None else str(value)


def _of(result: StageResult[Any], doc_id: str) -> StageResult[Any]:
    """The part of a batch's result that belongs to one document."""
    records = [r for r in result.records if r.doc_id == doc_id]
    return StageResult(records, [r for r in result.rejects if r.doc_id == doc_id], dict(result.stats))


def _documents(
    result: StageResult[Document], scrub: Callable[[str], str], describe: Callable[[Document], dict[str, Any]]
) -> dict[str, Any]:
    docs = [describe(d) for d in result.records]
    return {"document": docs[0] if docs else None, "rejects": _rejects(result.rejects, scrub)}


def _extracted_document(doc: Document) -> dict[str, Any]:
    return {
        "file_type": doc.file_type,
        "parser": doc.parser,
        "metadata": plain(doc.metadata),
        "elements": [_element(e, ("kind", "level", "text", "page", "top", "bottom", "html")) for e in doc.elements],
    }


def _cleaned_document(doc: Document, extracted_metadata: dict[str, Any]) -> dict[str, Any]:
    changed = {k: v for k, v in doc.metadata.items() if extracted_metadata.get(k) != v}
    return {
        "text_hash": doc.text_hash,
        "text_length": len(doc.text),
        "metadata_changed": plain(changed),  # what cleaning added or rewrote (redaction, quality, language)
        "elements": [_element(e, ("kind", "text", "page", "char_start", "char_end")) for e in doc.elements],
    }


def _element(element: Element, fields: tuple[str, ...]) -> dict[str, Any]:
    values = {name: plain(getattr(element, name)) for name in fields}
    return {k: v for k, v in values.items() if v is not None or k == "page"}


def _chunk(item: Chunk) -> dict[str, Any]:
    return {
        "index": item.index,
        "chunk_id": item.chunk_id,
        "text": item.text,
        "char_start": item.char_start,
        "char_end": item.char_end,
        "token_count": item.token_count,
        "page_start": item.page_start,
        "page_end": item.page_end,
        "metadata": plain({k: v for k, v in item.metadata.items() if k != "chunk_config"}),
        "context": item.context,  # what `chunk.contextualize` embeds before the text (title aside)
    }


def _enrichment(result: StageResult[Chunk], chunked: dict[str, dict[str, Any]], scrub: Callable[[str], str]) -> Any:
    """What enrichment added to the chunks' metadata: the part every chunk shares once, the rest per chunk."""
    added = [
        {k: v for k, v in plain(c.metadata).items() if plain(chunked.get(c.chunk_id, {})).get(k) != v}
        for c in result.records
    ]
    shared = {k: v for k, v in added[0].items() if all(a.get(k) == v for a in added)} if added else {}
    own = {
        str(c.index): {k: v for k, v in a.items() if k not in shared}
        for c, a in zip(result.records, added, strict=True)
    }
    return {
        "metadata": shared,
        "chunk_metadata": {index: extra for index, extra in own.items() if extra},
        "rejects": _rejects(result.rejects, scrub),
    }


def _rejects(rejects: list[Reject], scrub: Callable[[str], str]) -> list[dict[str, Any]]:
    return [
        {"stage": r.stage, "reason": r.reason, "part": r.part, "chunk_id": r.chunk_id, "message": scrub(r.message)}
        for r in rejects
    ]


def _scrubber(work: Path) -> Callable[[str], str]:
    """Messages name the working copies: the folder becomes `<work>`."""
    prefixes = sorted({str(work), str(work.resolve())}, key=len, reverse=True)

    def scrub(message: str) -> str:
        for prefix in prefixes:
            message = message.replace(prefix, "<work>")
        return message

    return scrub
