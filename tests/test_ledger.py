"""The ledger: every allowed transition on a real catalog, an illegal one raising, and no status change
outside it."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import numpy as np
import pytest

from docmill.records import Chunk, Reject, SourceFile, make_chunk_id
from docmill.state import ledger
from docmill.state.catalog import CONTAINER, DUPLICATE, EMBEDDED, PENDING, QUARANTINED, SUPERSEDED, Catalog

SRC = Path(__file__).resolve().parents[1] / "src" / "docmill"
STATUSES = (PENDING, EMBEDDED, QUARANTINED, DUPLICATE, CONTAINER, SUPERSEDED)


def _catalog(tmp_path: Path, status: str, doc_id: str = "d", duplicate_of: str | None = None) -> Catalog:
    """A catalog holding document `doc_id` (with a source) in `status`, plus a pending document `other`."""
    catalog = Catalog(tmp_path / "catalog.sqlite")
    with catalog.transaction():
        for doc, uri in ((doc_id, "file:///d.txt"), ("other", "file:///other.txt")):
            source = SourceFile(uri, uri[7:], 1, 0.0, doc, ".txt")
            catalog.upsert_source(source, "r0")
            catalog.add_document(source, "r0")
        catalog._execute(
            "UPDATE documents SET status=?, duplicate_of=?, config_key='old' WHERE doc_id=?",
            (status, duplicate_of, doc_id),
        )
    return catalog


def _apply(event: str, catalog: Catalog) -> None:
    """Fire `event` on document `d`."""
    with catalog.transaction():
        if event == "published":
            ledger.published(catalog, "d", "r1", "k", n_chunks=2, text_hash="h", title="T")
        elif event == "rejected":
            ledger.rejected(catalog, "d", "parse", "r1", "k")
        elif event == "duplicate":
            ledger.duplicate(catalog, "d", "clean", "r1", "k", duplicate_of="other")
        elif event == "expanded":
            ledger.expanded(catalog, "d", "r1")
        elif event == "superseded":
            ledger.superseded(catalog, "d", "other")
        elif event == "requeued_for_new_settings":
            ledger.requeued_for_new_settings(catalog, "k")
        elif event == "canonical_removed":
            ledger.canonical_removed(catalog, ["other"])
        elif event == "semantic_canonical_removed":
            catalog.add_rejects([_semantic_reject("d")], "r1")
            ledger.semantic_canonical_removed(catalog, ["other"])
        else:
            assert ledger.replayed(catalog, "d")


def _semantic_reject(doc_id: str) -> Reject:
    """A chunk of `doc_id` dropped as a semantic near-duplicate of a chunk of `other`."""
    return Reject(
        "semantic_duplicates", "semantic_duplicate", "cosine 0.99", doc_id, chunk_id="c", duplicate_of="other"
    )


ALLOWED = [(event, source) for event, move in ledger.TRANSITIONS.items() for source in move.sources]


@pytest.mark.parametrize(("event", "source"), ALLOWED)
def test_every_allowed_transition_moves_the_document(tmp_path: Path, event: str, source: str) -> None:
    catalog = _catalog(tmp_path, source, duplicate_of="other" if source == DUPLICATE else None)
    _apply(event, catalog)
    row = catalog.document("d")
    assert row["status"] == ledger.TRANSITIONS[event].target
    if event == "published":
        assert (row["n_chunks"], row["text_hash"], row["title"], row["config_key"]) == (2, "h", "T", "k")
        assert (row["stage"], row["run_id"]) == ("validate", "r1")
    if event in ("rejected", "duplicate"):
        assert (row["config_key"], row["run_id"]) == ("k", "r1")
    if event == "duplicate":
        assert row["duplicate_of"] == "other"
    if event == "superseded":
        assert row["superseded_by"] == "other" and row["run_id"] == "r0"  # how its points were made stays
    if ledger.TRANSITIONS[event].target == PENDING:
        assert row["stage"] == "ingest"
    assert catalog.document("other")["status"] == PENDING
    catalog.close()


ILLEGAL = [
    (event, source)
    for event, move in ledger.TRANSITIONS.items()
    for source in STATUSES
    if source not in move.sources and event in ("published", "rejected", "duplicate", "expanded", "superseded")
]


@pytest.mark.parametrize(("event", "source"), ILLEGAL)
def test_an_illegal_transition_raises_naming_the_document_and_both_statuses(
    tmp_path: Path, event: str, source: str
) -> None:
    catalog = _catalog(tmp_path, source)
    with pytest.raises(ledger.IllegalTransition) as err:
        _apply(event, catalog)
    assert "document d" in str(err.value) and f"{source} -> {ledger.TRANSITIONS[event].target}" in str(err.value)
    assert catalog.document("d")["status"] == source  # the transaction rolled back
    catalog.close()


BULK = [
    (event, source)
    for event, move in ledger.TRANSITIONS.items()
    for source in STATUSES
    if source not in move.sources
    and event in ("requeued_for_new_settings", "canonical_removed", "semantic_canonical_removed", "replayed")
]


@pytest.mark.parametrize(("event", "source"), BULK)
def test_a_bulk_transition_leaves_documents_in_other_statuses_as_they_are(
    tmp_path: Path, event: str, source: str
) -> None:
    catalog = _catalog(tmp_path, source, duplicate_of="other")
    with catalog.transaction():
        moved = {
            "requeued_for_new_settings": lambda: ledger.requeued_for_new_settings(catalog, "k")[1],
            "canonical_removed": lambda: ledger.canonical_removed(catalog, ["other"]),
            "semantic_canonical_removed": lambda: (
                catalog.add_rejects([_semantic_reject("d")], "r1"),
                ledger.semantic_canonical_removed(catalog, ["other"]),
            )[1],
            "replayed": lambda: int(ledger.replayed(catalog, "d")),
        }[event]()
    assert moved == 0 and catalog.document("d")["status"] == source
    catalog.close()


def test_semantic_canonical_removed_queues_the_documents_with_flagged_or_dropped_copies(tmp_path: Path) -> None:
    """`d` has a chunk flagged as a copy of `other`'s (metadata), `e` a dropped one (a quarantine row), `f` a copy
    of a third document: removing `other` queues `d` and `e`, never `other` itself nor `f`."""
    catalog = _catalog(tmp_path, EMBEDDED)
    with catalog.transaction():
        for doc, uri in (("e", "file:///e.txt"), ("f", "file:///f.txt")):
            source = SourceFile(uri, uri[7:], 1, 0.0, doc, ".txt")
            catalog.upsert_source(source, "r0")
            catalog.add_document(source, "r0")
            ledger.published(catalog, doc, "r1", "k", n_chunks=1, text_hash=doc, title=None)
        for doc, canonical in (("d", "other"), ("f", "third"), ("other", None)):
            meta = {"semantic_duplicate_of": "x", "semantic_duplicate_doc": canonical} if canonical else {}
            vector = np.ones(4, dtype=np.float32)
            item = Chunk(make_chunk_id(doc, 0, "t"), doc, 0, "t", 1, 0, 1, metadata=meta, vector=vector)
            catalog.replace_chunks(doc, [item], "m", "r1")
        catalog.add_rejects([_semantic_reject("e")], "r1")
        assert catalog.semantic_duplicates_of(["other"]) == {"d", "e"}
        assert ledger.semantic_canonical_removed(catalog, ["other"]) == 2
    statuses = {doc: catalog.document(doc)["status"] for doc in ("d", "e", "f")}
    assert statuses == {"d": PENDING, "e": PENDING, "f": EMBEDDED}
    catalog.close()


def test_a_document_the_catalog_does_not_know_is_left_alone(tmp_path: Path) -> None:
    catalog = _catalog(tmp_path, PENDING)
    with catalog.transaction():
        ledger.rejected(catalog, "unknown", "ingest", "r1", "k")
    assert catalog.document("unknown") is None
    catalog.close()


# no status change outside the ledger ------------------------------------------------------------------
_STATUS_SQL = re.compile(r"UPDATE\s+documents\s+SET\s+status", re.IGNORECASE)
_OWNERS = {SRC / "state" / "ledger.py"}


def _offences(path: Path) -> list[str]:
    """Calls of a `set_status` and SQL text that sets a document's status, in one module."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Attribute) and node.attr == "set_status":
            found.append(f"{path}:{node.lineno}: set_status")
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and _STATUS_SQL.search(node.value):
            found.append(f"{path}:{node.lineno}: {node.value[:60]}")
    return found


def test_no_module_but_the_ledger_changes_a_documents_status() -> None:
    modules = [p for p in SRC.rglob("*.py") if p not in _OWNERS]
    flows = Path(__file__).resolve().parents[1] / "flows"
    assert len(modules) > 50
    assert [o for p in [*modules, *flows.rglob("*.py")] for o in _offences(p)] == []


def test_the_offence_check_sees_a_status_change() -> None:
    assert _offences(SRC / "state" / "ledger.py")  # the ledger itself is what it looks for
