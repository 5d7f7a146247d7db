"""The S3 connector against moto's real S3 HTTP server on loopback: incremental listing by etag, pagination,
globs, deletions, a server that goes away mid-listing, and credentials that never reach the data folder."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from docmill.sources.base import SourceUnavailable
from docmill.sources.s3 import S3Source
from tests.sources.conftest import S3Server, ingest_run, runtime, secrets_absent

TEXT = "Quarterly report {n}\n\nRevenue grew in region {n} while travel costs stayed flat.\n"


def _connector(server: S3Server, **extra: Any) -> dict[str, Any]:
    return {
        "name": "reports",
        "type": "s3",
        "bucket": "corp",
        "prefix": "docs/",
        "endpoint_url": server.url,
        "exclude": ["**/*.tmp"],
        "page_size": 2,
        "retries": 3,
        "retry_delay_s": 0.05,
        **extra,
    }


def _fill(server: S3Server) -> Any:
    client = server.client()
    client.create_bucket(Bucket="corp")
    for n in range(1, 4):
        client.put_object(Bucket="corp", Key=f"docs/q{n}.txt", Body=TEXT.format(n=n).encode())
    client.put_object(Bucket="corp", Key="docs/skip.tmp", Body=b"temporary")
    client.put_object(Bucket="corp", Key="other/outside.txt", Body=b"outside the prefix")
    return client


def _uris(rt: Any) -> set[str]:
    return {r["source_uri"] for r in rt.catalog.query("SELECT source_uri FROM sources")}


def test_incremental_by_etag(s3_server: S3Server, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    client = _fill(s3_server)
    data = tmp_path / "data"
    rt, first = ingest_run(data, "r1", [_connector(s3_server)])
    assert _uris(rt) == {f"s3://corp/docs/q{n}.txt" for n in (1, 2, 3)}  # prefix, glob, pagination (2 a page)
    assert (first["new"], first["fetched"]) == (3, 3)
    assert all(r["version"] and "/fetched/" in r["path"] for r in rt.catalog.query("SELECT * FROM sources"))

    rt, second = ingest_run(data, "r2", [_connector(s3_server)])
    assert (second["unchanged"], second["fetched"], second["not_refetched"]) == (3, 0, 3)

    client.put_object(Bucket="corp", Key="docs/q2.txt", Body=b"Quarterly report 2, corrected figures.\n")
    client.delete_object(Bucket="corp", Key="docs/q3.txt")
    client.put_object(Bucket="corp", Key="docs/q4.txt", Body=TEXT.format(n=4).encode())
    rt, third = ingest_run(data, "r3", [_connector(s3_server)])
    assert (third["fetched"], third["new"], third["changed"], third["unchanged"]) == (2, 1, 1, 1)
    assert third["sources_deleted"] == 1 and "s3://corp/docs/q3.txt" not in _uris(rt)
    assert third["fetched_pruned"] == 2  # the old q2 copy and q3's copy left the staging area
    staged = {p.name for p in (data / "fetched").rglob("*") if p.is_file()}
    assert staged == {"q1.txt", "q2.txt", "q4.txt"}

    # the credentials are nowhere: catalog, audit trail, staged copies, logs
    secrets = ("AKIA-docmill-test-7Q2", "s3-Secret-4b1d8c")
    assert secrets_absent(data, *secrets) == []
    assert "s3-Secret-4b1d8c" not in caplog.text  # not even in botocore's DEBUG output
    info = " ".join(r.getMessage() for r in caplog.records if r.levelno >= logging.INFO)
    assert not any(s in info for s in secrets)  # the key id shows only in botocore's DEBUG request dumps


def test_server_gone_mid_listing_fails_clearly_then_next_run_resumes(s3_server: S3Server, tmp_path: Path) -> None:
    from docmill.run.ingestion import Ingestion

    _fill(s3_server)
    data = tmp_path / "data"
    ingest_run(data, "r1", [_connector(s3_server)])
    s3_server.client().put_object(Bucket="corp", Key="docs/q5.txt", Body=TEXT.format(n=5).encode())

    rt = runtime(data, "r2", [_connector(s3_server)])
    source = S3Source(rt.settings.ingest.connectors[0])  # type: ignore[arg-type]
    calls: list[str] = []

    def stop_after_first_page(**_: Any) -> None:
        calls.append("list")
        if len(calls) == 1:
            s3_server.stop()

    source.client.meta.events.register("after-call.s3.ListObjectsV2", stop_after_first_page)
    with pytest.raises(SourceUnavailable) as failure:
        Ingestion(rt).source(source)  # the flow's ingest of one source
    message = str(failure.value)
    assert "'reports'" in message and "after 3 attempts" in message and "listing" in message
    assert "s3-Secret" not in message and "AKIA" not in message
    assert len(calls) == 1  # the failed attempts got no answer
    assert len(rt.catalog.query("SELECT * FROM sources")) == 3  # nothing deleted

    s3_server.start()  # same port, same objects
    rt, resumed = ingest_run(data, "r3", [_connector(s3_server)])
    assert (resumed["new"], resumed["unchanged"], resumed["fetched"], resumed["sources_deleted"]) == (1, 3, 1, 0)


def test_unreachable_store_names_the_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.sources.conftest import free_port

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIA-x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret-x")
    cfg = {"name": "archive", "type": "s3", "bucket": "b", "endpoint_url": f"http://127.0.0.1:{free_port()}"}
    with pytest.raises(SourceUnavailable, match="source 'archive' unreachable while listing after 2 attempts"):
        ingest_run(tmp_path / "data", "r1", [{**cfg, "retries": 2, "retry_delay_s": 0.01}])


def test_missing_object_is_quarantined_and_the_source_goes_on(s3_server: S3Server, tmp_path: Path) -> None:
    from docmill.records import FileItem
    from docmill.sources.staging import stage

    _fill(s3_server)
    rt = runtime(tmp_path / "data", "r1", [_connector(s3_server)])
    source = S3Source(rt.settings.ingest.connectors[0])  # type: ignore[arg-type]
    items = [i for i in source.list_items() if isinstance(i, FileItem)]
    ghost = FileItem("s3://corp/docs/ghost.txt", "", "docs/ghost.txt", 1, 0.0, "x")
    staged = stage(source, [ghost, *items], {}, tmp_path / "fetched")
    assert [(r.reason, r.source_uri) for r in staged.rejects] == [("fetch_failed", "s3://corp/docs/ghost.txt")]
    assert staged.fetched == 3


def test_endpoint_with_credentials_is_refused() -> None:
    from docmill.config.connectors import S3ConnectorConfig

    with pytest.raises(ValueError, match="must not contain credentials"):
        S3ConnectorConfig(name="x", type="s3", bucket="b", endpoint_url="http://key:secret@minio:9000")


def test_dry_run_judges_remote_items_by_etag_without_fetching(s3_server: S3Server, tmp_path: Path) -> None:
    from docmill.run import dryrun

    client = _fill(s3_server)
    data = tmp_path / "data"
    rt, _ = ingest_run(data, "r1", [_connector(s3_server)])
    rt.close()
    client.put_object(Bucket="corp", Key="docs/q2.txt", Body=b"Quarterly report 2, corrected figures.\n")
    client.delete_object(Bucket="corp", Key="docs/q3.txt")
    client.put_object(Bucket="corp", Key="docs/q4.txt", Body=TEXT.format(n=4).encode())
    staged_before = sorted(p.name for p in (data / "fetched").rglob("*") if p.is_file())

    plan = dryrun.plan(runtime(data, "dry", [_connector(s3_server)]).settings)
    counts = plan["counts"]
    assert (counts["new"], counts["changed"], counts["unchanged"], counts["deleted"]) == (1, 1, 1, 1)
    assert {f["source_uri"]: f["change"] for f in plan["files"]} == {
        "s3://corp/docs/q2.txt": "changed",
        "s3://corp/docs/q4.txt": "new",
    }
    assert sorted(p.name for p in (data / "fetched").rglob("*") if p.is_file()) == staged_before  # nothing fetched


def test_an_object_that_cannot_be_listed_is_its_reject_alone(
    s3_server: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An exception while turning one listed object into an item ended the bucket's listing; it is now that
    object's reject, and the objects after it (on the same and the next listing pages) are listed."""
    _fill(s3_server)
    monkeypatch.setenv("DOCMILL_STEP_FAULT", "list:docs/q2.txt")
    rt, stats = ingest_run(tmp_path / "data", "r1", [_connector(s3_server)])
    assert (stats["new"], stats["fetched"]) == (2, 2)
    assert _uris(rt) == {"s3://corp/docs/q1.txt", "s3://corp/docs/q3.txt"}
    assert [(r["source_uri"], r["reason"]) for r in rt.catalog.quarantine()] == [
        ("s3://corp/docs/q2.txt", "step_failed:list:InjectedFault")
    ]
