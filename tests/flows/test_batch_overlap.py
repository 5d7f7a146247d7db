"""Publishing overlaps the next batch's embedding, and the next batch still sees the batch being published.

One document per batch, in path order: `a.md`; `b.md`, which shares a section with `a.md` (its vector must
come from `a.md`'s batch, still waiting to be published, not from the model); `c.md`, a CRLF copy of `b.md`
(an exact duplicate of a document whose batch is waiting to be published). Batches 0 and 1 keep their Qdrant
writes waiting until the next batch's embedding is submitted: the flow must go on meanwhile, and the next
batch must see them. A batch that fails still publishes the one before it."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest
import yaml

from docmill.run.params import PipelineParams
from tests.helpers import qdrant_points

pytestmark = pytest.mark.e2e

SHARED = (
    "## Expense claims\n\nClaims for travel are filed within thirty days of the trip, with every receipt attached "
    "and the cost centre of the project named on the form. Claims above five hundred euros need the approval of "
    "the department head before the finance office pays them out in the next salary run.\n"
)
A = (
    "# Travel policy\n\nStaff book trains for journeys under four hours and economy flights for longer ones, "
    "through the travel desk, which keeps the company's negotiated rates and the list of approved hotels in every "
    "city where the company has an office or a regular customer.\n\n" + SHARED
)
B = (
    "# Conference attendance\n\nEach team may send two people to an external conference per year; the talk "
    "they bring back is presented at the monthly engineering forum, and the slides go into the shared knowledge "
    "base so that colleagues who could not travel still learn what was discussed there.\n\n" + SHARED
)


def _corpus(root: Path, models_dir: Path) -> Path:
    """a.md, b.md, c.md and a config with one document per batch; returns the config path."""
    inbox = root / "inbox"
    inbox.mkdir()
    (inbox / "a.md").write_text(A)
    (inbox / "b.md").write_text(B)
    (inbox / "c.md").write_bytes(B.replace("\n", "\r\n").encode())
    config = {
        "paths": {"data_dir": str(root / "data")},
        "ingest": {"sources": [str(inbox)]},
        "pipeline": {"batch_size": 1},
        # exact duplicates only: the near-duplicate index sees every accepted document at once, published or not
        "clean": {"dedup": {"enabled": False}},
        # the shared section embeds as itself: with its document's title and headings before it (contextualize) the
        # two copies are different embedded texts, and this test is about the waiting batch's vectors being seen
        "chunk": {"contextualize": False},
        "embed": {"models_dir": str(models_dir)},
        "version": {"remote_url": str(root / "remote"), "dataset_name": "overlap"},
    }
    (root / "docmill.yaml").write_text(yaml.safe_dump(config))
    return root / "docmill.yaml"


def _documents(data: Path) -> dict[str, tuple[str, str, str | None, list[str]]]:
    """File name -> (doc_id, status, duplicate_of, quarantine reasons)."""
    db = sqlite3.connect(data / "catalog.sqlite")
    try:
        return {
            Path(uri).name: (doc_id, status, duplicate_of, [r[0] for r in db.execute(
                "SELECT reason FROM quarantine WHERE doc_id=?", (doc_id,))])
            for uri, doc_id, status, duplicate_of in db.execute(
                "SELECT s.source_uri, d.doc_id, d.status, d.duplicate_of FROM sources s JOIN documents d USING(doc_id)"
            ).fetchall()
        }  # fmt: skip
    finally:
        db.close()


def test_a_batch_is_published_while_the_next_embeds_and_the_next_sees_it(
    prefect_api: str, tmp_path: Path, models_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import flows.pipeline as module
    from docmill.run.bookkeeping import Bookkeeping
    from flows import runners

    calls: list[tuple[str, int]] = []  # the flow's order of submissions
    batch_of: dict[str, int] = {}  # doc_id -> batch, from the embed submissions
    next_embedded = [threading.Event() for _ in range(3)]  # [k]: batch k + 1's embedding was submitted
    early: list[int] = []  # batches whose points were written before the next batch's embedding was submitted
    submit, write = runners.submit, Bookkeeping.write_points

    def recorded_submit(runner: Any, task: Any, **parameters: Any) -> Any:
        n = parameters["batch_no"]
        calls.append((task.name, n))
        if task.name == "embed":
            batch_of.update({c.doc_id: n for c in parameters["batch"].chunks})
            if n:
                next_embedded[n - 1].set()
        return submit(runner, task, **parameters)

    def held_write(book: Any, chunks: list[Any], previous: dict[str, list[str]]) -> int:
        """Batches 0 and 1 keep their points unwritten until the next batch embeds: that batch must see them."""
        n = batch_of[chunks[0].doc_id] if chunks else 2  # batch 2 (c.md, a duplicate) has no chunks
        if n < 2 and not next_embedded[n].wait(60):
            early.append(n)
        return int(write(book, chunks, previous))

    monkeypatch.setattr(runners, "submit", recorded_submit)
    monkeypatch.setattr(Bookkeeping, "write_points", held_write)
    config = _corpus(tmp_path, models_dir)
    summary = module.pipeline(params=PipelineParams(config_path=str(config)))

    assert not early, "the flow waited for a batch's Qdrant writes before embedding the next batch"
    rows = _documents(tmp_path / "data")
    assert rows["a.md"][1] == rows["b.md"][1] == "embedded"
    assert rows["c.md"][1:] == ("duplicate", rows["b.md"][0], ["duplicate"]), "b.md's batch was still waiting"
    points = qdrant_points(tmp_path / "data")
    shared = [p for p in points.values() if "Claims for travel are filed" in p["text"]]
    assert len(shared) == 2 and {p["doc_id"] for p in shared} == {rows["a.md"][0], rows["b.md"][0]}
    assert summary["chunks_cached"] == 1, "b.md's shared section reuses a.md's vector from the waiting batch"
    assert summary["chunks_embedded"] == len(points) - 1
    assert summary["stages"]["validate"]["documents_published"] == 2

    order = [c for c in calls if c[0] in ("embed", "publish")]
    assert order == [("embed", 0), ("publish", 0), ("embed", 1), ("publish", 1), ("embed", 2), ("publish", 2)]


def test_a_batch_that_fails_first_publishes_the_validated_batch_before_it(
    prefect_api: str, tmp_path: Path, models_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import flows.pipeline as module
    from docmill.run import stagework

    enrich = stagework.enrich_batch

    def failing(settings: Any, docs: list[Any], chunks: list[Any], sources: list[Any], pii_key: Any) -> Any:
        if any(Path(s.path).name == "b.md" for s in sources):
            raise RuntimeError("enrich failed on b.md")
        return enrich(settings, docs, chunks, sources, pii_key)

    monkeypatch.setattr(stagework, "enrich_batch", failing)
    config = _corpus(tmp_path, models_dir)
    state = module.pipeline(params=PipelineParams(config_path=str(config)), return_state=True)
    assert state.is_failed() and "enrich failed on b.md" in (state.message or ""), state.message
    rows = _documents(tmp_path / "data")
    assert rows["a.md"][1] == "embedded", "a.md's batch was validated before b.md's failed: it is published"
    assert rows["b.md"][1] == rows["c.md"][1] == "pending"
    assert {p["doc_id"] for p in qdrant_points(tmp_path / "data").values()} == {rows["a.md"][0]}


@pytest.mark.parametrize(("limit", "completes"), [(0.3, True), (0.2, False)])
def test_the_gate_judges_the_ramp_up_batches_together_before_publishing_them(
    prefect_api: str, tmp_path: Path, models_dir: Path, monkeypatch: pytest.MonkeyPatch, limit: float, completes: bool
) -> None:
    """Four documents in batches of 1, 2 and 1 (ramp-up to `batch_size` 4); `b.md` fails the `cleaned` contract
    (injected). Judged together, 1 of 4 documents (25 %) passes a 30 % gate, as one batch of four would; judged
    after the second batch (1 of 3) it would not. Under a 20 % gate the run fails, and none of the held batches
    was published."""
    import flows.pipeline as module
    from docmill.records import Reject
    from docmill.stages import validate

    check = validate.check_documents

    def b_md_violates(docs: list[Any], contract: str, config: Any) -> Any:
        result = check(docs, contract, config)
        if contract == "cleaned":
            bad = [d for d in result.records if d.source_uri.endswith("/b.md")]
            result.records = [d for d in result.records if d not in bad]
            result.rejects += [Reject("validate", "injected", "violates injected", d.doc_id, d.source_uri) for d in bad]
        return result

    monkeypatch.setattr(validate, "check_documents", b_md_violates)
    config = _corpus(tmp_path, models_dir)
    inbox = tmp_path / "inbox"
    (inbox / "c.md").write_text("# Parking\n\nThe car park behind the office has forty spaces for staff and guests.\n")
    (inbox / "d.md").write_text("# Canteen\n\nLunch is served from noon to two, with a vegetarian dish every day.\n")
    settings = yaml.safe_load(config.read_text())
    settings["pipeline"]["batch_size"] = 4
    settings["validate"] = {"cleaned": {"max_reject_rate": limit}}
    config.write_text(yaml.safe_dump(settings))
    state = module.pipeline(params=PipelineParams(config_path=str(config)), return_state=True)

    rows = _documents(tmp_path / "data")
    assert rows["b.md"][1:] == ("quarantined", None, ["injected"])
    if completes:
        assert state.is_completed(), state.message
        assert {rows[n][1] for n in ("a.md", "c.md", "d.md")} == {"embedded"}
    else:
        assert state.is_failed() and "failed the cleaned contract" in (state.message or ""), state.message
        assert {rows[n][1] for n in ("a.md", "c.md", "d.md")} == {"pending"}
        collection = tmp_path / "data" / "qdrant" / "collection" / "docmill"  # the run never had to open the store
        assert not collection.exists() or not qdrant_points(tmp_path / "data"), "a held batch was published"
