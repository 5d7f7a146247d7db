"""PII in names and in parser messages never leaves the catalog (issue 20), through the real flow, Qdrant, DVC.

Folders, files, archive members and e-mail attachments whose names carry an e-mail address, a phone number,
an IBAN, a card number, an SSN and an IP address; a broken YAML file whose error snippet would quote an e-mail
address and a card number. With `clean.pii.mode: redact`, none of the values may reach the Qdrant payloads,
the dataset version (Parquet, DVC cache and remote), a snapshot (Parquet and JSONL) and its card, the run's
Prefect logs and artifacts, or (for the YAML content) the quarantine message, the audit trail and
`docmill quarantine list`; the catalog keeps the raw names for lineage.
"""

from __future__ import annotations

import json
import sqlite3
import zipfile
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import quote
from uuid import UUID

import pyarrow.parquet as pq
import pytest
import yaml

from tests.helpers import qdrant_points

pytestmark = pytest.mark.e2e

# (value, where it sits): every one of them is a valid value of its type
IN_NAMES = {
    "jane.doe@example.com": "folder",
    "+442079460958": "file",
    "DE89370400440532013000": "file",
    "4111 1111 1111 1111": "file",
    "123-45-6789": "file",
    "192.168.17.42": "file",
    "bob.smith@corp-mail.example.org": "archive member",
    "+1 202 555 0143": "archive member",
    "GB82WEST12345698765432": "e-mail attachment",
}
IN_YAML = ("alice.w@example.net", "5500 0000 0000 0004")


def _prose(topic: str) -> str:
    return (
        f"This note covers the {topic}. The team reviewed the plan, agreed on the next steps and asked the "
        f"owners of the {topic} to report progress at the next weekly meeting, with figures and open risks."
    )


def _corpus(inbox: Path) -> None:
    folder = inbox / "jane.doe@example.com"
    folder.mkdir(parents=True)
    (folder / "notes.md").write_text(_prose("office move"))
    (inbox / "tel_+442079460958.txt").write_text(_prose("phone system renewal"))
    (inbox / "IBAN DE89370400440532013000.txt").write_text(_prose("supplier payments"))
    (inbox / "card_4111 1111 1111 1111.txt").write_text(_prose("travel expenses"))
    (inbox / "ssn 123-45-6789 form.txt").write_text(_prose("onboarding paperwork"))
    (inbox / "host_192.168.17.42_report.txt").write_text(_prose("server maintenance window"))
    with zipfile.ZipFile(inbox / "bundle.zip", "w") as archive:
        archive.writestr("bob.smith@corp-mail.example.org_cv.txt", _prose("hiring round"))
        archive.writestr("+1 202 555 0143 voicemail.txt", _prose("customer callback"))
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = "desk@example.org", "team@example.org", "Statement"
    mail.set_content(_prose("monthly statement"))
    mail.add_attachment(
        _prose("bank reconciliation").encode(), maintype="text", subtype="plain",
        filename="IBAN GB82WEST12345698765432 statement.txt",
    )  # fmt: skip
    (inbox / "statement.eml").write_bytes(mail.as_bytes())
    (inbox / "settings.yaml").write_text(f"owner: ok\nkey: value: {IN_YAML[0]} {IN_YAML[1]}\n")


def _leaks(text: str, values: Any) -> list[str]:
    """Values found in `text`, as written or percent-encoded (as in a file URI)."""
    return [v for v in values if v in text or quote(v) in text or quote(v, safe="") in text]


def _files_text(root: Path) -> str:
    """Everything under `root` as text: Parquet files as their rows, other files decoded."""
    parts = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        try:
            parts.append(json.dumps(pq.read_table(path).drop_columns(["embedding"]).to_pylist(), default=str))
        except Exception:
            parts.append(path.read_bytes().decode("utf-8", errors="replace"))
    return "\n".join(parts)


def _prefect_text(run_id: str) -> str:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, LogFilter, LogFilterFlowRunId

    with get_client(sync_client=True) as client:
        logs = client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[UUID(run_id)])))
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[UUID(run_id)]))
        )
        state = client.read_flow_run(UUID(run_id)).state
    assert artifacts, "the run made no artifacts"
    texts = [log.message for log in logs] + [f"{a.key} {a.data} {a.description}" for a in artifacts]
    return "\n".join([*texts, str(state.message if state else "")])


@pytest.fixture(scope="module")
def world(prefect_api: str, tmp_path_factory: pytest.TempPathFactory, models_dir: Path) -> dict[str, Any]:
    from docmill.run.params import PipelineParams
    from flows.pipeline import pipeline

    root = tmp_path_factory.mktemp("pii-names")
    _corpus(root / "inbox")
    config = {
        "paths": {"data_dir": str(root / "data")},
        "ingest": {"sources": [str(root / "inbox")]},
        "clean": {"pii": {"mode": "redact"}, "dedup": {"enabled": False}},
        "embed": {"models_dir": str(models_dir)},
        "validate": {"max_reject_rate": 0.5},
        "version": {"remote_url": str(root / "remote"), "dataset_name": "names"},
        "snapshot": {"format": "both"},
    }
    (root / "docmill.yaml").write_text(yaml.safe_dump(config))
    params = PipelineParams(config_path=str(root / "docmill.yaml"), snapshot_name="names-snap")
    summary = pipeline(params=params)
    return {"root": root, "data": root / "data", "config": str(root / "docmill.yaml"), "summary": summary}


def test_no_pii_in_names_leaves_the_catalog(world: dict[str, Any]) -> None:
    from typer.testing import CliRunner

    from docmill.cli.main import app

    data, values = world["data"], list(IN_NAMES)
    points = qdrant_points(data)
    payloads = json.dumps(list(points.values()))
    uris = {p["source_uri"] for p in points.values()}
    assert len(uris) == len(IN_NAMES) + 1, sorted(uris)  # every named file is in (and the e-mail's body)
    assert any("!/" in u for u in uris) and "<EMAIL>" in payloads and "<CREDIT_CARD>" in payloads
    assert not _leaks(payloads, values), "raw names in Qdrant payloads"
    assert not _leaks(_files_text(data / "datasets" / "names"), values), "raw names in the dataset version"
    assert not _leaks(_files_text(data / "datasets" / "names-snap"), values), "raw names in the snapshot"
    assert not _leaks(_files_text(data / "datasets" / ".dvc" / "cache"), values), "raw names in the DVC cache"
    assert not _leaks(_files_text(world["root"] / "remote"), values), "raw names on the DVC remote"
    cards = world["root"] / "cards"
    shown = CliRunner().invoke(
        app, ["snapshot", "card", "names-snap", "--out", str(cards), "--config", world["config"]]
    )
    assert shown.exit_code == 0, shown.output
    assert not _leaks(_files_text(cards), values), "raw names in the dataset card"
    assert not _leaks(_prefect_text(world["summary"]["run_id"]), values), "raw names in Prefect logs or artifacts"
    db = sqlite3.connect(data / "catalog.sqlite")  # the catalog keeps the raw names: lineage
    catalog_uris = " ".join(r[0] for r in db.execute("SELECT source_uri FROM sources"))
    assert not [v for v in values if v not in catalog_uris and quote(v) not in catalog_uris]


def test_a_parser_message_quotes_no_document_text(world: dict[str, Any]) -> None:
    from typer.testing import CliRunner

    from docmill.cli.main import app

    db = sqlite3.connect(world["data"] / "catalog.sqlite")
    rows = db.execute("SELECT reason, message FROM quarantine WHERE source_uri LIKE '%settings.yaml'").fetchall()
    assert [r[0] for r in rows] == ["corrupt_yaml"]
    assert "line 2" in rows[0][1] and "mapping values are not allowed" in rows[0][1], rows[0][1]
    assert not _leaks(rows[0][1], IN_YAML), rows[0][1]
    audit = (world["data"] / "audit" / "audit.jsonl").read_text()
    assert "corrupt_yaml" in audit and not _leaks(audit, IN_YAML)
    listed = CliRunner().invoke(app, ["quarantine", "list", "--config", world["config"]])
    assert listed.exit_code == 0 and "corrupt_yaml" in listed.output, listed.output
    assert not _leaks(listed.output, IN_YAML)
    assert not _leaks(json.dumps(qdrant_points(world["data"])), IN_YAML)
