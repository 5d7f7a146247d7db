"""The run-time glue between stages and their adapters: what each Prefect task loads and persists.

A `Runtime` owns one run's adapters (catalog, parser pool, tokenizer, embedder, vector store, data repo),
created lazily so that a task only pays for what it uses. Flows call these methods; no Prefect here.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Iterator
from functools import cached_property
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any

from docmill import __version__
from docmill.catalog import DUPLICATE, EMBEDDED, PENDING, QUARANTINED, Catalog
from docmill.records import Chunk, Document, Reject, SourceFile, config_hash
from docmill.settings import Settings

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


def _uri_prefix(root: Path) -> str:
    return root.resolve().as_uri().rstrip("/") + "/"


class Runtime:
    """Adapters and persistence for one pipeline run."""

    def __init__(self, settings: Settings, run_id: str) -> None:
        self.settings = settings
        self.run_id = run_id
        self.catalog = Catalog(settings.paths.catalog)

    # adapters ----------------------------------------------------------------------------------------
    @cached_property
    def parser_pool(self) -> Any:
        from docmill.parsers.pool import ParserPool

        cfg = self.settings.extract
        return ParserPool(cfg.workers, cfg.timeout_s, cfg.max_memory_mb, cfg.parser_options())

    @cached_property
    def model_folder(self) -> Any:
        from docmill.embedding import resolve_model_path

        return resolve_model_path(self.settings.embed.model_path)

    @cached_property
    def tokenizer(self) -> Any:
        from docmill.embedding import ModelTokenizer

        return ModelTokenizer(self.model_folder)

    @cached_property
    def embedder(self) -> Any:
        from docmill.embedding import Embedder

        cfg = self.settings.embed
        return Embedder(self.model_folder, cfg.model_name, cfg.device, cfg.batch_size)

    @cached_property
    def store(self) -> Any:
        from docmill.store import QdrantStore

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
        from docmill.datarepo import DataRepo

        cfg = self.settings.version
        repo = DataRepo(self.settings.paths.data_dir / "datasets", cfg.remote_name, cfg.remote_url)
        repo.ensure()
        return repo

    @property
    def max_tokens(self) -> int:
        """The chunk token budget."""
        model_max = int(self.tokenizer.max_tokens)  # longer chunks would be truncated silently by the model
        return min(self.settings.chunk.max_tokens or model_max, model_max)

    def close(self) -> None:
        """Release processes, locks and connections."""
        if "parser_pool" in self.__dict__:
            self.parser_pool.close()
        if "store" in self.__dict__:
            self.store.close()
        self.catalog.close()

    # ingest ------------------------------------------------------------------------------------------
    def record_sources(self, pairs: list[tuple[SourceFile, str]]) -> dict[str, int]:
        """Upsert listed sources; new content becomes a pending document. Returns alias count."""
        aliases = 0
        with self.catalog.transaction() as db:
            for source, _change in pairs:
                self.catalog.upsert_source(db, source, self.run_id)
                known = db.execute("SELECT source_uri FROM documents WHERE doc_id=?", (source.doc_id,)).fetchone()
                if known is None:
                    db.execute(
                        "INSERT INTO documents(doc_id, source_uri, status, stage, file_type, run_id) "
                        "VALUES (?, ?, ?, 'ingest', ?, ?)",
                        (
                            source.doc_id,
                            source.source_uri,
                            PENDING,
                            source.extension.lstrip("."),
                            self.run_id,
                        ),
                    )
                elif known["source_uri"] != source.source_uri:
                    aliases += 1
        return {"same_bytes_as_other_file": aliases}

    def start_ingest(self) -> None:
        """Ingest rejects are recomputed by every run: forget the previous ones."""
        with self.catalog.transaction() as db:
            db.execute("DELETE FROM quarantine WHERE stage='ingest'")

    def check_listing(self, root: Path, listed: int) -> None:
        """Refuse to treat an empty listing of a known folder as "everything was deleted".

        Raises:
            RuntimeError: when `root` listed no file although earlier runs found some (unmounted share?).
        """
        prefix = _uri_prefix(root)
        known = self.catalog.query(
            "SELECT COUNT(*) n FROM sources WHERE substr(source_uri, 1, ?) = ?", (len(prefix), prefix)
        )[0]["n"]
        if listed == 0 and known:
            raise RuntimeError(
                f"source folder {root} listed no files but earlier runs found {known}: is the share mounted? "
                "Nothing was deleted. Remove the folder from ingest.sources to retire its documents."
            )

    def remove_vanished(self, roots: list[Path]) -> dict[str, int]:
        """Forget sources under `roots` not seen in this run; remove documents no source points to any more;
        queue again the duplicates of removed documents (they may now be the only copy of their text)."""
        with self.catalog.transaction() as db:
            deleted = 0
            for prefix in map(_uri_prefix, roots):
                deleted += db.execute(
                    "DELETE FROM sources WHERE last_seen_run != ? AND substr(source_uri, 1, ?) = ?",
                    (self.run_id, len(prefix), prefix),
                ).rowcount
            orphans = [
                r[0]
                for r in db.execute("SELECT doc_id FROM documents WHERE doc_id NOT IN (SELECT doc_id FROM sources)")
            ]
            db.execute(  # a document whose recorded source now holds other bytes moves to a remaining copy
                "UPDATE documents SET source_uri="
                "(SELECT MIN(source_uri) FROM sources s WHERE s.doc_id=documents.doc_id)"
                " WHERE NOT EXISTS (SELECT 1 FROM sources s WHERE s.source_uri=documents.source_uri"
                " AND s.doc_id=documents.doc_id) AND doc_id IN (SELECT doc_id FROM sources)"
            )
            requeued = 0
            for doc_id in orphans:
                requeued += db.execute(
                    "UPDATE documents SET status=?, stage='ingest', duplicate_of=NULL "
                    "WHERE status=? AND duplicate_of=?",
                    (PENDING, DUPLICATE, doc_id),
                ).rowcount
        if orphans:
            self.store.delete_documents(orphans)
            with self.catalog.transaction() as db:
                for doc_id in orphans:
                    db.execute("DELETE FROM chunks WHERE doc_id=?", (doc_id,))
                    db.execute("DELETE FROM documents WHERE doc_id=?", (doc_id,))
                self.catalog.clear_rejects(db, orphans)
            for doc_id in orphans:  # members of a removed archive
                shutil.rmtree(self.settings.paths.data_dir / "derived" / doc_id, ignore_errors=True)
        return {"sources_deleted": deleted, "documents_removed": len(orphans), "duplicates_requeued": requeued}

    def pending_batches(self, batch_size: int) -> Iterator[list[SourceFile]]:
        """Pending documents, one bounded batch at a time."""
        after = ""
        while rows := self.catalog.pending_documents(after, batch_size):
            after = rows[-1]["source_uri"]
            yield [
                SourceFile(r["source_uri"], r["path"], r["size"], r["mtime"], r["doc_id"], r["extension"]) for r in rows
            ]

    # persistence -------------------------------------------------------------------------------------
    def record_rejects(self, rejects: list[Reject]) -> None:
        """Store rejects; a document-level reject marks its document quarantined (or duplicate)."""
        if not rejects:
            return
        with self.catalog.transaction() as db:
            self.catalog.add_rejects(db, rejects, self.run_id)
            for r in rejects:
                if r.stage == "ingest" and r.source_uri:  # unreadable now: keep what earlier runs made of it
                    db.execute("UPDATE sources SET last_seen_run=? WHERE source_uri=?", (self.run_id, r.source_uri))
                if r.doc_id and r.chunk_id is None:
                    status = DUPLICATE if r.reason == "duplicate" else QUARANTINED
                    extra = {"duplicate_of": r.message.rsplit(" ", 1)[-1]} if status == DUPLICATE else {}
                    self.catalog.set_status(db, r.doc_id, status, r.stage, self.run_id, **extra)

    def start_batch(self, sources: list[SourceFile]) -> None:
        """Forget earlier rejects of documents about to be processed again."""
        with self.catalog.transaction() as db:
            self.catalog.clear_rejects(db, [s.doc_id for s in sources])

    def publish(self, docs: list[Document], chunks: list[Chunk]) -> int:
        """Write validated chunks: Qdrant first (upsert, then drop stale points), then the catalog."""
        by_doc: dict[str, list[Chunk]] = {}
        for item in chunks:
            by_doc.setdefault(item.doc_id, []).append(item)
        for doc_id, doc_chunks in by_doc.items():
            self.store.replace_document(doc_id, doc_chunks, self.run_id)
        with self.catalog.transaction() as db:
            for doc in docs:
                if doc.doc_id not in by_doc:
                    continue
                self.catalog.replace_chunks(db, doc.doc_id, by_doc[doc.doc_id], self.embedder.model_key, self.run_id)
                self.catalog.set_status(
                    db,
                    doc.doc_id,
                    EMBEDDED,
                    "validate",
                    self.run_id,
                    n_chunks=len(by_doc[doc.doc_id]),
                    text_hash=doc.text_hash,
                    title=by_doc[doc.doc_id][0].metadata.get("title"),
                )
        return len(by_doc)

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
        }
