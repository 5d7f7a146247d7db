"""Ingest, the first step of a run: list every source, stage remote items, hash files, expand archives and
e-mails, record new and changed content as pending documents, and forget what vanished (only under the
scopes of sources listed completely). The flow's `ingest` task is `Ingestion(ctx).run()`."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from docmill.isolation.faults import checkpoint
from docmill.records import FileItem, SourceFile
from docmill.run.bookkeeping import Bookkeeping
from docmill.run.containers import Tree, expand_containers
from docmill.run.context import RunContext
from docmill.sources import registry, staging
from docmill.sources.base import Connector, scope_prefix
from docmill.sources.folder import sha256_file
from docmill.stages import ingest
from docmill.state import ledger

SLICE = 1000  # listed items recorded per transaction: bounded memory on big shares and buckets


class Ingestion:
    """The ingest step of one run (see the module docstring)."""

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx
        self.book = Bookkeeping(ctx)
        self._catalog = ctx.catalog

    def run(self) -> dict[str, float]:
        """Ingest every configured source; returns the step's counters."""
        stats: Counter[str] = Counter()
        self.start()
        scopes: list[Path | str] = []
        for connector in registry.connectors(self.ctx.settings.ingest):
            try:
                stats.update(self.source(connector))
            finally:
                connector.close()
            scopes.append(connector.scope)
        checkpoint("ingest")
        stats.update(self.remove_vanished(scopes))
        stats["fetched_pruned"] = staging.prune(self._fetched, set(self._catalog.source_paths()))
        stats["requeued_for_new_settings"] = self.requeue_for_new_settings()
        return dict(stats)

    def start(self) -> None:
        """Ingest rejects are recomputed by every run: forget the previous ones."""
        with self._catalog.transaction():
            self._catalog.clear_stage_rejects("ingest")

    @property
    def _fetched(self) -> Path:
        return (self.ctx.settings.paths.data_dir / "fetched").resolve()

    def source(self, connector: Connector) -> Counter[str]:
        """Ingest one source: list it in slices (bounded memory), staging remote items; returns its counters.

        Raises:
            RuntimeError: when it lists nothing although earlier runs found files under it (`check_listing`).
        """
        stats: Counter[str] = Counter()
        listed = 0
        for items, rejects in registry.slices(connector):
            listed += len(items) + len(rejects)
            known = self._catalog.known_versions([i.source_uri for i in items])
            staged = staging.stage(connector, items, known, self._fetched)
            self.book.record_rejects(rejects + staged.rejects)
            stats.update({"fetched": staged.fetched, "not_refetched": staged.not_refetched, "copied": staged.copied})
            stats.update(self.items(staged.items, depth=0, hasher=staged.hasher))
        self.check_listing(connector.scope, listed)
        return stats

    def items(self, items: list[FileItem], depth: int, hasher: Callable[[str], str] = sha256_file) -> Counter[str]:
        """Hash and record listed files; the archives and e-mails among top-level ones are expanded (their whole
        tree at once, see `docmill.run.containers`) and their members ingested too."""
        known = self._catalog.known_sources([i.source_uri for i in items])
        result = ingest.ingest(items, known.get, hasher)
        stats: Counter[str] = Counter(result.stats)
        stats.update(self.record_sources(result.records))
        self.book.record_rejects(result.rejects)
        if depth == 0:
            tree = expand_containers(self.ctx.settings, result.records)
            for start in range(0, len(tree.members), SLICE):
                stats.update(self.items(tree.members[start : start + SLICE], depth + 1, tree.hasher))
            self._record_tree(tree)
        return stats

    def _record_tree(self, tree: Tree) -> None:
        """Mark the archives of a recorded tree as containers and record its rejects."""
        if tree.containers:
            with self._catalog.transaction():
                for doc_id in dict.fromkeys(tree.containers):
                    ledger.expanded(self._catalog, doc_id, self.ctx.run_id)
        self.book.record_rejects(tree.rejects)

    def record_sources(self, pairs: list[tuple[SourceFile, str]]) -> dict[str, int]:
        """Upsert listed sources; new content becomes a pending document. Returns the alias count.

        Audit: `document_added` for content never seen, `document_changed` (with the previous content's
        doc_id) for a known source whose bytes changed."""
        catalog, run_id = self._catalog, self.ctx.run_id
        aliases = 0
        events: list[tuple[str, dict[str, Any]]] = []
        with catalog.transaction():
            for source, change in pairs:
                before = catalog.source(source.source_uri)
                catalog.upsert_source(source, run_id)
                known = catalog.document(source.doc_id)
                fields = {"run_id": run_id, "doc_id": source.doc_id, "source_uri": source.source_uri}
                if change == "changed" and before is not None:
                    events.append(("document_changed", {**fields, "old_doc_id": before["doc_id"], "size": source.size}))
                elif known is None:
                    events.append(("document_added", {**fields, "size": source.size}))
                if known is None:
                    catalog.add_document(source, run_id)
                elif known["source_uri"] != source.source_uri:
                    aliases += 1
            self.ctx.audit.append_many(events)  # before the commit: at-least-once, never a change without its entry
        return {"same_bytes_as_other_file": aliases}

    def check_listing(self, root: Path | str, listed: int) -> None:
        """Refuse to treat an empty listing of a known folder (or connector scope) as "everything was deleted".

        Raises:
            RuntimeError: when `root` listed no file although earlier runs found some (unmounted share?).
        """
        known = self._catalog.count_sources_under(scope_prefix(root))
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
        catalog, run_id = self._catalog, self.ctx.run_id
        events: list[tuple[str, dict[str, Any]]] = []
        with catalog.transaction():
            gone: list[tuple[str, str]] = []
            for prefix in map(scope_prefix, roots):
                gone += catalog.forget_unseen_sources(prefix, run_id)
            orphans = catalog.orphan_documents()
            # a changed file's previous content keeps its points until the new content is processed: no window
            # in which the file has no points (see Bookkeeping.retire_superseded)
            replaced = catalog.replaced_contents()
            for doc_id, successor in replaced.items():
                ledger.superseded(catalog, doc_id, successor)
            # the new content must not be found a near-duplicate of the content it replaces
            self.ctx.near_duplicates.remove(list(replaced))
            moved = catalog.relocate_moved()
            for row in moved:  # the recorded source now holds other bytes or is gone: a remaining copy takes over
                fields = {"run_id": run_id, "doc_id": row["doc_id"], "old_source_uri": row["old"]}
                events.append(("document_moved", {**fields, "source_uri": row["new"]}))
            for uri, doc_id in gone:
                if doc_id in orphans:
                    events.append(("document_deleted", {"run_id": run_id, "doc_id": doc_id, "source_uri": uri}))
            requeued = ledger.canonical_removed(catalog, orphans)
            self.ctx.audit.append_many(events)
        if moved:
            self.book.relocate({row["doc_id"]: row["new"] for row in moved})
        superseded = set(replaced)
        self.book.remove_documents([d for d in orphans if d not in superseded])
        retired = self.book.retire_superseded()  # left over by an interrupted run
        return {
            "sources_deleted": len(gone),
            "documents_moved": len(moved),
            "documents_superseded": len(superseded),
            "documents_removed": len(orphans) - len(superseded) + retired,
            "duplicates_requeued": requeued,
        }

    def requeue_for_new_settings(self) -> int:
        """Documents processed under other settings (see `RunContext.config_key`) go through the pipeline again;
        chunks whose text does not change reuse their cached vectors, so only what the change affects is
        embedded. Their points stay until the new chunks replace them."""
        ctx = self.ctx
        with self._catalog.transaction():
            previous, requeued = ledger.requeued_for_new_settings(self._catalog, ctx.config_key)
            if requeued:
                fields = {"config_key": ctx.config_key, "previous": previous, "documents_requeued": requeued}
                ctx.audit.append("settings_changed", run_id=ctx.run_id, **fields)
        return requeued
