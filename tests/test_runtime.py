"""Incremental bookkeeping in the catalog (`Ingestion.record_sources` / `remove_vanished`, `Bookkeeping`) on real
files."""

import json
import os
from pathlib import Path

import pytest

from docmill.config.settings import PathsConfig, Settings
from docmill.records import Chunk, Document, Reject, make_chunk_id
from docmill.run import upkeep
from docmill.run.bookkeeping import Bookkeeping
from docmill.run.context import RunContext
from docmill.run.ingestion import Ingestion
from docmill.sources.folder import FolderSource, sha256_file
from docmill.stages.ingest import ingest
from docmill.state import ledger
from docmill.state.catalog import DUPLICATE, SUPERSEDED
from docmill.state.locks import holder_gone


def _ingest(rt: RunContext, roots: list[Path]) -> dict[str, int]:
    Ingestion(rt).start()
    for root in roots:
        items = list(FolderSource(root, ["**/*"], []).list())
        Ingestion(rt).record_sources(
            ingest(items, lambda uri: (row := rt.catalog.source(uri)) and row["doc_id"], sha256_file).records
        )
        Ingestion(rt).check_listing(root, len(items))
    return Ingestion(rt).remove_vanished(roots)


def _runtime(tmp_path: Path, run: str) -> RunContext:
    return RunContext(Settings(paths=PathsConfig(data_dir=tmp_path / "data")), run)


def test_running_on_one_source_folder_keeps_the_others(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    (tmp_path / "a" / "x.txt").write_text("first folder text")
    (tmp_path / "b" / "y.txt").write_text("second folder text")
    _ingest(_runtime(tmp_path, "r1"), [tmp_path / "a", tmp_path / "b"])
    stats = _ingest(_runtime(tmp_path, "r2"), [tmp_path / "a"])
    assert stats["sources_deleted"] == 0
    assert _runtime(tmp_path, "r3").catalog.counts()["sources"] == 2


def test_an_empty_listing_of_a_known_folder_deletes_nothing(tmp_path: Path) -> None:
    (tmp_path / "share").mkdir()
    (tmp_path / "share" / "x.txt").write_text("text on the share")
    _ingest(_runtime(tmp_path, "r1"), [tmp_path / "share"])
    (tmp_path / "share" / "x.txt").unlink()  # as if the share were not mounted
    with pytest.raises(RuntimeError, match="is the share mounted"):
        _ingest(_runtime(tmp_path, "r2"), [tmp_path / "share"])
    assert _runtime(tmp_path, "r3").catalog.counts()["sources"] == 1


def test_identical_files_then_one_changes(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.txt").write_text("same bytes in two files")
    (tmp_path / "in" / "b.txt").write_text("same bytes in two files")
    rt = _runtime(tmp_path, "r1")
    assert _ingest(rt, [tmp_path / "in"])["documents_removed"] == 0
    assert rt.catalog.counts()["pending"] == 1
    shared_doc = rt.catalog.source((tmp_path / "in" / "a.txt").resolve().as_uri())["doc_id"]
    (tmp_path / "in" / "a.txt").write_text("a.txt now holds other text")
    rt = _runtime(tmp_path, "r2")
    _ingest(rt, [tmp_path / "in"])
    assert rt.catalog.document(shared_doc)["source_uri"].endswith("/b.txt"), "the document moves to its copy"
    batch = next(Bookkeeping(rt).pending_batches(10))
    assert {(Path(s.path).name, s.doc_id == shared_doc) for s in batch} == {("a.txt", False), ("b.txt", True)}


def _two_copies(tmp_path: Path) -> tuple[RunContext, str, str]:
    """a.txt and b.txt with the same text (other bytes), ingested: the runtime and both doc ids."""
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.txt").write_text("canonical text\n")
    (tmp_path / "in" / "b.txt").write_text("canonical text\r\n")
    rt = _runtime(tmp_path, "r1")
    _ingest(rt, [tmp_path / "in"])
    uri = lambda name: (tmp_path / "in" / name).resolve().as_uri()  # noqa: E731
    return rt, rt.catalog.source(uri("a.txt"))["doc_id"], rt.catalog.source(uri("b.txt"))["doc_id"]


def test_duplicates_of_a_removed_document_are_processed_again(tmp_path: Path) -> None:
    rt, doc_a, doc_b = _two_copies(tmp_path)
    with rt.catalog.transaction():  # what the pipeline records after processing both
        ledger.published(rt.catalog, doc_a, "r1", rt.config_key, n_chunks=0, text_hash=None, title=None)
        ledger.duplicate(rt.catalog, doc_b, "clean", "r1", rt.config_key, duplicate_of=doc_a)
    (tmp_path / "in" / "a.txt").unlink()
    rt = _runtime(tmp_path, "r2")
    stats = _ingest(rt, [tmp_path / "in"])  # removing doc_a also deletes its points in the embedded Qdrant
    assert stats["documents_removed"] == 1 and stats["duplicates_requeued"] == 1
    assert rt.catalog.document(doc_b)["status"] == "pending"
    assert rt.store.count() == 0
    rt.close()


def test_a_duplicate_names_its_canonical_copy_in_a_typed_field_never_parsed_from_its_message(tmp_path: Path) -> None:
    """The catalog's `duplicate_of` and the audit entry come from `Reject.duplicate_of`: the message is for people
    and may be worded any way (here the id is not its last word)."""
    rt, doc_a, doc_b = _two_copies(tmp_path)
    message = f"estimated Jaccard 0.93 with document {doc_a} (2 near copies)"
    Bookkeeping(rt).record_rejects([Reject("clean", "near_duplicate", message, doc_b, duplicate_of=doc_a)])
    assert (rt.catalog.document(doc_b)["status"], rt.catalog.document(doc_b)["duplicate_of"]) == (DUPLICATE, doc_a)
    assert [e["duplicate_of"] for e in rt.audit.show(event="document_duplicate")] == [doc_a]
    assert [r["message"] for r in rt.catalog.quarantine()] == [message], "the message is stored as it was written"
    with pytest.raises(ValueError, match="names no canonical document"):
        Bookkeeping(rt).record_rejects([Reject("clean", "duplicate", f"same text as document {doc_a}", doc_b)])
    rt.close()


def test_duplicates_of_a_document_that_ends_quarantined_are_processed_again(tmp_path: Path) -> None:
    """A canonical copy reprocessed (new settings, or a kill before its publish) and then quarantined: its
    duplicates must not stay duplicates of nothing."""
    rt, doc_a, doc_b = _two_copies(tmp_path)
    Bookkeeping(rt).record_rejects([Reject("clean", "duplicate", f"same text as {doc_a}", doc_b, duplicate_of=doc_a)])
    assert (rt.catalog.document(doc_b)["status"], rt.catalog.document(doc_b)["duplicate_of"]) == (DUPLICATE, doc_a)
    Bookkeeping(rt).record_rejects([Reject("extract", "timeout", "parser over 120 s", doc_a)])
    assert rt.catalog.document(doc_a)["status"] == "quarantined"
    assert (rt.catalog.document(doc_b)["status"], rt.catalog.document(doc_b)["duplicate_of"]) == ("pending", None)
    assert [s.doc_id for s in next(Bookkeeping(rt).pending_batches(10))] == [doc_b]
    rt.close()


def _publish(rt: RunContext, doc_id: str, texts: list[str]) -> None:
    """Publish a document with the given chunk texts (vectors from the real model)."""
    doc = Document(doc_id, "", "txt", [], text="\n\n".join(texts), text_hash=doc_id)
    chunks = [Chunk(make_chunk_id(doc_id, i, t), doc_id, i, t, 4, 0, len(t)) for i, t in enumerate(texts)]
    for item, vector in zip(chunks, rt.embedder.encode(texts), strict=True):
        item.vector = vector
    book = Bookkeeping(rt)  # Qdrant first, then the catalog, as the flow's publishing does
    book.write_points(chunks, book.point_ids({doc_id}))
    book.record_published([doc], chunks)


def _doc_ids_in_store(rt: RunContext) -> list[str]:
    points, _ = rt.store.client.scroll(rt.store.collection, limit=100, with_payload=True)
    return sorted(p.payload["doc_id"] for p in points)


def _published_memo(tmp_path: Path, chunks: list[str]) -> tuple[Path, str]:
    """A memo ingested and published by run r1: (its path, its doc_id)."""
    (tmp_path / "in").mkdir()
    memo = tmp_path / "in" / "memo.txt"
    memo.write_text("first version of the memo")
    rt = _runtime(tmp_path, "r1")
    _ingest(rt, [tmp_path / "in"])
    old = rt.catalog.source(memo.resolve().as_uri())["doc_id"]
    _publish(rt, old, chunks)
    rt.close()
    return memo, old


def test_a_changed_file_keeps_its_old_points_until_the_new_content_is_published(tmp_path: Path) -> None:
    memo, old = _published_memo(tmp_path, ["first version", "of the memo"])
    memo.write_text("second version of the memo")
    rt = _runtime(tmp_path, "r2")
    assert _ingest(rt, [tmp_path / "in"])["documents_superseded"] == 1
    new = rt.catalog.source(memo.resolve().as_uri())["doc_id"]
    assert _doc_ids_in_store(rt) == [old, old], "the file is never without points"
    assert rt.catalog.document(old)["status"] == SUPERSEDED
    # a crash after the new points are written but before the catalog commit ...
    doc_chunks = [Chunk(make_chunk_id(new, 0, "second version"), new, 0, "second version", 3, 0, 14)]
    doc_chunks[0].vector = rt.embedder.encode(["second version"])[0]
    rt.store.replace_document(new, doc_chunks, "r2")
    rt.close()

    rt = _runtime(tmp_path, "r3")  # ... is finished by the next run: the new content is still pending
    assert _ingest(rt, [tmp_path / "in"])["documents_removed"] == 0
    assert rt.catalog.document(new)["status"] == "pending"
    _publish(rt, new, ["second version"])
    assert _doc_ids_in_store(rt) == [new] and rt.catalog.document(old) is None
    rt.close()


def test_superseded_content_goes_when_the_new_content_is_quarantined(tmp_path: Path) -> None:
    memo, old = _published_memo(tmp_path, ["first version of the memo"])
    memo.write_text("")
    rt = _runtime(tmp_path, "r2")
    _ingest(rt, [tmp_path / "in"])
    new = rt.catalog.source(memo.resolve().as_uri())["doc_id"]
    Bookkeeping(rt).record_rejects([Reject("extract", "empty", "no text", new, memo.resolve().as_uri())])
    assert Bookkeeping(rt).retire_superseded() == 1
    assert _doc_ids_in_store(rt) == [] and rt.catalog.document(old) is None
    rt.close()


def test_two_runs_never_work_on_one_data_folder(tmp_path: Path) -> None:
    first, second = _runtime(tmp_path, "r1"), _runtime(tmp_path, "r2")
    first.start_run()
    with pytest.raises(RuntimeError, match=r"another docmill run .*\(run r1, pid"):
        second.start_run()
    first.close()  # a finished (or killed) run releases the lock
    second.start_run()
    second.close()


def test_a_run_left_running_is_recorded_crashed_by_the_next_holder_of_the_lock(tmp_path: Path) -> None:
    """A run whose process died never recorded its end; the next run to take the lock records it crashed (the
    flow also marks its Prefect flow run: tests/flows/test_crash_resume.py kills a real run)."""
    first = _runtime(tmp_path, "r1")
    first.start_run()
    first.close()  # the lock is released as by a killed process; the run never finished
    assert not holder_gone(tmp_path / "data", "run r1")  # its process (this one) still exists
    second = _runtime(tmp_path, "r2")
    second.start_run()
    assert second.crashed_runs == ["r1"]
    runs = {r["run_id"]: r for r in second.catalog.last_runs()}
    assert runs["r1"]["status"] == "crashed" and runs["r2"]["status"] == "running" and runs["r1"]["finished_at"]
    error = json.loads(runs["r1"]["summary"])["error"]
    assert f"(run r1, pid {os.getpid()}," in error and "found by run r2" in error
    assert [e["run_id"] for e in second.audit.show(event="run_crashed")] == ["r1"]
    second.finish_run("completed", {"documents": {}})
    second.close()
    third = _runtime(tmp_path, "r3")
    third.start_run()  # finished and crashed runs are left as they are
    assert third.crashed_runs == [] and {r["status"] for r in third.catalog.last_runs()} == {
        "crashed",
        "completed",
        "running",
    }
    assert third.catalog.run_totals()["runs"] == {"crashed": 1, "completed": 1, "running": 1}
    third.close()


def test_the_embedded_store_replaces_and_reconciles_points_by_catalog_ids(tmp_path: Path) -> None:
    _memo, doc = _published_memo(tmp_path, ["alpha text", "beta text", "gamma text"])
    rt = _runtime(tmp_path, "r2")
    _publish(rt, doc, ["alpha text"])  # fewer chunks: the dropped ones go by their catalog ids
    assert rt.store.count() == 1 and upkeep.reconcile_store(rt) == 0
    # a run killed between a Qdrant write and the catalog commit, whose chunks the next run no longer makes
    stray = [Chunk(make_chunk_id(doc, 0, "delta text"), doc, 0, "delta text", 3, 0, 10)]
    stray[0].vector = rt.embedder.encode(["delta text"])[0]
    rt.store.replace_document(doc, stray, "r2", rt.catalog.point_ids([doc])[doc])
    _publish(rt, doc, ["epsilon text"])
    assert rt.store.count() == 2, "the catalog never knew the killed run's point"
    assert upkeep.reconcile_store(rt) == 1
    points, _ = rt.store.client.scroll(rt.store.collection, limit=10, with_payload=True)
    assert [p.payload["text"] for p in points] == ["epsilon text"]
    rt.close()


def test_relocating_points_skips_ids_a_killed_publish_already_deleted(tmp_path: Path) -> None:
    _memo, doc = _published_memo(tmp_path, ["alpha text", "beta text"])
    rt = _runtime(tmp_path, "r2")
    ids = rt.catalog.point_ids([doc])
    rt.store._delete_ids(ids[doc][:1])  # as a publish killed after its deletes, before the catalog commit
    rt.store.update_documents({doc: {"department": "legal"}}, ids)
    points, _ = rt.store.client.scroll(rt.store.collection, limit=10, with_payload=True)
    assert [p.payload["department"] for p in points] == ["legal"]
    rt.close()


@pytest.mark.parametrize(("ramp_up", "sizes"), [(True, [1, 2, 4, 5, 5, 3]), (False, [5, 5, 5, 5])])
def test_pending_batches_ramp_up_then_keep_the_batch_size(tmp_path: Path, ramp_up: bool, sizes: list[int]) -> None:
    (tmp_path / "in").mkdir()
    for i in range(20):
        (tmp_path / "in" / f"{i:02d}.txt").write_text(f"document number {i}")
    rt = _runtime(tmp_path, "r1")
    _ingest(rt, [tmp_path / "in"])
    batches = list(Bookkeeping(rt).pending_batches(5, ramp_up))
    assert [len(b) for b in batches] == sizes
    names = [Path(s.path).name for b in batches for s in b]
    assert names == sorted(names) and len(set(names)) == 20, "every pending document once, in source order"


def test_a_changed_file_that_became_a_duplicate_keeps_its_old_points_until_its_canonical_is_published(
    tmp_path: Path,
) -> None:
    """memo.txt now holds other.txt's text: its new content is a duplicate of other.txt, which is still on its
    way to Qdrant (a batch being published). The memo's old points stay until other.txt is recorded."""
    memo, old = _published_memo(tmp_path, ["first version of the memo"])
    (tmp_path / "in" / "other.txt").write_text("the text both files hold now")
    memo.write_text("the text both files hold now\n")
    rt = _runtime(tmp_path, "r2")
    _ingest(rt, [tmp_path / "in"])
    new = rt.catalog.source(memo.resolve().as_uri())["doc_id"]
    other = rt.catalog.source((tmp_path / "in" / "other.txt").resolve().as_uri())["doc_id"]
    uri = memo.resolve().as_uri()
    Bookkeeping(rt).record_rejects(
        [Reject("clean", "duplicate", f"same text as document {other}", new, uri, duplicate_of=other)]
    )
    assert rt.catalog.document(new)["status"] == DUPLICATE
    assert Bookkeeping(rt).retire_superseded() == 0 and _doc_ids_in_store(rt) == [old], (
        "the memo's text is never without points"
    )
    _publish(rt, other, ["the text both files hold now"])  # recording other.txt retires the old content
    assert _doc_ids_in_store(rt) == [other] and rt.catalog.document(old) is None
    rt.close()
