"""End to end through the real Prefect flow (test harness server), the real embedded Qdrant, the real
bundled model, DVC and git, with outbound network blocked except loopback (tests/netguard)."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
import uuid
import zipfile
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
import yaml

from docmill.records import POINT_NAMESPACE
from docmill.state.audit import AuditLog
from docmill.state.datarepo import DataRepo
from tests.helpers import audit_keyring, comparable, qdrant_points

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
LINEAGE = {
    "doc_id",
    "chunk_id",
    "chunk_index",
    "source_uri",
    "sha256",
    "page_start",
    "char_start",
    "char_end",
    "run_id",
    "model",
    "text",
    "title",
    "file_type",
    "parser",
    "chunk_config",
}


@pytest.fixture(scope="module")
def e2e(corpus_subset: Path, sample_corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("e2e")
    inbox = root / "inbox"
    shutil.copytree(corpus_subset, inbox / "shared")
    shutil.copytree(sample_corpus, inbox / "samples")
    text = "Memo\n\nThe archive moves to the new building on Monday. Please label every box.\n"
    (inbox / "memo-a.txt").write_bytes(text.encode())
    (inbox / "memo-b.txt").write_bytes(text.replace("\n", "\r\n").encode())  # other bytes, same text
    with zipfile.ZipFile(inbox / "minutes.zip", "w") as archive:  # an archive: its member is a document
        archive.writestr("2025/board-minutes.txt", "Board minutes\n\nThe board approved the new travel budget.\n")
    config = {
        "paths": {"data_dir": str(root / "data")},
        "pipeline": {"batch_size": 12},
        "ingest": {"sources": [str(inbox)]},
        "enrich": {"rules": [{"pattern": "**/finance/**", "department": "finance"}]},
        "version": {"remote_url": str(root / "remote"), "dataset_name": "e2e"},
    }
    (root / "docmill.yaml").write_text(yaml.safe_dump(config))
    return {"root": root, "inbox": inbox, "config": root / "docmill.yaml", "data": root / "data"}


def _run(config: Path) -> dict[str, Any]:
    from flows.pipeline import pipeline

    return pipeline(config_path=str(config))


def _db(data: Path) -> sqlite3.Connection:
    db = sqlite3.connect(data / "catalog.sqlite")
    db.row_factory = sqlite3.Row
    return db


def test_network_guard_is_active_here_and_in_child_processes() -> None:
    assert socket.socket.connect.__name__ == "_guarded_connect"
    child = subprocess.run(
        [sys.executable, "-c", "import socket; print(socket.socket.connect.__name__)"],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        check=True,
    )
    assert child.stdout.strip() == "_guarded_connect"


def test_full_run_then_unchanged_rerun_then_changes(prefect_api: str, e2e: dict[str, Path]) -> None:
    data = e2e["data"]
    first = _run(e2e["config"])
    points = qdrant_points(data)
    db = _db(data)

    # every input file is embedded (>= 1 point) or quarantined with a reason
    files = sorted(p for p in e2e["inbox"].rglob("*") if p.is_file())
    embedded_docs = {p["doc_id"] for p in points.values()}
    for path in files:
        row = db.execute("SELECT doc_id FROM sources WHERE source_uri=?", (path.resolve().as_uri(),)).fetchone()
        assert row, f"{path} not in the catalog"
        reasons = [r["reason"] for r in db.execute("SELECT reason FROM quarantine WHERE doc_id=?", (row["doc_id"],))]
        if path.suffix == ".zip":
            assert (
                db.execute("SELECT status FROM documents WHERE doc_id=?", (row["doc_id"],)).fetchone()[0] == "container"
            )
            continue
        assert (row["doc_id"] in embedded_docs) != bool(reasons), f"{path.name}: embedded xor quarantined"
    minutes = [p for p in points.values() if "travel budget" in p["text"]]
    assert len(minutes) == 1 and minutes[0]["source_uri"].endswith("minutes.zip!/2025/board-minutes.txt")
    assert minutes[0]["container_uri"].endswith("/minutes.zip")
    attachment = [p for p in points.values() if p["source_uri"].endswith("supplier-update.eml!/suppliers.csv")]
    assert attachment and "Acme Tools" in " ".join(p["text"] for p in attachment)
    assert attachment[0]["container_uri"].endswith("/mail/supplier-update.eml")
    reasons = {r[0] for r in db.execute("SELECT reason FROM quarantine WHERE chunk_id IS NULL")}
    assert {
        "encrypted",
        "corrupt_pdf",
        "empty",
        "too_short",
        "duplicate",
        "no_text_found",
    } <= reasons

    # Qdrant, the dataset and the catalog agree; ids and lineage
    table = pq.read_table(data / "datasets" / "e2e" / "chunks.parquet")
    assert len(points) == table.num_rows == first["points"] == first["dataset_rows"] > 20
    assert set(points) == set(table.column("point_id").to_pylist())
    for point_id, payload in points.items():
        assert point_id == str(uuid.uuid5(POINT_NAMESPACE, payload["chunk_id"]))
        assert set(payload) >= LINEAGE and payload["run_id"] == first["run_id"]
        assert payload["headings"][0] == payload["title"], "every heading path starts at the document title"
    assert table.column("headings").to_pylist() == [points[p]["headings"] for p in table.column("point_id").to_pylist()]
    finance = [p for p in points.values() if "/finance/" in p["source_uri"]]
    assert finance and all(p["department"] == "finance" for p in finance)

    # duplicates are not embedded twice (same bytes: one document; same text: recorded as duplicate)
    copies = db.execute("SELECT DISTINCT doc_id FROM sources WHERE source_uri LIKE '%handbook%.pdf'").fetchall()
    assert len(copies) == 1
    memo_b = db.execute(
        "SELECT d.status, d.duplicate_of FROM documents d JOIN sources s USING(doc_id) "
        "WHERE s.source_uri LIKE '%memo-b.txt'"
    ).fetchone()
    assert memo_b["status"] == "duplicate" and memo_b["duplicate_of"] in embedded_docs
    texts = [p["text"] for p in points.values() if "archive moves" in p["text"]]
    assert len(texts) == 1

    # the dataset version is tracked, committed and pushed
    dvc = str(Path(sys.executable).with_name("dvc"))
    status = subprocess.run([dvc, "status"], cwd=data / "datasets", capture_output=True, text=True, check=True)
    assert "up to date" in status.stdout
    cloud = subprocess.run([dvc, "status", "--cloud"], cwd=data / "datasets", capture_output=True, text=True)
    assert "in sync" in cloud.stdout
    assert first["dataset_tag"] == "e2e@v1" and first["new_version"]

    # an unchanged rerun embeds nothing and keeps the version
    second = _run(e2e["config"])
    assert second["chunks_embedded"] == 0
    assert second["dataset_version"] == first["dataset_version"] and not second["new_version"]
    assert qdrant_points(data) == points  # untouched: same ids, same payloads (still the first run's run_id)

    # every document of the first run has its `document_added` entry; quarantines carry their reason
    audit = AuditLog(data / "audit" / "audit.jsonl", audit_keyring(data))
    added = {e["doc_id"] for e in audit.show(run=first["run_id"], event="document_added")}
    assert added == {r[0] for r in db.execute("SELECT doc_id FROM documents")}
    quarantined = {e["reason"] for e in audit.show(run=first["run_id"], event="document_quarantined")}
    assert {"encrypted", "corrupt_pdf", "empty", "too_short"} <= quarantined
    assert audit.show(run=first["run_id"], event="document_duplicate")

    # a changed, a deleted and a moved file: old points gone, new points in, moved points relabelled, a new version
    runbook = e2e["inbox"] / "samples" / "runbook.md"
    old_doc = db.execute("SELECT doc_id FROM sources WHERE source_uri=?", (runbook.resolve().as_uri(),)).fetchone()[0]
    runbook.write_text(runbook.read_text() + "\n## Step 4\n\nEscalate unresolved tickets to the duty manager.\n")
    contacts = e2e["inbox"] / "samples" / "hr" / "contacts.txt"
    gone_doc = db.execute("SELECT doc_id FROM sources WHERE source_uri=?", (contacts.resolve().as_uri(),)).fetchone()[0]
    contacts.unlink()
    memo_b_doc = db.execute("SELECT doc_id FROM sources WHERE source_uri LIKE '%memo-b.txt'").fetchone()[0]
    memo_a_doc = db.execute("SELECT doc_id FROM sources WHERE source_uri LIKE '%memo-a.txt'").fetchone()[0]
    (e2e["inbox"] / "memo-a.txt").unlink()  # the canonical copy goes: its duplicate must take over
    travel = e2e["inbox"] / "samples" / "intranet" / "travel-rules.html"
    travel_doc = db.execute("SELECT doc_id FROM sources WHERE source_uri=?", (travel.resolve().as_uri(),)).fetchone()[0]
    moved_to = e2e["inbox"] / "samples" / "finance" / "travel-rules.html"
    travel.rename(moved_to)
    readme = e2e["inbox"] / "shared" / "README.md"  # one paragraph of a two-section file changes
    old_readme = db.execute("SELECT doc_id FROM sources WHERE source_uri=?", (readme.resolve().as_uri(),)).fetchone()[0]
    readme.write_text(readme.read_text().replace("can be used to test out the parsers", "exercise the parsers"))
    notice = e2e["inbox"] / "samples" / "notice.txt"
    notice.write_text("Notice\n\nThe cafeteria closes at three on Fridays from next month onwards.\n")
    third = _run(e2e["config"])
    after = qdrant_points(data)
    docs_after = {p["doc_id"] for p in after.values()}
    assert old_doc not in docs_after and gone_doc not in docs_after
    assert any("duty manager" in p["text"] for p in after.values())
    new_runbook = db.execute("SELECT doc_id FROM sources WHERE source_uri=?", (runbook.resolve().as_uri(),)).fetchone()[
        0
    ]
    notice_doc = db.execute("SELECT doc_id FROM sources WHERE source_uri=?", (notice.resolve().as_uri(),)).fetchone()[0]
    new_readme = db.execute("SELECT doc_id FROM sources WHERE source_uri=?", (readme.resolve().as_uri(),)).fetchone()[0]
    fresh_texts = {p["text"] for p in after.values() if p["doc_id"] in (new_runbook, new_readme, notice_doc)} - {
        p["text"] for p in points.values()
    }
    readme_chunks = [p["text"] for p in after.values() if p["doc_id"] == new_readme]
    assert len(readme_chunks) == 2 and len(set(readme_chunks) & fresh_texts) == 1, "only the edited section"
    # exactly these documents went through the stages again, exactly these points were deleted
    reprocessed = {  # archives are re-listed at every ingest (their members are the documents)
        r[0]
        for r in db.execute("SELECT doc_id FROM documents WHERE run_id=? AND status != 'container'", (third["run_id"],))
    }
    assert reprocessed == {new_runbook, new_readme, notice_doc, memo_b_doc}
    removed_docs = {old_doc, old_readme, gone_doc, memo_a_doc}
    assert set(points) - set(after) == {k for k, p in points.items() if p["doc_id"] in removed_docs}

    # only chunks whose embedded text is new are embedded: with `chunk.contextualize` that is the title, the
    # heading path and the text, so memo-b, which takes over memo-a's text under its own title, is embedded anew
    def embedded(p: dict[str, Any]) -> tuple[str, tuple[str, ...], str]:
        return p["title"], tuple(p["headings"]), p["text"]

    taken_over = [p["text"] for p in after.values() if p["doc_id"] == memo_b_doc]
    assert taken_over and set(taken_over) <= {p["text"] for p in points.values() if p["doc_id"] == memo_a_doc}
    again = (new_runbook, new_readme, notice_doc, memo_b_doc)
    fresh = {embedded(p) for p in after.values() if p["doc_id"] in again} - {embedded(p) for p in points.values()}
    assert third["chunks_embedded"] == len(fresh) == len(fresh_texts) + len(taken_over) > 0
    assert third["ingest"]["changed"] == 2 and third["ingest"]["sources_deleted"] == 3
    assert third["ingest"]["new"] == 2  # new paths: the added notice and the moved travel rules
    assert third["ingest"]["documents_moved"] == 1
    relabelled = {k: p for k, p in after.items() if p["doc_id"] == travel_doc}
    assert set(relabelled) == {k for k, p in points.items() if p["doc_id"] == travel_doc}  # not re-embedded
    for payload in relabelled.values():
        assert payload["source_uri"] == moved_to.resolve().as_uri() and payload["department"] == "finance"
        assert payload["run_id"] == first["run_id"]
    memo = [p for p in after.values() if "archive moves" in p["text"]]
    assert len(memo) == 1 and memo[0]["doc_id"] == memo_b_doc and memo[0]["source_uri"].endswith("memo-b.txt")
    assert third["dataset_tag"] == "e2e@v2" and third["dataset_version"] != first["dataset_version"]
    assert len(after) == third["dataset_rows"]
    moved_rows = [
        r for r in pq.read_table(data / "datasets" / "e2e" / "chunks.parquet").to_pylist() if r["doc_id"] == travel_doc
    ]
    assert moved_rows and all(r["source_uri"] == moved_to.resolve().as_uri() for r in moved_rows)

    # the audit trail tells what happened to each document in that run, and verifies
    third_events = audit.show(run=third["run_id"])
    changed = {(e["old_doc_id"], e["doc_id"]) for e in third_events if e["event"] == "document_changed"}
    assert changed == {(old_doc, new_runbook), (old_readme, new_readme)}
    assert {e["doc_id"] for e in third_events if e["event"] == "document_deleted"} == {gone_doc, memo_a_doc}
    moves = [
        (e["doc_id"], e["old_source_uri"], e["source_uri"]) for e in third_events if e["event"] == "document_moved"
    ]
    assert moves == [(travel_doc, travel.resolve().as_uri(), moved_to.resolve().as_uri())]
    assert [e["doc_id"] for e in third_events if e["event"] == "document_added"] == [notice_doc]
    events = Counter(e["event"] for e in third_events)
    assert events["run_started"] == events["run_finished"] == events["dataset_version_created"] == 1
    assert audit.verify().problem is None

    # Qdrant now holds exactly what a from-scratch run over the final files produces
    scratch = e2e["root"] / "scratch"
    shutil.copytree(e2e["inbox"], scratch / "inbox")
    settings = yaml.safe_load(e2e["config"].read_text())
    settings["paths"]["data_dir"] = str(scratch / "data")
    settings["ingest"]["sources"] = [str(scratch / "inbox")]
    settings["version"]["remote_url"] = str(scratch / "remote")
    (scratch / "c.yaml").write_text(yaml.safe_dump(settings))
    _run(scratch / "c.yaml")
    expected = {k: comparable(p, scratch) for k, p in qdrant_points(scratch / "data").items()}
    assert {k: comparable(p, e2e["root"]) for k, p in after.items()} == expected

    # which dataset versions hold a chunk (lineage)
    repo = DataRepo(data / "datasets", "docmill", str(e2e["root"] / "remote"))
    gone_chunk = next(p["chunk_id"] for p in points.values() if p["doc_id"] == gone_doc)
    new_chunk = next(p["chunk_id"] for p in after.values() if "duty manager" in p["text"])
    kept_chunk = next(iter(relabelled.values()))["chunk_id"]
    assert repo.versions_containing(gone_chunk) == ["e2e@v1"]
    assert repo.versions_containing(new_chunk) == ["e2e@v2"]
    assert repo.versions_containing(kept_chunk) == ["e2e@v1", "e2e@v2"]
    db.close()

    # new settings reprocess what they affect: a path rule changes metadata only (nothing embedded) ...
    settings = yaml.safe_load(e2e["config"].read_text())
    settings["enrich"]["rules"].insert(0, {"pattern": "**/slides/**", "department": "sales"})
    e2e["config"].write_text(yaml.safe_dump(settings))
    fourth = _run(e2e["config"])
    processed = fourth["ingest"]["requeued_for_new_settings"]
    assert processed >= third["documents"]["embedded"] and fourth["chunks_embedded"] == 0
    sales = [p for p in qdrant_points(data).values() if "/slides/" in p["source_uri"]]
    assert sales and all(p["department"] == "sales" for p in sales)
    assert set(qdrant_points(data)) == set(after), "same chunks, same point ids"
    # ... a smaller chunk budget re-embeds exactly the texts that are new
    settings["chunk"] = {"max_tokens": 96}
    e2e["config"].write_text(yaml.safe_dump(settings))
    before_texts = {p["text"] for p in qdrant_points(data).values()}
    fifth = _run(e2e["config"])
    final = qdrant_points(data)
    assert fifth["ingest"]["requeued_for_new_settings"] == processed
    assert fifth["chunks_embedded"] == len({p["text"] for p in final.values()} - before_texts) > 0
    assert all(p["token_count"] <= 96 for p in final.values()) and len(final) > len(after)
    assert len(final) == fifth["dataset_rows"] and fifth["dataset_tag"] == "e2e@v4"
    changes = audit.show(run=fifth["run_id"], event="settings_changed")
    assert len(changes) == 1 and changes[0]["documents_requeued"] == processed


def test_cli_run_status_and_quarantine(prefect_api: str, sample_corpus: Path, tmp_path: Path) -> None:
    config = {
        "paths": {"data_dir": str(tmp_path / "data")},
        "ingest": {"sources": [str(sample_corpus)]},
        "version": {"remote_url": str(tmp_path / "remote")},
    }
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
    env = {**os.environ, "PREFECT_API_URL": prefect_api, "COLUMNS": "200"}
    docmill = str(Path(sys.executable).with_name("docmill"))
    run = subprocess.run([docmill, "run", "-c", str(tmp_path / "c.yaml")], capture_output=True, text=True, env=env)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "dataset version" in run.stdout and "default@v1" in run.stdout
    assert re.search(r"\bdataset\W+default@v1 \(new version\), \d+ rows", run.stdout), "the tag names the dataset once"
    ui = prefect_api.removesuffix("/api")  # the harness's server, on a port of its own: the real address
    assert "extract/corrupt_pdf: 1" in run.stdout
    shown = re.search(r"Prefect UI\s*│\s*(\S+)", run.stdout)
    assert shown and shown.group(1) == ui, run.stdout
    assert ":4200" not in run.stdout
    _check_metrics_match_the_run_summary(tmp_path / "data", run.stdout)
    status = subprocess.run(
        [docmill, "status", "-c", str(tmp_path / "c.yaml")], capture_output=True, text=True, env=env, check=True
    )
    assert "embedded" in status.stdout and "completed" in status.stdout
    listing = subprocess.run(
        [docmill, "quarantine", "list", "-c", str(tmp_path / "c.yaml")],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    assert "corrupt_pdf" in listing.stdout and "too_short" in listing.stdout
    _check_quarantine_listing(docmill, tmp_path / "c.yaml", env)

    def audit(*args: str) -> subprocess.CompletedProcess[str]:
        command = [docmill, "audit", *args, "-c", str(tmp_path / "c.yaml")]
        return subprocess.run(command, capture_output=True, text=True, env=env)

    assert audit("verify").returncode == 0

    # lineage of a point: where it came from, which dataset version holds it, and the span re-read from the file
    db = _db(tmp_path / "data")
    point_id, chunk_text = db.execute(
        "SELECT point_id, text FROM chunks WHERE metadata LIKE '%security-policy.docx%' ORDER BY chunk_index LIMIT 1"
    ).fetchone()
    db.close()
    shown = subprocess.run(
        [docmill, "lineage", point_id, "--json", "-c", str(tmp_path / "c.yaml")],
        capture_output=True,
        text=True,
        env=env,
    )
    assert shown.returncode == 0, shown.stderr
    info = json.loads(shown.stdout)
    assert info["lineage"]["source_uri"].endswith("policies/security-policy.docx")
    assert info["lineage"]["parser"].startswith("python-docx") and info["lineage"]["model"].startswith("sentence")
    assert len(info["lineage"]["chunk_config"]) == 16 and info["lineage"]["run_id"]
    assert info["lineage"]["headings"] and all(isinstance(h, str) for h in info["lineage"]["headings"])
    assert info["dataset_versions"] == ["default@v1"] and info["text"] == chunk_text
    assert info["source_check"]["status"] == "matches" and info["source_check"]["text"] == chunk_text
    unknown = subprocess.run([docmill, "lineage", "nope", "-c", str(tmp_path / "c.yaml")], capture_output=True, env=env)
    assert unknown.returncode == 1
    shown = audit("show", "--event", "document_quarantined", "--doc", "corrupt.pdf").stdout
    assert "corrupt_pdf" in shown and "1 entries" in shown
    log = tmp_path / "data" / "audit" / "audit.jsonl"
    lines = log.read_text().splitlines(keepends=True)
    log.write_text("".join(lines[:2] + lines[3:]))  # remove the third entry
    broken = audit("verify")
    assert broken.returncode == 1 and "line 3 (seq 4)" in broken.stdout


def _table_cell(printed: str, label: str) -> str:
    """The text of a Rich summary-table row's value, its wrapped continuation lines joined with spaces."""
    parts: list[str] = []
    for line in printed.splitlines():
        cells = [c.strip() for c in line.strip().strip("│").split("│")]
        if len(cells) != 2:
            if parts:
                break
            continue
        if cells[0] == label or (parts and not cells[0]):
            parts.append(cells[1])
        elif parts:
            break
    assert parts, f"no {label!r} row in:\n{printed}"
    return " ".join(parts)


def _check_metrics_match_the_run_summary(data: Path, printed: str) -> None:
    """The Prometheus text file the run wrote parses with prometheus_client and says what the run summary says."""
    from prometheus_client.parser import text_string_to_metric_families

    db = _db(data)
    summary = json.loads(db.execute("SELECT summary FROM runs WHERE status='completed'").fetchone()[0])
    db.close()
    assert summary["metrics_file"] == str((data / "metrics" / "docmill.prom").resolve())
    assert re.search(rf"metrics\s*│ {re.escape(summary['metrics_file'])} ", printed), printed
    text = (data / "metrics" / "docmill.prom").read_text()
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }

    def value(name: str, **labels: str) -> float:
        return samples[(f"docmill_{name}", tuple(sorted(labels.items())))]

    documents = summary["documents"]
    statuses = {k: v for k, v in documents.items() if k not in {"sources", "chunks"}}
    assert statuses["embedded"] > 0 and statuses["quarantined"] > 0
    for status, count in statuses.items():
        assert value("documents", status=status) == count
    assert value("sources") == documents["sources"]
    assert value("chunks") == documents["chunks"] == value("qdrant_points") == summary["points"]
    ingest = summary["ingest"]
    assert value("last_run_files", change="listed") == ingest["listed"] > 0
    assert value("last_run_files", change="new") == ingest["new"]
    assert value("last_run_files", change="deleted") == ingest.get("sources_deleted", 0)
    assert value("last_run_chunks", source="embedded") == summary["chunks_embedded"] > 0
    assert value("last_run_chunks", source="reused") == summary["chunks_cached"]
    shown_seconds = _table_cell(printed, "stage seconds")
    for stage, stats in summary["stages"].items():
        assert value("last_run_stage_seconds", stage=stage) == round(stats["seconds"], 2)
        # the summary table prints the same numbers (one rounding: 0.2549 s is 0.25 everywhere)
        assert f"{stage} {round(stats['seconds'], 2):.2f}" in shown_seconds, shown_seconds
    assert value("last_run_documents_per_second") == summary["throughput"]["documents_per_second"] > 0
    assert value("last_run_chunks_per_second") == summary["throughput"]["chunks_per_second"] > 0
    assert set(summary["reject_rates"]) == {"extracted", "cleaned", "chunks"}
    for contract, rate in summary["reject_rates"].items():
        assert value("last_run_reject_ratio", contract=contract) == rate
    for key, count in summary["quarantine"].items():
        stage, reason = key.split("/", 1)
        assert value("quarantined_documents", stage=stage, reason=reason) == count
    assert value("quarantined_documents", stage="extract", reason="corrupt_pdf") == 1
    for kind, count in summary["pii"].items():
        assert value("last_run_pii_found", type=kind) == count
    assert summary["pii"], "the sample corpus holds PII: the metric must show it"
    tag = summary["dataset_tag"]
    assert value("dataset_info", dataset="default", version=summary["dataset_version"], tag=tag) == 1
    assert value("dataset_rows", dataset="default") == summary["dataset_rows"]
    assert value("last_run_info", run_id=summary["run_id"], outcome="completed") == 1
    assert value("last_run_success") == 1 and value("runs_total", outcome="completed") == 1
    # every outcome is a series from the first file on, so increase() sees the first failure or crash
    assert value("runs_total", outcome="failed") == 0 and value("runs_total", outcome="crashed") == 0
    assert value("chunks_embedded_total") == summary["chunks_embedded"]
    assert abs(value("last_run_timestamp_seconds") - time.time()) < 600
    assert value("last_run_duration_seconds") == summary["seconds"]
    assert not list((data / "metrics").glob("*.prom.*")), "no temporary file left beside it"
    dashboard = json.loads((ROOT / "deploy" / "grafana-dashboard.json").read_text())
    queried = {m for p in dashboard["panels"] for t in p["targets"] for m in re.findall(r"docmill_\w+", t["expr"])}
    written = {name for name, _ in samples}
    assert queried and queried <= written, queried - written  # the dashboard asks for what the file holds


def _check_quarantine_listing(docmill: str, config: Path, env: dict[str, str]) -> None:
    """Totals first, then a bounded page of rows by file name; filters; full URIs in --json and --csv."""

    def listing(*args: str) -> str:
        done = subprocess.run(
            [docmill, "quarantine", "list", "-c", str(config), *args], capture_output=True, text=True, env=env
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    full = json.loads(listing("--json"))
    total = full["total"]
    assert (
        total == len(full["rows"]) >= 2
        and sum(c["documents"] + c["chunks"] + c["parts"] for c in full["counts"]) == total
    )
    assert all(r["source_uri"].startswith("file://") for r in full["rows"] if r["source_uri"])
    short = listing("--limit", "1")
    assert short.index("quarantine by reason") < short.index("corrupt_pdf")
    assert f"{total} rows; 1 shown, {total - 1} more" in short
    assert "file://" not in short and "corrupt.pdf" in listing("--reason", "corrupt")
    pdfs = json.loads(listing("--json", "--type", "PDF"))["rows"]
    assert pdfs and all(r["file"].lower().endswith(".pdf") for r in pdfs)
    assert len(pdfs) < total
    one = json.loads(listing("--json", "--path", "*/corrupt.pdf"))
    assert [r["reason"] for r in one["rows"]] == ["corrupt_pdf"] and one["counts"][0]["documents"] == 1
    assert json.loads(listing("--json", "--path", "/nowhere/*"))["total"] == 0
    rows = list(csv.DictReader(io.StringIO(listing("--csv", "--stage", "extract"))))
    assert rows and all(r["stage"] == "extract" and r["source_uri"].startswith("file://") for r in rows)
