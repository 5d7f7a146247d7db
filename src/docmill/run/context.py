"""One run's context in the flow process: its id, the data folder's run lock, the catalog and audit trail it
writes, the adapters it opens lazily (embedder, vector store, data repository, near-duplicate index), the
settings key its documents are processed under, and the manifest recorded with its dataset version.

What a run does with documents is elsewhere: `docmill.run.ingestion` (listing and recording sources),
`docmill.run.bookkeeping` (rejects, publication, removal: every status change through `docmill.state.ledger`).
Flows hold a `RunContext` and pass it to those; no Prefect here.
"""

from __future__ import annotations

import getpass
import logging
import os
import socket
import threading
from functools import cached_property
from typing import Any

from docmill import __version__
from docmill.config.settings import Settings
from docmill.records import DatasetVersion, config_hash
from docmill.run import adapters, stagework
from docmill.run.lineage import component_versions
from docmill.stages.enrich import NAME_REDACTION
from docmill.state.audit_check import open_log, require_intact
from docmill.state.catalog import Catalog
from docmill.state.locks import lock_data_dir

log = logging.getLogger(__name__)
STAGE_SETTINGS = ("extract", "clean", "chunk", "enrich", "embed", "validate_")  # each stage's hash in the manifest


class RunContext:
    """A run's identity, lock and adapters (see the module docstring)."""

    def __init__(self, settings: Settings, run_id: str) -> None:
        self.settings = settings
        self.run_id = run_id
        self.catalog = Catalog(settings.paths.catalog)
        self.audit = open_log(settings)
        self.crashed_runs: list[str] = []  # earlier runs found dead by start_run
        self._lock: Any = None
        self._store: Any = None
        self._store_opening = threading.Lock()

    # lifecycle ---------------------------------------------------------------------------------------------
    @property
    def holds_lock(self) -> bool:
        """True once this run holds the data folder's run lock (a failure is then this run's to record)."""
        return self._lock is not None

    def start_run(self) -> None:
        """Take the data folder's run lock (`data/run.lock`, see `docmill.state.locks`), then record the run as
        started in the audit trail and the catalog (config hash, code version, actor). Runs the catalog still
        calls `running` died without finishing: holding the lock proves it; they are recorded `crashed`.

        Raises:
            RuntimeError: when another run holds the lock (two runs must never write one data folder).
            AuditBroken: when the audit trail does not verify, misses an anchored entry, or misses runs or
                documents of the catalog (`docmill audit verify` says which; `docmill audit acknowledge`).
        """
        path = self.settings.paths.data_dir / "run.lock"
        last_holder = path.read_text(encoding="utf-8", errors="replace").strip() if path.exists() else ""
        self._lock = lock_data_dir(self.settings.paths.data_dir, f"run {self.run_id}")
        try:
            require_intact(self.settings, self.audit)  # never append to a trail that does not account for the catalog
        except BaseException:
            self._release_lock()  # nothing of this run is recorded: it never started
            raise

        def error(run_id: str) -> str:
            holder = f" ({last_holder})" if last_holder.startswith(f"run {run_id},") else ""
            return f"the run's process{holder} died without finishing; found by run {self.run_id}"

        self.crashed_runs = self.catalog.mark_crashed(self.run_id, error)
        for run_id in self.crashed_runs:
            log.warning("run %s was left running by a process that died: recorded as crashed", run_id)
            self.audit.append("run_crashed", run_id=run_id, found_by=self.run_id, error=error(run_id))
        digest = config_hash(self.settings)
        self.audit.append(  # before the catalog's row: the trail accounts for every run the catalog holds
            "run_started",
            run_id=self.run_id,
            config_hash=digest,
            code_version=__version__,
            sources=[str(s) for s in self.settings.ingest.sources],
            actor=f"{getpass.getuser()}@{socket.gethostname()}",
        )
        self.catalog.start_run(self.run_id, digest, __version__)

    def record_version(self, dataset: DatasetVersion) -> None:
        """Audit a new dataset version (an unchanged dataset keeps its version: no entry)."""
        if dataset.new:
            fields = {"version": dataset.version_id, "tag": dataset.tag, "rows": dataset.rows}
            name = self.settings.version.dataset_name
            self.audit.append("dataset_version_created", run_id=self.run_id, dataset=name, **fields)

    def finish_run(self, status: str, summary: dict[str, Any]) -> None:
        """Record the end of the run (`completed` or `failed`) in the catalog and the audit trail."""
        self.catalog.finish_run(self.run_id, status, summary)
        keys = ("documents", "chunks_embedded", "chunks_cached", "points", "dataset_tag", "error")
        fields = {k: summary[k] for k in keys if k in summary}
        self.audit.append("run_finished", run_id=self.run_id, status=status, **fields)

    def close(self) -> None:
        """Release worker processes, the vector store, the catalog and the run lock."""
        stagework.release_workers(self.settings)
        if self._store is not None:
            self._store.close()
        self.catalog.close()
        self._release_lock()

    def _release_lock(self) -> None:
        if self._lock is not None:
            self._lock.close()  # releases the flock
            self._lock = None

    # adapters ----------------------------------------------------------------------------------------------
    @property
    def embedder(self) -> Any:
        """This process's embedder for the settings (shared with the stage work run here, `docmill.run.adapters`)."""
        return adapters.embedder(self.settings)

    @property
    def max_tokens(self) -> int:
        """The chunk token budget."""
        return adapters.max_tokens(self.settings)

    @property
    def store(self) -> Any:
        """The Qdrant collection, opened once by whichever thread needs it first (the flow's, or its publishing
        thread inside the retried `publish` task)."""
        with self._store_opening:
            if self._store is None:
                from docmill.state.store import QdrantStore

                cfg = self.settings.embed
                self._store = QdrantStore(
                    cfg.collection,
                    url=cfg.qdrant_url,
                    path=self.settings.paths.data_dir / "qdrant",
                    api_key=os.environ.get(cfg.qdrant_api_key_env),
                    write_batch=cfg.write_batch,
                    sparse=self.sparse,
                )
                self._store.ensure_collection(self.embedder.dimension)
            return self._store

    @property
    def sparse(self) -> Any:
        """The sparse lexical encoder (`docmill.embedding.sparse`) of `embed.sparse`."""
        from docmill.embedding.sparse import from_settings

        return from_settings(self.settings)

    @cached_property
    def repo(self) -> Any:
        """The data repository (DVC) that versions the dataset."""
        from docmill.state.datarepo import DataRepo

        repo = DataRepo.from_settings(self.settings)
        repo.ensure()
        return repo

    @cached_property
    def near_duplicates(self) -> Any:
        """The persistent near-duplicate index in the catalog database."""
        return self.catalog.near_duplicates(self.settings.clean.dedup)

    @cached_property
    def pii_key(self) -> str | None:
        """Fingerprint of the PII `hash` mode key (None in other modes). The flow process creates the key file
        when it is missing, before any stage work runs; stage work elsewhere only uses the same key."""
        from docmill.text.pii import key_fingerprint

        return key_fingerprint(self.settings)

    @property
    def names(self) -> Any:
        """The redactor of names and messages (None when `clean.pii` keeps PII)."""
        return adapters.redactor(self.settings, self.pii_key)

    # what the run records ----------------------------------------------------------------------------------
    @cached_property
    def config_key(self) -> str:
        """Hash of every setting that shapes a document's chunks and vectors (extract output options, clean,
        chunk with its effective token budget, enrich, embedding model id@weights, the sparse encoder's version
        and settings, `embed.semantic_duplicates` when enabled). Operational settings
        (workers, time and memory limits, batch sizes, Qdrant address) are not part of it; the version of name
        redaction is (`enrich.NAME_REDACTION`)."""
        s = self.settings
        semantic = s.embed.semantic_duplicates
        return config_hash(
            {
                "extract": s.extract.model_dump(mode="json", include={"ocr", "ocr_languages", "pdf_tables"}),
                "clean": s.clean.model_dump(mode="json"),
                "chunk": {**s.chunk.model_dump(mode="json"), "max_tokens": self.max_tokens},
                "enrich": s.enrich.model_dump(mode="json"),
                "names": NAME_REDACTION,  # documents enriched before names were redacted are enriched again
                "model": self.embedder.model_key,
                "sparse": {"version": self.sparse.version, **s.embed.sparse.model_dump(mode="json")},
                # only when on: turning it on (or changing it) judges every document again, the default keeps keys
                **({"semantic_duplicates": semantic.model_dump(mode="json")} if semantic.enabled else {}),
            }
        )

    def manifest(self) -> dict[str, Any]:
        """Run-level facts recorded with a dataset version."""
        s = self.settings
        return {
            "run_id": self.run_id,
            "code_version": __version__,
            "components": component_versions(),
            "model": self.embedder.model_key,
            "sparse_model": self.sparse.version,
            "config_hash": config_hash(s),
            "stage_config_hashes": {name.rstrip("_"): config_hash(getattr(s, name)) for name in STAGE_SETTINGS},
            "documents": self.catalog.counts(),
            "audit_head": dict(zip(("seq", "hash"), self.audit.head(), strict=True)),
            "pii_redaction": s.clean.pii.mode,
            "pii_counts": self.catalog.pii_totals(),
            "quarantine": self.catalog.quarantine_counts(),
        }
