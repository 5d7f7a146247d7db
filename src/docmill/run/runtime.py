"""The flow process's side of a run: what each Prefect task loads and persists.

A `Runtime` owns one run's stateful parts (catalog, run lock, vector store, data repository, near-duplicate
index, audit trail), created lazily so that a task only pays for what it uses. The stateless stage adapters
(parser pool, tokenizer, embedder) are per process and shared with `docmill.run.stagework`, whose functions may also
run on Dask workers. Flows call these methods; no Prefect here.
"""

from __future__ import annotations

import dataclasses
import getpass
import json
import logging
import os
import shutil
import socket
import threading
from collections.abc import Iterator
from functools import cached_property
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any

from docmill import __version__
from docmill.config.settings import Settings
from docmill.isolation.faults import checkpoint
from docmill.records import Chunk, DatasetVersion, Document, Reject, SourceFile, config_hash
from docmill.run import stagework
from docmill.sources.base import scope_prefix
from docmill.sources.folder import KEPT_SUBTREE, WITHDRAWING
from docmill.stages.enrich import NAME_REDACTION
from docmill.state import ledger
from docmill.state.audit_check import open_log, require_intact
from docmill.state.catalog import DUPLICATE_REASONS, Catalog
from docmill.state.locks import lock_data_dir

log = logging.getLogger(__name__)

COMPONENTS = (
    "docmill",
    "pymupdf",
    "unstructured",
    "sentence-transformers",
    "torch",
    "transformers",
    "qdrant-client",
    "dvc",
    "pandera",
    "pyarrow",
    "prefect",
)


def component_versions() -> dict[str, str]:
    """Installed versions of the components that shape the output."""
    out = {}
    for name in COMPONENTS:
        try:
            out[name] = package_version(name)
        except PackageNotFoundError:
            out[name] = "absent"
    return out


def _flat(ids: dict[str, list[str]]) -> list[str]:
    return [p for group in ids.values() for p in group]


def _by_document(chunks: list[Chunk]) -> dict[str, list[Chunk]]:
    by_doc: dict[str, list[Chunk]] = {}
    for item in chunks:
        by_doc.setdefault(item.doc_id, []).append(item)
    return by_doc


def _source_file(row: Any) -> SourceFile:
    meta = json.loads(row["metadata"] or "{}")
    args = (row["source_uri"], row["path"], row["size"], row["mtime"], row["doc_id"], row["extension"])
    return SourceFile(*args, row["version"] or "", meta)


class Runtime:
    """Adapters and persistence for one pipeline run."""

    def __init__(self, settings: Settings, run_id: str) -> None:
        self.settings = settings
        self.run_id = run_id
        self.catalog = Catalog(settings.paths.catalog)
        self.audit = open_log(settings)
        self._run_lock: Any = None
        self.crashed_runs: list[str] = []  # earlier runs found dead by start_run
        self._store: Any = None
        self._store_opening = threading.Lock()

    # run -------------------------------------------------------------------------------------------------
    @property
    def holds_lock(self) -> bool:
        """True once this run holds the data folder's run lock (a failure is then this run's to record)."""
        return self._run_lock is not None

    def start_run(self) -> None:
        """Take the data folder's run lock, then record the run as started in the catalog and the audit trail
        (config hash, code version, actor).

        Raises:
            RuntimeError: when another run holds the lock (two runs must never write one data folder).
            AuditBroken: when the audit trail does not verify, misses an anchored entry, or misses runs or
                documents of the catalog (`docmill audit verify` says which; `docmill audit acknowledge`).
        """
        previous = self._lock_data_dir()
        try:
            require_intact(self.settings, self.audit)  # never append to a trail that does not account for the catalog
        except BaseException:
            self._run_lock.close()  # nothing of this run is recorded: it never started
            self._run_lock = None
            raise
        self.crashed_runs = self._record_crashed(previous)  # after the check: it appends to the trail
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

    def _lock_data_dir(self) -> str:
        """An exclusive lock on `data/run.lock` for the life of this runtime (see `docmill.state.locks`); returns what
        the previous holder wrote there (its run and pid), read before the lock replaces it."""
        path = self.settings.paths.data_dir / "run.lock"
        previous = path.read_text(encoding="utf-8", errors="replace").strip() if path.exists() else ""
        self._run_lock = lock_data_dir(self.settings.paths.data_dir, f"run {self.run_id}")
        return previous

    def _record_crashed(self, last_holder: str) -> list[str]:
        """Runs the catalog still calls `running` died without finishing (killed, power cut, out of memory):
        holding the lock proves no process works on them. Record them `crashed` (catalog and audit trail)."""

        def error(run_id: str) -> str:
            holder = f" ({last_holder})" if last_holder.startswith(f"run {run_id},") else ""
            return f"the run's process{holder} died without finishing; found by run {self.run_id}"

        crashed = self.catalog.mark_crashed(self.run_id, error)
        for run_id in crashed:
            log.warning("run %s was left running by a process that died: recorded as crashed", run_id)
            self.audit.append("run_crashed", run_id=run_id, found_by=self.run_id, error=error(run_id))
        return crashed

    def finish_run(self, status: str, summary: dict[str, Any]) -> None:
        """Record the end of the run (`completed` or `failed`) in the catalog and the audit trail."""
        self.catalog.finish_run(self.run_id, status, summary)
        keys = ("documents", "chunks_embedded", "chunks_cached", "points", "dataset_tag", "error")
        self.audit.append(
            "run_finished", run_id=self.run_id, status=status, **{k: summary[k] for k in keys if k in summary}
        )

    # adapters ----------------------------------------------------------------------------------------
    # The stage adapters are per process and shared with the stage work of this process (docmill.run.stagework).
    @property
    def tokenizer(self) -> Any:
        return stagework.tokenizer(self.settings)

    @property
    def embedder(self) -> Any:
        return stagework.embedder(self.settings)

    @property
    def store(self) -> Any:
        """The Qdrant collection, opened on first use by whichever thread needs it first (the flow's, or its
        publishing thread inside the retried `publish` task), once."""
        with self._store_opening:
            if self._store is None:
                self._store = self._open_store()
            return self._store

    def _open_store(self) -> Any:
        from docmill.state.store import QdrantStore

        cfg = self.settings.embed
        store = QdrantStore(
            cfg.collection,
            url=cfg.qdrant_url,
            path=self.settings.paths.data_dir / "qdrant",
            api_key=os.environ.get(cfg.qdrant_api_key_env),
            write_batch=cfg.write_batch,
        )
        store.ensure_collection(self.embedder.dimension)
        return store

    @cached_property
    def repo(self) -> Any:
        from docmill.state.datarepo import DataRepo

        repo = DataRepo.from_settings(self.settings)
        repo.ensure()
        return repo

    @cached_property
    def config_key(self) -> str:
        """Hash of every setting that shapes a document's chunks and vectors (extract output options, clean,
        chunk with its effective token budget, enrich, embedding model id@weights). Operational settings
        (workers, time and memory limits, batch sizes, Qdrant address) are not part of it; the version of name
        redaction is (`enrich.NAME_REDACTION`)."""
        s = self.settings
        return config_hash(
            {
                "extract": s.extract.model_dump(mode="json", include={"ocr", "ocr_languages", "pdf_tables"}),
                "clean": s.clean.model_dump(mode="json"),
                "chunk": {**s.chunk.model_dump(mode="json"), "max_tokens": self.max_tokens},
                "enrich": s.enrich.model_dump(mode="json"),
                "names": NAME_REDACTION,  # documents enriched before names were redacted are enriched again
                "model": self.embedder.model_key,
            }
        )

    def requeue_for_new_settings(self) -> int:
        """Documents processed under other settings (see `config_key`) go through the pipeline again; chunks
        whose text does not change reuse their cached vectors, so only what the change affects is embedded.
        Their points stay until the new chunks replace them."""
        with self.catalog.transaction() as db:
            previous, requeued = ledger.requeued_for_new_settings(db, self.config_key)
            if requeued:
                self.audit.append(
                    "settings_changed",
                    run_id=self.run_id,
                    config_key=self.config_key,
                    previous=previous,
                    documents_requeued=requeued,
                )
        return requeued

    @property
    def max_tokens(self) -> int:
        """The chunk token budget."""
        return stagework.max_tokens(self.settings)

    def close(self) -> None:
        """Release processes, locks and connections."""
        stagework.release_workers(self.settings)
        if self._store is not None:
            self._store.close()
        self.catalog.close()
        if self._run_lock is not None:
            self._run_lock.close()  # releases the flock
            self._run_lock = None

    # ingest ------------------------------------------------------------------------------------------
    def record_sources(self, pairs: list[tuple[SourceFile, str]]) -> dict[str, int]:
        """Upsert listed sources; new content becomes a pending document. Returns the alias count.

        Audit: `document_added` for content never seen, `document_changed` (with the previous content's
        doc_id) for a known source whose bytes changed."""
        aliases = 0
        events: list[tuple[str, dict[str, Any]]] = []
        with self.catalog.transaction() as db:
            for source, change in pairs:
                before = self.catalog.source(source.source_uri)
                self.catalog.upsert_source(db, source, self.run_id)
                known = self.catalog.document(source.doc_id)
                fields = {"run_id": self.run_id, "doc_id": source.doc_id, "source_uri": source.source_uri}
                if change == "changed" and before is not None:
                    events.append(("document_changed", {**fields, "old_doc_id": before["doc_id"], "size": source.size}))
                elif known is None:
                    events.append(("document_added", {**fields, "size": source.size}))
                if known is None:
                    self.catalog.add_document(db, source, self.run_id)
                elif known["source_uri"] != source.source_uri:
                    aliases += 1
            self.audit.append_many(events)  # before the commit: at-least-once, never a change without its entry
        return {"same_bytes_as_other_file": aliases}

    def start_ingest(self) -> None:
        """Ingest rejects are recomputed by every run: forget the previous ones."""
        with self.catalog.transaction() as db:
            self.catalog.clear_stage_rejects(db, "ingest")

    def check_listing(self, root: Path | str, listed: int) -> None:
        """Refuse to treat an empty listing of a known folder (or connector scope) as "everything was deleted".

        Raises:
            RuntimeError: when `root` listed no file although earlier runs found some (unmounted share?).
        """
        prefix = scope_prefix(root)
        known = self.catalog.count_sources_under(prefix)
        if listed == 0 and known:
            raise RuntimeError(
                f"source {root} listed no files but earlier runs found {known}: is the share mounted (the bucket, "
                "table, mailbox right)? Nothing was deleted. Remove the source from the configuration to retire its "
                "documents."
            )

    def remove_vanished(self, roots: list[Path | str]) -> dict[str, int]:
        """Forget sources under `roots` (folders, or connector scopes: URI prefixes) not seen in this run;
        remove documents no source points to any more;
        queue again the duplicates of removed documents (they may now be the only copy of their text).

        Audit: `document_moved` when a document's recorded source is gone but its bytes remain at another path,
        `document_deleted` when no source holds its bytes any more (a changed file's old content is not
        "deleted": its `document_changed` entry says what replaced it)."""
        events: list[tuple[str, dict[str, Any]]] = []
        with self.catalog.transaction() as db:
            gone: list[tuple[str, str]] = []
            for prefix in map(scope_prefix, roots):
                gone += self.catalog.forget_unseen_sources(db, prefix, self.run_id)
            orphans = self.catalog.orphan_documents(db)
            # a changed file's previous content keeps its points until the new content is processed: no window
            # in which the file has no points (see retire_superseded)
            replaced = self.catalog.replaced_contents(db)
            for doc_id, successor in replaced.items():
                ledger.superseded(db, doc_id, successor)
            # the new content must not be found a near-duplicate of the content it replaces
            self.near_duplicates.remove(list(replaced))
            moved = self.catalog.relocate_moved(db)
            for row in moved:  # the recorded source now holds other bytes or is gone: a remaining copy takes over
                fields = {"run_id": self.run_id, "doc_id": row["doc_id"], "old_source_uri": row["old"]}
                events.append(("document_moved", {**fields, "source_uri": row["new"]}))
            for uri, doc_id in gone:
                if doc_id in orphans:
                    events.append(("document_deleted", {"run_id": self.run_id, "doc_id": doc_id, "source_uri": uri}))
            requeued = ledger.canonical_removed(db, orphans)
            self.audit.append_many(events)
        if moved:
            self._relocate({row["doc_id"]: row["new"] for row in moved})
        superseded = set(replaced)
        self._remove_documents([d for d in orphans if d not in superseded])
        retired = self.retire_superseded()  # left over by an interrupted run
        return {
            "sources_deleted": len(gone),
            "documents_moved": len(moved),
            "documents_superseded": len(superseded),
            "documents_removed": len(orphans) - len(superseded) + retired,
            "duplicates_requeued": requeued,
        }

    def retire_superseded(self) -> int:
        """Remove previous contents whose successor has been processed (embedded, quarantined or found a
        duplicate): their points go only now, after the successor's points are in. Idempotent, so a run
        interrupted between the two steps is finished by the next one. Returns the number removed."""
        retired = self.catalog.retirable_superseded()
        self._remove_documents(retired)
        return len(retired)

    def _remove_documents(self, doc_ids: list[str]) -> None:
        """Points first, then catalog rows, then derived files (archive members, attachments)."""
        if not doc_ids:
            return
        self.store.delete_documents(doc_ids, _flat(self.catalog.point_ids(doc_ids)))
        with self.catalog.transaction() as db:
            self.catalog.delete_documents(db, doc_ids)
            self.catalog.clear_rejects(db, doc_ids)
            self.near_duplicates.remove(doc_ids)
            ledger.canonical_removed(db, doc_ids)  # (next run if this one is past their batch)
        for doc_id in doc_ids:
            shutil.rmtree(self.settings.paths.data_dir / "derived" / doc_id, ignore_errors=True)

    def _relocate(self, new_uris: dict[str, str]) -> None:
        """Give moved documents' points and cached chunks the metadata of their new location."""
        from docmill.stages.enrich import location_metadata

        fields = {}
        names = stagework.redactor(self.settings, self.pii_key)
        for doc_id, uri in new_uris.items():
            row = self.catalog.source(uri)
            if row is None:
                continue
            source = _source_file(row)
            located = location_metadata(source, self.settings.enrich, names)
            fields[doc_id] = {"department": None, "category": None, **located}
        self.store.update_documents(fields, self.catalog.point_ids(fields))
        with self.catalog.transaction() as db:
            for doc_id, values in fields.items():
                self.catalog.update_chunk_metadata(db, doc_id, values)

    def pending_batches(self, batch_size: int, ramp_up: bool = False) -> Iterator[list[SourceFile]]:
        """Pending documents, one bounded batch at a time, in source order. `ramp_up`: the first batches hold
        1, 2, 4, ... documents up to `batch_size`, so the first one is ready after one document's parse."""
        after, size = "", 1 if ramp_up else batch_size
        while rows := self.catalog.pending_documents(after, size):
            after = rows[-1]["source_uri"]
            size = min(batch_size, size * 2)
            yield [_source_file(r) for r in rows]

    # persistence -------------------------------------------------------------------------------------
    def record_rejects(self, rejects: list[Reject]) -> None:
        """Store rejects; a document-level reject marks its document quarantined (or a duplicate of the reject's
        `duplicate_of`), with an audit entry (`document_quarantined` with the reason, or `document_duplicate`).

        Raises:
            ValueError: for a `duplicate` or `near_duplicate` reject that names no canonical document.
        """
        if not rejects:
            return
        rejects = self._redacted(rejects)
        events: list[tuple[str, dict[str, Any]]] = []
        withdrawn: list[str] = []
        with self.catalog.transaction() as db:
            self.catalog.add_rejects(db, rejects, self.run_id)
            for r in rejects:
                if r.stage == "ingest" and r.source_uri and r.reason not in WITHDRAWING:
                    # unreadable now: keep what earlier runs made of it (a link, a special file or a swapped file
                    # is not: its source vanishes, so the documents earlier runs made of it are removed)
                    # a folder that could not be listed (`folder_unreadable`): everything found under it too
                    self.catalog.mark_seen(db, r.source_uri, self.run_id, subtree=r.reason in KEPT_SUBTREE)
                if r.whole_document and r.doc_id:
                    is_duplicate = r.reason in DUPLICATE_REASONS
                    if is_duplicate and r.duplicate_of is None:
                        raise ValueError(f"{r.reason} reject of {r.doc_id} names no canonical document (duplicate_of)")
                    if is_duplicate and r.duplicate_of is not None:
                        ledger.duplicate(db, r.doc_id, r.stage, self.run_id, self.config_key, r.duplicate_of)
                    else:
                        ledger.rejected(db, r.doc_id, r.stage, self.run_id, self.config_key)
                        self.near_duplicates.remove([r.doc_id])  # never a canonical document for others
                        ledger.canonical_removed(db, [r.doc_id])
                    if self.catalog.has_chunks(r.doc_id):
                        withdrawn.append(r.doc_id)  # reprocessed under new settings and rejected now
                    fields = {"run_id": self.run_id, "doc_id": r.doc_id, "source_uri": r.source_uri, "stage": r.stage}
                    if is_duplicate:
                        events.append(("document_duplicate", {**fields, "duplicate_of": r.duplicate_of}))
                    else:
                        events.append(("document_quarantined", {**fields, "reason": r.reason, "message": r.message}))
            self.audit.append_many(events)
        if withdrawn:
            self.store.delete_documents(withdrawn, _flat(self.catalog.point_ids(withdrawn)))
            with self.catalog.transaction() as db:
                self.catalog.delete_chunks(db, withdrawn)

    def _redacted(self, rejects: list[Reject]) -> list[Reject]:
        """Rejects whose messages went through the PII redactor (parsers name positions, not text, but a
        library's message may still quote a document): the quarantine table, the audit trail and `docmill
        quarantine list` never show what `clean.pii` removes from the text. Duplicate messages name a doc_id."""
        names = stagework.redactor(self.settings, self.pii_key)
        if names is None:
            return rejects
        return [
            r if r.reason in DUPLICATE_REASONS else dataclasses.replace(r, message=names.apply(r.message)[0])
            for r in rejects
        ]

    def start_batch(self, sources: list[SourceFile]) -> None:
        """Forget earlier rejects of documents about to be processed again."""
        with self.catalog.transaction() as db:
            self.catalog.clear_rejects(db, [s.doc_id for s in sources])

    def publish(self, docs: list[Document], chunks: list[Chunk]) -> int:
        """Write validated chunks: Qdrant first (upsert, then drop stale points), then the catalog."""
        self.write_points(chunks, self.catalog.point_ids({c.doc_id for c in chunks}))
        return self.record_published(docs, chunks)

    def write_points(self, chunks: list[Chunk], previous: dict[str, list[str]]) -> int:
        """The Qdrant half of `publish`: each document's points become `chunks`' (`previous`: its point ids the
        catalog knows, doc_id -> ids). Touches only the store, so it may run on a thread of its own; returns the
        number of documents written."""
        by_doc = _by_document(chunks)
        for doc_id, doc_chunks in by_doc.items():
            self.store.replace_document(doc_id, doc_chunks, self.run_id, previous.get(doc_id, ()))
            checkpoint("publish")
        return len(by_doc)

    def record_published(self, docs: list[Document], chunks: list[Chunk]) -> int:
        """The catalog half of `publish`, once the points are written: the chunks, the embedding cache and the
        documents' `embedded` status; then previous contents that are now superseded go. Returns the number of
        documents recorded."""
        by_doc = _by_document(chunks)
        with self.catalog.transaction() as db:
            for doc in docs:
                if doc.doc_id not in by_doc:
                    continue
                self.catalog.replace_chunks(db, doc.doc_id, by_doc[doc.doc_id], self.embedder.model_key, self.run_id)
                ledger.published(
                    db,
                    doc.doc_id,
                    self.run_id,
                    self.config_key,
                    n_chunks=len(by_doc[doc.doc_id]),
                    text_hash=doc.text_hash,
                    title=by_doc[doc.doc_id][0].metadata.get("title"),
                )
        self.retire_superseded()
        return len(by_doc)

    def reconcile_store(self) -> int:
        """Embedded store: delete points the catalog does not know (left by a run killed between a Qdrant write
        and the catalog commit, when the next run no longer makes those chunks). Counting is cheap; the full scan
        runs only when the counts disagree. Returns the number of points deleted."""
        if self.store.is_server:  # indexed filter deletes leave no strays; a shared server may hold other catalogs'
            return 0
        if self.store.count() == self.catalog.counts()["chunks"]:
            return 0
        return int(self.store.sweep(self.catalog.all_point_ids()))

    def prune_cache(self) -> int:
        """Drop cached vectors that no chunk has used for `embed.cache_keep_runs` runs."""
        return self.catalog.prune_embeddings(self.settings.embed.cache_keep_runs)

    def record_version(self, dataset: DatasetVersion) -> None:
        """Audit a new dataset version (an unchanged dataset keeps its version: no entry)."""
        if dataset.new:
            self.audit.append(
                "dataset_version_created",
                run_id=self.run_id,
                dataset=self.settings.version.dataset_name,
                version=dataset.version_id,
                tag=dataset.tag,
                rows=dataset.rows,
            )

    def manifest(self) -> dict[str, Any]:
        """Run-level facts recorded with a dataset version."""
        s = self.settings
        return {
            "run_id": self.run_id,
            "code_version": __version__,
            "components": component_versions(),
            "model": self.embedder.model_key,
            "config_hash": config_hash(s),
            "stage_config_hashes": {
                name: config_hash(getattr(s, attr))
                for name, attr in (
                    ("extract", "extract"),
                    ("clean", "clean"),
                    ("chunk", "chunk"),
                    ("enrich", "enrich"),
                    ("embed", "embed"),
                    ("validate", "validate_"),
                )
            },
            "documents": self.catalog.counts(),
            "audit_head": dict(zip(("seq", "hash"), self.audit.head(), strict=True)),
            "pii_redaction": s.clean.pii.mode,
            "pii_counts": self.catalog.pii_totals(),
            "quarantine": self.catalog.quarantine_counts(),
        }

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
