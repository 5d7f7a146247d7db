"""Cleaning (the part before deduplication) and chunking of each document in killable worker processes.

Both are per-document work whose cost grows with the document (a 50 MB text spent minutes in cleaning and
took the flow process to 2 GB), so they get the same bounds as parsing: `extract.timeout_s` per document and
`extract.max_memory_mb` of address space per worker (`docmill.isolation.workers`). A document over either is
quarantined at the `clean` stage as `timeout` or `too_large`, and the worker is replaced; a worker that dies
gives `worker_crashed`. The workers load the tokenizer, the language identifier and the PII recognisers once
(in their setup, before a time limit runs).
"""

from __future__ import annotations

import time
from typing import Any

from docmill.config.settings import Settings
from docmill.isolation.workers import Work, WorkerPool
from docmill.parsers import ParseError
from docmill.records import Chunk, Document, Reject, StageResult
from docmill.run import adapters

PREPARE = Work(
    run="docmill.run.preparing:prepare_job",
    setup="docmill.run.preparing:setup_preparer",
    stage="clean",
    step="prepare",
    doing="cleaning and chunking",
    crashed="worker_crashed",
)


def options(settings: Settings, pii_key: str | None) -> dict[str, Any]:
    """What a preparing worker needs: the run's settings (as a plain `Settings`: one bound to a config file is
    of a class made at run time, which a spawned process cannot import) and the flow's PII key fingerprint."""
    return {"settings": Settings.model_validate(settings.model_dump(by_alias=True)), "pii_key": pii_key}


def pool(settings: Settings, pii_key: str | None) -> WorkerPool:
    """A pool of `extract.workers` preparing processes with the parsers' time and memory limits."""
    cfg = settings.extract
    return WorkerPool(PREPARE, cfg.workers, cfg.timeout_s, cfg.max_memory_mb, options(settings, pii_key))


def setup_preparer(opts: dict[str, Any], _max_memory_mb: int) -> None:
    """Load the worker's adapters (tokenizer, language identifier, PII redactor) before its first document."""
    from docmill.text.language import detect_language

    settings = opts["settings"]
    adapters.tokenizer(settings)
    detect_language("a sentence long enough to load the language identifier")
    adapters.redactor(settings, opts["pii_key"])


def prepare_job(doc: Document, max_memory_mb: int, opts: dict[str, Any]) -> tuple[Any, ...]:
    """Clean and chunk one document: ("ok", (prepared, chunked)) or ("err", "too_large", message)."""
    try:
        return ("ok", prepare_one(opts["settings"], opts["pii_key"], doc))
    except MemoryError:
        return ("err", "too_large", f"cleaning and chunking exceeded the {max_memory_mb} MB memory limit")


def prepare_one(
    settings: Settings, pii_key: str | None, doc: Document
) -> tuple[StageResult[Document], StageResult[Chunk]]:
    """`clean.prepare`, chunking and each chunk's language for one document, in this process."""
    from docmill.stages import chunk, clean, enrich
    from docmill.text.language import detect_language

    detect = settings.enrich.detect_language or bool(settings.clean.quality.allowed_languages)
    language = detect_language if detect else None
    prepared = clean.prepare([doc], settings.clean, adapters.redactor(settings, pii_key), language)
    config = settings.chunk.model_copy(update={"max_tokens": adapters.max_tokens(settings)})  # the model's budget
    chunked = chunk.chunk(prepared.records, config, adapters.tokenizer(settings), settings.clean.quality)
    enrich.chunk_languages(chunked.records, settings.enrich, detect_language)
    return prepared, chunked


def prepare_batch(workers: WorkerPool, docs: list[Document]) -> tuple[StageResult[Document], StageResult[Chunk]]:
    """Clean and chunk a batch in `workers`; results in the order of `docs`, counters of one pass over it."""
    started = time.perf_counter()
    outcomes = dict(workers.run_many([(d.doc_id, d.source_uri, d) for d in docs]))
    prepared: StageResult[Document] = StageResult(records=[])
    chunked: StageResult[Chunk] = StageResult(records=[])
    sums: dict[str, dict[str, float]] = {"prepared": {}, "chunked": {}}
    for doc in docs:
        outcome = outcomes[doc.doc_id]
        if isinstance(outcome, ParseError):
            prepared.rejects.append(Reject("clean", outcome.reason, outcome.message, doc.doc_id, doc.source_uri))
            continue
        for name, part, into in (("prepared", outcome[0], prepared), ("chunked", outcome[1], chunked)):
            into.records += part.records
            into.rejects += part.rejects
            for key, value in part.stats.items():
                sums[name][key] = sums[name].get(key, 0) + value
    seconds = time.perf_counter() - started
    extra = {k: v for k, v in sums["prepared"].items() if k.startswith("pii_")}
    prepared.finish(len(docs), started, **extra)
    chunked.finish(len(prepared.records), started, chunks_rejected=sums["chunked"].get("chunks_rejected", 0))
    chunked.stats["seconds"] = prepared.stats["seconds"] = seconds
    return prepared, chunked
