"""Connectors end to end through the real Prefect flow (test server), Qdrant, the model and DVC: an S3 bucket
(moto server), a SQLite table and an mbox picked by name with the flow's `sources` parameter; changes at
every source re-process exactly the changed items, deletions leave Qdrant and the next dataset version, and
no credential reaches data/, the Prefect logs or the artifacts."""

from __future__ import annotations

import mailbox
import sqlite3
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
import yaml

from docmill.config.settings import PiiConfig
from docmill.run.params import PipelineParams
from docmill.text.pii import Redactor
from tests.helpers import qdrant_points
from tests.sources.conftest import S3Server, free_port, secrets_absent
from tests.sources.test_mail import message

pytestmark = pytest.mark.e2e
KEY_ID, SECRET = "AKIA-e2e-docmill-51x", "e2e-Secret-Zq81-connector"
NOTES = {
    1: "The loading dock in hall one closes at six and reopens at seven in the morning.",
    2: "Forklift licences are renewed every spring by the safety officer on site.",
    3: "Fire drills happen on the first Tuesday of each quarter, shortly after lunch.",
}
FAQ = {
    1: "Visitors park in the western lot and sign in at the gate house.",
    2: "Lost badges are replaced by reception against a small deposit.",
    3: "Deliveries go to the north gate before ten o'clock on weekdays.",
}


def _by_source(points: dict[str, dict[str, Any]]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for point_id, payload in points.items():
        out.setdefault(payload["source_uri"], set()).add(point_id)
    return out


def _pipeline_logs_and_artifacts() -> str:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        logs = client.read_logs(limit=200)
        artifacts = client.read_artifacts(limit=200)
    return " ".join(log.message for log in logs) + " ".join(str(a.data) + str(a.description) for a in artifacts)


def test_connectors_incremental_end_to_end(
    prefect_api: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from flows.pipeline import pipeline

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", KEY_ID)
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY", raising=False)
    secrets_file = tmp_path / "secrets.env"  # the secret key from a secrets file, the key id from the env
    secrets_file.write_text(f"AWS_SECRET_ACCESS_KEY={SECRET}\n")
    server = S3Server()
    server.start()
    server.reset()
    try:
        _run_scenario(pipeline, server, tmp_path, secrets_file, monkeypatch)
    finally:
        server.stop()
    assert secrets_absent(tmp_path / "data", KEY_ID, SECRET) == []
    assert SECRET not in caplog.text
    assert KEY_ID not in _pipeline_logs_and_artifacts() and SECRET not in _pipeline_logs_and_artifacts()


def _run_scenario(pipeline: Any, server: S3Server, tmp: Path, secrets_file: Path, mp: pytest.MonkeyPatch) -> None:
    s3 = _client(server, secrets_file)
    s3.create_bucket(Bucket="site")
    for n in (1, 2):
        s3.put_object(Bucket="site", Key=f"notes/n{n}.txt", Body=f"Site note {n}\n\n{NOTES[n]}\n".encode())
    db = sqlite3.connect(tmp / "docs.db")
    db.execute("CREATE TABLE faq (id INTEGER PRIMARY KEY, answer TEXT, topic TEXT)")
    db.executemany(
        "INSERT INTO faq VALUES (?, ?, ?)",
        [(n, f"Question {n}\n\n{FAQ[n]}\n", f"t{n}") for n in (1, 2)],
    )
    db.commit()
    mp.setenv("FAQ_DB_URL", f"sqlite:///{tmp / 'docs.db'}")
    box = mailbox.mbox(tmp / "team.mbox")
    box.add(message("<a@example.org>", "Heating", "The heating in block A is switched on from Monday."))
    reply = box.add(message("<b@example.org>", "Re: Heating", "Block B follows a week later.", "<a@example.org>"))
    box.flush()
    fast = {"retries": 2, "retry_delay_s": 0.05}
    config = {
        "paths": {"data_dir": str(tmp / "data")},
        "ingest": {
            "sources": [],
            "connectors": [
                {
                    "name": "notes",
                    "type": "s3",
                    "bucket": "site",
                    "prefix": "notes/",
                    "endpoint_url": server.url,
                    "secrets_file": str(secrets_file),
                    **fast,
                },
                {
                    "name": "faq",
                    "type": "sql",
                    "url_env": "FAQ_DB_URL",
                    "table": "faq",
                    "text_column": "answer",
                    "metadata_columns": ["topic"],
                    **fast,
                },
                {"name": "mail", "type": "mbox", "path": str(tmp / "team.mbox")},
                {"name": "offline", "type": "s3", "bucket": "x", "endpoint_url": f"http://127.0.0.1:{free_port()}"},
            ],
        },
        "version": {"remote_url": str(tmp / "remote"), "dataset_name": "conn"},
        # message ids look like e-mail addresses: payloads carry them as keyed pseudonyms, distinct per message
        "clean": {"pii": {"mode": "hash"}},
    }
    mp.setenv("DOCMILL_PII_KEY", "connectors-test-key")
    shown = Redactor(PiiConfig(mode="hash"), b"connectors-test-key").uri  # what leaves the catalog of a URI
    (tmp / "docmill.yaml").write_text(yaml.safe_dump(config))
    names = ["notes", "faq", "mail"]  # `offline` is configured but not picked: listing it would fail the run
    first = pipeline(params=PipelineParams(config_path=str(tmp / "docmill.yaml"), sources=names))
    before = _by_source(qdrant_points(tmp / "data"))
    uris = {
        "s3://site/notes/n1.txt",
        "s3://site/notes/n2.txt",
        "sql://faq/1",
        "sql://faq/2",
        shown(f"mbox://{tmp}/team.mbox/a@example.org"),
        shown(f"mbox://{tmp}/team.mbox/b@example.org"),
    }
    assert len(uris) == 6 and not any("@example.org" in uri for uri in uris)
    assert set(before) == uris and first["ingest"]["new"] == 6
    mail_points = qdrant_points(tmp / "data")
    thread = {p["thread_id"] for p in mail_points.values() if p["source_uri"].startswith("mbox:")}
    # the thread id is a Message-ID: its keyed pseudonym, the same for both messages (the thread stays joinable)
    assert thread == {Redactor(PiiConfig(mode="hash"), b"connectors-test-key").value("a@example.org")}
    assert {p.get("topic") for p in mail_points.values() if p["source_uri"] == "sql://faq/1"} == {"t1"}

    # one change, one deletion, one addition at every source
    s3.put_object(Bucket="site", Key="notes/n1.txt", Body=b"Site note 1\n\nHall 1 is closed for repairs all week.\n")
    s3.delete_object(Bucket="site", Key="notes/n2.txt")
    s3.put_object(Bucket="site", Key="notes/n3.txt", Body=f"Site note 3\n\n{NOTES[3]}\n".encode())
    db.execute("UPDATE faq SET answer='Question 1\n\nVisitors now park underground, level minus two.\n' WHERE id=1")
    db.execute("DELETE FROM faq WHERE id=2")
    db.execute("INSERT INTO faq VALUES (3, ?, 't3')", (f"Question 3\n\n{FAQ[3]}\n",))
    db.commit()
    box.lock()
    box.remove(reply)
    box.add(message("<c@example.org>", "Lifts", "Lift 2 is serviced on Thursday afternoon; use the stairs."))
    box.flush()
    box.unlock()
    second = pipeline(params=PipelineParams(config_path=str(tmp / "docmill.yaml"), sources=names))
    after_points = qdrant_points(tmp / "data")
    after = _by_source(after_points)
    gone = {"s3://site/notes/n2.txt", "sql://faq/2", shown(f"mbox://{tmp}/team.mbox/b@example.org")}
    changed = {"s3://site/notes/n1.txt", "sql://faq/1"}
    added = {"s3://site/notes/n3.txt", "sql://faq/3", shown(f"mbox://{tmp}/team.mbox/c@example.org")}
    assert set(after) == (uris - gone) | added
    assert second["ingest"]["fetched"] == len(changed | added)  # unchanged items were not downloaded again
    assert (second["ingest"]["new"], second["ingest"]["changed"], second["ingest"]["unchanged"]) == (3, 2, 1)
    untouched = uris - gone - changed
    assert all(after[u] == before[u] for u in untouched)
    assert {after_points[p]["run_id"] for u in untouched for p in after[u]} == {first["run_id"]}
    assert {after_points[p]["run_id"] for u in changed | added for p in after[u]} == {second["run_id"]}
    table = pq.read_table(tmp / "data" / "datasets" / "conn" / "chunks.parquet")
    assert set(table.column("source_uri").to_pylist()) == (uris - gone) | added
    assert second["new_version"] and second["dataset_version"] != first["dataset_version"]


def _client(server: S3Server, secrets_file: Path) -> Any:
    import boto3

    secret = secrets_file.read_text().strip().split("=", 1)[1]
    return boto3.client(
        "s3", endpoint_url=server.url, region_name="us-east-1", aws_access_key_id=KEY_ID, aws_secret_access_key=secret
    )
