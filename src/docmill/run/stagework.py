"""Stage work that may run away from the flow: in a thread of the flow process or on a Dask worker (another
process, another machine).

Each function here is a pure function of (settings, records) returning a `StageResult`. The adapters it
needs (parser pool, tokenizer, embedder) are built from the settings and kept per process, so a Dask worker
loads the model once and a thread of the flow process shares the flow's own. Nothing here touches the
catalog, the vector store or the data folder's run lock: the flow process records what these return
(`flows/pipeline.py`), so two runners given the same inputs produce the same dataset.
"""

from __future__ import annotations

import atexit
import multiprocessing as mp
import os
import socket
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from docmill.config.settings import Settings, ValidateConfig
from docmill.records import Chunk, Document, SourceFile, StageResult, config_hash
from docmill.run.runstats import contract_counter
from docmill.stages import chunk, embed, enrich, extract, validate

T = TypeVar("T")
KEEP = 2  # adapters of this many settings per kind stay loaded in a process (older ones are closed)
_cache: dict[str, OrderedDict[str, Any]] = {}
_lock = threading.Lock()
_kind_locks: dict[str, threading.Lock] = {}
# one extraction at a time per process: a parser pool is not thread-safe, and replacing one (other settings)
# must not close it under a running extraction (a Dask worker with several threads, two runs on one cluster)
_extracting = threading.Lock()
# and one preparation after it: its worker pool is not thread-safe either
_preparing = threading.Lock()


def _kind_lock(kind: str) -> threading.Lock:
    """One lock per kind of adapter: loading a tokenizer does not hold up the parser pool's lookup."""
    with _lock:
        return _kind_locks.setdefault(kind, threading.Lock())


def _cached(kind: str, key: str, make: Callable[[], T]) -> T:
    with _kind_lock(kind):
        entries = _cache.setdefault(kind, OrderedDict())
        if key not in entries:
            entries[key] = make()
            while len(entries) > KEEP:
                _close(entries.popitem(last=False)[1])
        entries.move_to_end(key)
        return entries[key]  # type: ignore[no-any-return]


def load_preparation(settings: Settings, pii_key: str | None = None) -> None:
    """Start this process's cleaning-and-chunking workers now (each loads the tokenizer, the language identifier
    and the PII recognisers, ~3 s), e.g. on a thread that would otherwise wait for the first batch's parse."""
    with _preparing:
        preparers(settings, pii_key).start()


def _close(adapter: Any) -> None:
    if hasattr(adapter, "close"):
        adapter.close()


def _models_dir(settings: Settings) -> Path:
    return settings.embed.models_dir or settings.paths.data_dir / "models"


def parser_pool(settings: Settings) -> Any:
    """This process's parser pool for `settings.extract`.

    Raises:
        RuntimeError: in a daemonic process (a Dask worker started without `--no-daemon`-like config), which
            may not start the parser processes.
    """
    from docmill.parsers.pool import ParserPool

    cfg = settings.extract
    if mp.current_process().daemon:
        raise RuntimeError(
            "extraction needs its own worker processes, which a daemonic process cannot start: run Dask workers "
            "with DASK_DISTRIBUTED__WORKER__DAEMON=False (docs/operations.md, scale-out)"
        )
    key = config_hash(cfg)
    return _cached(
        "parsers", key, lambda: ParserPool(cfg.workers, cfg.timeout_s, cfg.max_memory_mb, cfg.parser_options())
    )


def release_workers(settings: Settings) -> None:
    """Stop this process's parser pool for `settings.extract` and its cleaning-and-chunking pools, if any."""
    with _extracting, _kind_lock("parsers"):
        pool = _cache.get("parsers", OrderedDict()).pop(config_hash(settings.extract), None)
    with _preparing, _kind_lock("preparers"):
        pools = list(_cache.pop("preparers", OrderedDict()).values())
    for adapter in [pool, *pools]:
        if adapter is not None:
            adapter.close()


@atexit.register
def _close_all() -> None:
    """A Dask worker (or any process) that exits stops its parser processes and their tool children."""
    for entries in _cache.values():
        for adapter in entries.values():
            _close(adapter)
    _cache.clear()


def model_folder(settings: Settings) -> Path:
    """The embedding model's folder (configured path or the bundled model)."""
    from docmill.embedding.model_folder import resolve_model_path

    return resolve_model_path(settings.embed.model_path)


def tokenizer(settings: Settings) -> Any:
    """The embedding model's own tokenizer (chunk budgets count its tokens)."""
    from docmill.embedding.encoder import ModelTokenizer

    folder = model_folder(settings)
    return _cached("tokenizers", str(folder), lambda: ModelTokenizer(folder))


def embedder(settings: Settings) -> Any:
    """The configured embedding backend, loaded once per process and settings."""
    from docmill.embedding.encoder import Embedder

    cfg, folder = settings.embed, model_folder(settings)
    key = config_hash(
        {"embed": cfg.model_dump(mode="json"), "folder": str(folder), "models": str(_models_dir(settings))}
    )
    args = (folder, cfg.model_name, cfg.device, cfg.batch_size, cfg.backend, cfg.precision, _models_dir(settings),
            cfg.threads)  # fmt: skip
    return _cached("embedders", key, lambda: Embedder(*args))


def redactor(settings: Settings, key: str | None) -> Any:
    """PII redaction for cleaning (None when `clean.pii.mode` is `off`). `key` is the fingerprint of the flow's
    `hash` mode key (`pii.key_fingerprint`): this process never creates a key and refuses another one.

    Raises:
        RuntimeError: when this process reads a different key than the flow (another `clean.pii.hash_key_env`
            value, or another key file).
    """
    from docmill.text.pii import key_fingerprint, make_redactor

    here = key_fingerprint(settings, create=False)
    if here != key:
        raise RuntimeError(
            f"the PII key on {socket.gethostname()} (fingerprint {here}) differs from the flow's ({key}): give "
            f"every machine the same {settings.clean.pii.hash_key_env} or the same <data_dir>/secrets/pii.key"
        )
    cache_key = config_hash({"pii": settings.clean.pii.model_dump(mode="json"), "key": key})
    return _cached("redactors", cache_key, lambda: make_redactor(settings, create_key=False))


def max_tokens(settings: Settings) -> int:
    """The chunk token budget: the configured one, never above what the model reads."""
    from docmill.embedding.model_folder import token_budget

    # longer chunks would be truncated silently by the model; read from the model's folder, so the run's
    # settings key needs no tokenizer (whose import, ~2 s, then overlaps the first parse instead)
    model_max = token_budget(model_folder(settings))
    return min(settings.chunk.max_tokens or model_max, model_max)


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


@dataclass
class Ahead:
    """A batch's work that needs no catalog, done before its turn: extraction (with the `extracted` contract),
    the first step of cleaning (`clean.prepare`), chunking of the documents that passed it and each chunk's
    language (`enrich.chunk_languages`). Deduplication, the `cleaned` contract and everything after happen at
    the batch's turn in the flow (`flows/pipeline.py`)."""

    extracted: StageResult[Document]
    prepared: StageResult[Document]
    chunked: StageResult[Chunk]


def ahead_batch(settings: Settings, sources: list[SourceFile], pii_key: str | None) -> Ahead:
    """Extract, prepare and chunk a batch (see `Ahead`); `pii_key` is the flow's PII key fingerprint."""

    extracted = extract_batch(settings, sources)
    with _preparing:
        prepared, chunked = prepare_batch(settings, extracted.records, pii_key)
    return Ahead(extracted, prepared, chunked)


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
    return _cached(
        "preparers", config_hash(preparing.options(settings, pii_key)), lambda: preparing.pool(settings, pii_key)
    )


def prepare_batch(
    settings: Settings, docs: list[Document], pii_key: str | None
) -> tuple[StageResult[Document], StageResult[Chunk]]:
    """`clean.prepare` and chunking of each document in a killable worker, bounded like parsing."""
    from docmill.run import preparing

    prepared, chunked = preparing.prepare_batch(preparers(settings, pii_key), docs)
    return _here(prepared), _here(chunked)  # like extraction: the process that ran the batch (and its pool)


def chunk_batch(settings: Settings, docs: list[Document]) -> StageResult[Chunk]:
    """Split documents into chunks within the model's token budget."""
    config = settings.chunk.model_copy(update={"max_tokens": max_tokens(settings)})
    return _here(chunk.chunk(docs, config, tokenizer(settings), settings.clean.quality))


def enrich_batch(
    settings: Settings, docs: list[Document], chunks: list[Chunk], sources: list[SourceFile], pii_key: str | None
) -> StageResult[Chunk]:
    """Attach location metadata (names redacted like text, `pii_key` as in `redactor`) and language to chunks."""
    from docmill.text.language import detect_language

    by_id = {s.doc_id: s for s in sources}
    names = redactor(settings, pii_key)
    return _here(enrich.enrich(docs, chunks, by_id, settings.enrich, detect_language, names))


def embed_batch(settings: Settings, chunks: list[Chunk], known: dict[str, np.ndarray]) -> StageResult[Chunk]:
    """Embed chunks; `known` holds the cached vectors (text hash -> vector) the flow found in the catalog."""
    lookup = lambda hashes, _key: {h: known[h] for h in hashes if h in known}  # noqa: E731
    return _here(embed.embed(chunks, settings.embed, embedder(settings), lookup))
