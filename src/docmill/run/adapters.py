"""The adapters stage work needs, built from the settings once per process and kept (`KEEP` per kind): the
parser pool, the embedding model's tokenizer and encoder, the PII redactor, the chunk token budget. A Dask
worker loads the model once; a thread of the flow process shares the flow's own. `stagework` and the
cleaning-and-chunking workers (`preparing`) take theirs from here."""

from __future__ import annotations

import atexit
import multiprocessing as mp
import socket
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from docmill.config.settings import Settings
from docmill.records import config_hash

T = TypeVar("T")
KEEP = 2  # adapters of this many settings per kind stay loaded in a process (older ones are closed)
_cache: dict[str, OrderedDict[str, Any]] = {}
_lock = threading.Lock()
_kind_locks: dict[str, threading.Lock] = {}


def kind_lock(kind: str) -> threading.Lock:
    """One lock per kind of adapter: loading a tokenizer does not hold up the parser pool's lookup."""
    with _lock:
        return _kind_locks.setdefault(kind, threading.Lock())


def cached(kind: str, key: str, make: Callable[[], T]) -> T:
    """This process's adapter of `kind` for `key`, made once; the least recently used beyond `KEEP` close."""
    with kind_lock(kind):
        entries = _cache.setdefault(kind, OrderedDict())
        if key not in entries:
            entries[key] = make()
            while len(entries) > KEEP:
                close(entries.popitem(last=False)[1])
        entries.move_to_end(key)
        return entries[key]  # type: ignore[no-any-return]


def close(adapter: Any) -> None:
    """Close an adapter that holds processes or files."""
    if hasattr(adapter, "close"):
        adapter.close()


def models_dir(settings: Settings) -> Path:
    """Where exported model variants (ONNX, OpenVINO) are kept."""
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
    return cached(
        "parsers", key, lambda: ParserPool(cfg.workers, cfg.timeout_s, cfg.max_memory_mb, cfg.parser_options())
    )


@atexit.register
def _close_all() -> None:
    """A Dask worker (or any process) that exits stops its parser processes and their tool children."""
    for entries in _cache.values():
        for adapter in entries.values():
            close(adapter)
    _cache.clear()


def model_folder(settings: Settings) -> Path:
    """The embedding model's folder (configured path or the bundled model)."""
    from docmill.embedding.model_folder import resolve_model_path

    return resolve_model_path(settings.embed.model_path)


def tokenizer(settings: Settings) -> Any:
    """The embedding model's own tokenizer (chunk budgets count its tokens)."""
    from docmill.embedding.encoder import ModelTokenizer

    folder = model_folder(settings)
    return cached("tokenizers", str(folder), lambda: ModelTokenizer(folder))


def embedder(settings: Settings) -> Any:
    """The configured embedding backend, loaded once per process and settings."""
    from docmill.embedding.encoder import Embedder

    cfg, folder = settings.embed, model_folder(settings)
    key = config_hash(
        {
            "embed": cfg.model_dump(mode="json", exclude={"sparse"}),
            "folder": str(folder),
            "models": str(models_dir(settings)),
        }
    )
    args = (folder, cfg.model_name, cfg.device, cfg.batch_size, cfg.backend, cfg.precision, models_dir(settings),
            cfg.threads)  # fmt: skip
    return cached("embedders", key, lambda: Embedder(*args))


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
    return cached("redactors", cache_key, lambda: make_redactor(settings, create_key=False))


def max_tokens(settings: Settings) -> int:
    """The chunk token budget: the configured one, never above what the model reads."""
    from docmill.embedding.model_folder import token_budget

    # longer chunks would be truncated silently by the model; read from the model's folder, so the run's
    # settings key needs no tokenizer (whose import, ~2 s, then overlaps the first parse instead)
    model_max = token_budget(model_folder(settings))
    return min(settings.chunk.max_tokens or model_max, model_max)


def forget(kind: str, key: str | None = None) -> list[Any]:
    """Take this process's adapters of `kind` (only the one for `key`, when given) out of the cache, unclosed."""
    with kind_lock(kind):
        if key is None:
            return list(_cache.pop(kind, OrderedDict()).values())
        adapter = _cache.get(kind, OrderedDict()).pop(key, None)
        return [] if adapter is None else [adapter]
