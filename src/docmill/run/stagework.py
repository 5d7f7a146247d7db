"""Stage work that may run away from the flow: in a thread of the flow process or on a Dask worker (another
process, another machine).

Each function here is a pure function of (settings, records) returning a `StageResult`. The adapters it
needs (parser pool, tokenizer, embedder, redactor) come from `docmill.run.adapters`, built from the settings
once per process (re-exported here for the flow), so a Dask worker loads the model once and a thread of the
flow process shares the flow's own. Nothing here touches the
catalog, the vector store or the data folder's run lock: the flow process records what these return
(`docmill.run.plan` declares which step calls which), so two runners given the same inputs produce the same
dataset.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import socket
import threading
from typing import Any, TypeVar

import numpy as np

from docmill.config.settings import Settings, ValidateConfig
from docmill.records import Chunk, Document, SourceFile, StageResult, config_hash
from docmill.run import adapters
from docmill.run.adapters import embedder as embedder
from docmill.run.adapters import max_tokens as max_tokens
from docmill.run.adapters import parser_pool as parser_pool
from docmill.run.adapters import redactor as redactor
from docmill.run.adapters import tokenizer as tokenizer
from docmill.run.runstats import contract_counter
from docmill.stages import embed, enrich, extract, validate

T = TypeVar("T")
log = logging.getLogger(__name__)

# one extraction at a time per process: a parser pool is not thread-safe, and replacing one (other settings)
# must not close it under a running extraction (a Dask worker with several threads, two runs on one cluster)
_extracting = threading.Lock()
# and one preparation after it: its worker pool is not thread-safe either
_preparing = threading.Lock()


def load_preparation(settings: Settings, pii_key: str | None = None) -> None:
    """Start this process's cleaning-and-chunking workers now (each loads the tokenizer, the language identifier
    and the PII recognisers, ~3 s), e.g. on a thread that would otherwise wait for the first batch's parse."""
    with _preparing:
        preparers(settings, pii_key).start()


def load_embedder(settings: Settings) -> None:
    """Load this process's embedding model now (on a data folder's first run the ONNX export and quantisation,
    then the weights: ~3-15 s), e.g. on a thread while the first batches parse, so the first batch's turn does
    not wait for it. A failure is not raised here: the first real use loads the model again and raises it."""
    try:
        embedder(settings).dimension  # noqa: B018  # the property loads the model
    except Exception as exc:  # raised again, where it stops the run, by the turn that needs the model
        log.debug("loading the embedding model ahead failed: %s", exc)


def release_workers(settings: Settings) -> None:
    """Stop this process's parser pool for `settings.extract` and its cleaning-and-chunking pools, if any."""
    with _extracting:
        pools = adapters.forget("parsers", config_hash(settings.extract))
    with _preparing:
        pools += adapters.forget("preparers")
    for pool in pools:
        pool.close()


def contract(result: StageResult[Document], name: str, config: ValidateConfig) -> StageResult[Document]:
    """Keep the documents that meet their contract (`validate.<name>`); violations join the rejects."""

    checked = validate.check_documents(result.records, name, config)
    result.rejects = [*result.rejects, *checked.rejects]
    result.records = checked.records
    result.stats[contract_counter(name, "rejected")] = len(checked.rejects)  # the gate's count (`RunStats.add`)
    result.stats[contract_counter(name, "violations")] = checked.stats["violations"]
    return result


def _here(result: StageResult[T]) -> StageResult[T]:
    """Stamp the process that did the work (`host:pid`): the run summary lists them."""
    result.worker = f"{socket.gethostname()}:{os.getpid()}"
    return result


def extract_batch(settings: Settings, sources: list[SourceFile]) -> StageResult[Document]:
    """Parse a batch in this process's parser pool and check the `extracted` contract."""
    with _extracting:
        result = extract.extract(sources, settings.extract, parser_pool(settings))
    return _here(contract(result, "extracted", settings.validate_))


def preparers(settings: Settings, pii_key: str | None) -> Any:
    """This process's pool of cleaning-and-chunking workers for these settings (see `docmill.run.preparing`).

    Raises:
        RuntimeError: in a daemonic process (see `parser_pool`).
    """
    from docmill.run import preparing

    if mp.current_process().daemon:
        raise RuntimeError(
            "cleaning and chunking need their own worker processes, which a daemonic process cannot start: run "
            "Dask workers with DASK_DISTRIBUTED__WORKER__DAEMON=False (docs/operations.md, scale-out)"
        )
    return adapters.cached(
        "preparers", config_hash(preparing.options(settings, pii_key)), lambda: preparing.pool(settings, pii_key)
    )


def prepare_batch(
    settings: Settings, docs: list[Document], pii_key: str | None
) -> tuple[StageResult[Document], StageResult[Chunk]]:
    """`clean.prepare` and chunking of each document in a killable worker, bounded like parsing."""
    from docmill.run import preparing

    with _preparing:
        prepared, chunked = preparing.prepare_batch(preparers(settings, pii_key), docs)
    return _here(prepared), _here(chunked)  # like extraction: the process that ran the batch (and its pool)


def enrich_batch(
    settings: Settings, docs: list[Document], chunks: list[Chunk], sources: list[SourceFile], pii_key: str | None
) -> StageResult[Chunk]:
    """Attach location metadata (names redacted like text, `pii_key` as in `redactor`) and language to chunks,
    and the title to their contexts (fitted to the model's window by its tokenizer)."""
    from docmill.text.language import detect_language

    by_id = {s.doc_id: s for s in sources}
    names = redactor(settings, pii_key)
    fit = tokenizer(settings) if settings.chunk.contextualize else None
    return _here(enrich.enrich(docs, chunks, by_id, settings.enrich, detect_language, names, fit))


def embed_batch(settings: Settings, chunks: list[Chunk], known: dict[str, np.ndarray]) -> StageResult[Chunk]:
    """Embed chunks (dense and sparse); `known` holds the cached vectors (text hash -> vector) the flow found in
    the catalog."""
    from docmill.embedding.sparse import from_settings

    lookup = lambda hashes, _key: {h: known[h] for h in hashes if h in known}  # noqa: E731
    return _here(embed.embed(chunks, settings.embed, embedder(settings), lookup, from_settings(settings)))
