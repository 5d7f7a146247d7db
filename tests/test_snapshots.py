"""Snapshot core on a real catalog and a real git + DVC data repository (no pipeline run): splits, filters,
content addressing, diff of metadata changes, the S3 remote against a real S3 server (moto)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
from pathlib import Path

import pytest

from docmill.snapshots.core import create_snapshot, read_manifest
from docmill.snapshots.diff import diff
from docmill.snapshots.spec import SnapshotError, SnapshotRequest, parse_filters, parse_splits, split_of
from docmill.state.audit import AuditLog
from docmill.state.audit_keys import Keyring
from docmill.state.datarepo import DataRepo
from tests.snapshot_catalog import fill_catalog


def _hashes(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


def test_split_assignment_is_a_function_of_seed_and_document() -> None:
    splits = {"train": 0.8, "eval": 0.1, "test": 0.1}
    docs = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(3000)]
    first = [split_of(d, 13, splits) for d in docs]
    assert first == [split_of(d, 13, splits) for d in docs]
    assert first != [split_of(d, 14, splits) for d in docs], "another seed, another assignment"
    assert first == [split_of(d, 13, dict(reversed(splits.items()))) for d in docs], "order of splits is irrelevant"
    shares = {name: first.count(name) / len(docs) for name in splits}
    assert abs(shares["train"] - 0.8) < 0.03 and abs(shares["eval"] - 0.1) < 0.02


def test_cli_filters_and_splits_parse_or_fail_clearly() -> None:
    parsed = parse_filters(
        ["source=**/finance/**", "language=en,de", "since=2025-03-01", "quality.alpha_word_share>=0.7"]
    )
    assert parsed.sources == ["**/finance/**"] and parsed.languages == ["en", "de"]
    assert parsed.quality_min == {"alpha_word_share": 0.7} and parsed.since == "2025-03-01"
    assert parse_splits("train=0.9,eval=0.1") == {"train": 0.9, "eval": 0.1}
    with pytest.raises(SnapshotError, match="unknown filter"):
        parse_filters(["colour=blue"])
    with pytest.raises(SnapshotError, match="YYYY-MM-DD"):
        parse_filters(["since=March"])
    with pytest.raises(ValueError, match="sum to 1"):
        SnapshotRequest(name="x", splits={"train": 0.9, "eval": 0.2})
    with pytest.raises(ValueError, match="reserved"):
        SnapshotRequest(name="trainings")


@pytest.fixture()
def setup(tmp_path: Path) -> tuple:
    catalog = fill_catalog(tmp_path / "catalog.sqlite", documents=12)
    repo = DataRepo(tmp_path / "datasets", "local", str(tmp_path / "remote"))
    repo.ensure()
    yield catalog, repo, AuditLog(tmp_path / "audit.jsonl", Keyring.of(b"test key"))
    catalog.close()


def test_filters_splits_and_same_content_same_version(setup: tuple) -> None:
    catalog, repo, audit = setup
    request = SnapshotRequest(
        name="fin",
        filters=parse_filters(["department=finance", "since=2025-02-01", "quality.alpha_word_share>=0.6"]),
        splits={"train": 0.5, "eval": 0.5},
        seed=3,
    )
    first = create_snapshot(catalog, repo, audit, request, [Path("/corpus")])
    manifest = read_manifest(repo, first.tag)
    # finance: documents 0, 3, 6, 9; mtime month 1 + d % 12 -> 0 is January (out); quality 0.5 + (d % 5)/10
    assert first.documents == 3 and manifest["departments"] == {"finance": 3}
    assert manifest["excluded_chunks"] == {"date": 3, "department": 24}
    assert manifest["sources"] == {"/corpus": 3}
    assert sum(s["chunks"] for s in manifest["splits"].values()) == first.rows == 9
    again = create_snapshot(catalog, repo, audit, request, [Path("/corpus")])
    assert (again.tag, again.version, again.new) == (first.tag, first.version, False)
    assert [e["tag"] for e in audit.entries()] == ["fin@v1"]
    finance = catalog.query("SELECT chunk_id FROM chunks WHERE metadata LIKE '%doc-003%' LIMIT 1")[0]["chunk_id"]
    legal = catalog.query("SELECT chunk_id FROM chunks WHERE metadata LIKE '%doc-001%' LIMIT 1")[0]["chunk_id"]
    assert repo.versions_containing(finance) == ["fin@v1"] and repo.versions_containing(legal) == []
    with pytest.raises(SnapshotError, match="no chunk matches"):
        create_snapshot(catalog, repo, audit, SnapshotRequest(name="none", filters=parse_filters(["language=fr"])), [])


def test_diff_sees_a_metadata_change_and_a_reverted_dataset_gets_its_old_tag(setup: tuple) -> None:
    catalog, repo, audit = setup
    request = SnapshotRequest(name="all", format="jsonl")
    v1 = create_snapshot(catalog, repo, audit, request, [])
    row = catalog.query("SELECT doc_id, metadata FROM chunks ORDER BY doc_id LIMIT 1")[0]
    doc, department = row["doc_id"], json.loads(row["metadata"])["department"]
    with catalog.transaction():
        catalog.update_chunk_metadata(doc, {"department": "audit"})
    v2 = create_snapshot(catalog, repo, audit, request, [])
    assert v2.tag == "all@v2" and v2.new
    changes = diff(repo, "all@v1", "all")
    assert changes["documents"] == {"added": [], "removed": [], "changed": []}
    assert len(changes["chunks"]["changed"]) == 3 and changes["chunks"]["added"] == []
    assert {c["chunk_index"] for c in changes["chunks"]["changed"]} == {0, 1, 2}
    chunk = changes["chunks"]["changed"][0]["chunk_id"]
    assert repo.versions_containing(chunk) == ["all@v1", "all@v2"], "found in JSONL-only versions too"
    with catalog.transaction():
        catalog.update_chunk_metadata(doc, {"department": department})
    back = create_snapshot(catalog, repo, audit, request, [])
    assert (back.tag, back.version, back.new) == ("all@v1", v1.version, False), "old content, old version"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture()
def s3(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """A real S3 endpoint (moto's server) on loopback with one bucket; credentials only in the environment."""
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    for key, value in {
        "AWS_ACCESS_KEY_ID": "AKIDDOCMILLTEST",
        "AWS_SECRET_ACCESS_KEY": "docmill-secret-never-in-files",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
    }.items():
        monkeypatch.setenv(key, value)
    import boto3

    endpoint = f"http://127.0.0.1:{port}"
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    client.create_bucket(Bucket="datasets")
    yield endpoint, client
    server.stop()


def test_s3_remote_push_delete_cache_pull_identical_bytes(tmp_path: Path, s3: tuple) -> None:
    from docmill.config.settings import VersionConfig

    endpoint, client = s3
    config = VersionConfig(remote_name="store", remote_url="s3://datasets/docmill", remote_endpoint_url=endpoint)
    catalog = fill_catalog(tmp_path / "catalog.sqlite", documents=5)
    repo = DataRepo(tmp_path / "datasets", config.remote_name, config.remote_url, config.remote_options())
    repo.ensure()
    result = create_snapshot(
        catalog, repo, AuditLog(tmp_path / "audit.jsonl", Keyring.of(b"test key")), SnapshotRequest(name="s3set"), []
    )
    catalog.close()
    pushed = client.list_objects_v2(Bucket="datasets", Prefix="docmill/")
    assert pushed["KeyCount"] >= len(_hashes(repo.dataset_dir("s3set"))), "every file and the listing pushed"
    before = _hashes(repo.dataset_dir("s3set"))
    shutil.rmtree(repo.root / ".dvc" / "cache")
    shutil.rmtree(repo.dataset_dir("s3set"))
    repo.checkout(result.tag)
    assert _hashes(repo.dataset_dir("s3set")) == before
    secret = os.environ["AWS_SECRET_ACCESS_KEY"]
    for path in [*repo.root.rglob("*")]:
        if path.is_file() and ".git" not in path.parts[-3:-1] and "cache" not in path.parts:
            assert secret not in path.read_text(errors="ignore"), path
    assert not (repo.root / ".dvc" / "config.local").exists()
    assert endpoint in (repo.root / ".dvc" / "config").read_text()


def test_the_snapshot_flow_has_a_typed_parameter_the_ui_renders_as_a_form() -> None:
    from prefect.utilities.callables import parameter_schema

    from flows.snapshot import snapshot_flow

    schema = parameter_schema(snapshot_flow).model_dump()
    # `config_path` beside the form: each deployment sets it, so an API run's own params cannot change the config
    assert list(schema["properties"]) == ["params", "config_path"] and snapshot_flow.name == "docmill-snapshot"
    fields = schema["definitions"]["SnapshotParams"]["properties"]
    assert {"name", "filters", "format", "splits", "seed", "push", "config_path", "license", "languages"} <= set(fields)
    assert all(f.get("description") for f in fields.values()), "every field described in the form"
