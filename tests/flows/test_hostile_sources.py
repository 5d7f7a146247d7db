"""A source folder written by an attacker, through the real flow (Prefect test server, embedded Qdrant, the
real model, DVC): file names that are not UTF-8, special files, links, and a file swapped for a symbolic link
to a file outside the source between the listing and the read."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
import yaml
from typer.testing import CliRunner

from docmill.records import FileItem
from docmill.sources.folder import FolderSource
from tests.helpers import qdrant_points

pytestmark = pytest.mark.e2e
INSIDE = "Quarterly facilities report: the loading dock lights were replaced and the fire doors inspected.\n"
OUTSIDE = "TOP SECRET payroll ledger kept outside the source: salary bands for every executive.\n"
BAD_NAME = b"bad\xff\xfename.txt"


def _setup(tmp_path: Path) -> dict[str, Path]:
    inbox, outside = tmp_path / "inbox", tmp_path / "outside"
    inbox.mkdir()
    outside.mkdir()
    (outside / "ledger.txt").write_text(OUTSIDE)
    (inbox / "report.txt").write_text(INSIDE)
    config = {
        "paths": {"data_dir": str(tmp_path / "data")},
        "ingest": {"sources": [str(inbox)]},
        "version": {"remote_url": str(tmp_path / "remote"), "dataset_name": "hostile"},
    }
    (tmp_path / "docmill.yaml").write_text(yaml.safe_dump(config))
    return {"inbox": inbox, "outside": outside, "config": tmp_path / "docmill.yaml", "data": tmp_path / "data"}


def _run(config: Path) -> dict[str, Any]:
    from flows.pipeline import pipeline

    return pipeline(config_path=str(config))


def _texts(data: Path) -> dict[str, str]:
    """Where text can end up: the catalog's chunks, the Qdrant payloads, the dataset rows (all as one string)."""
    db = sqlite3.connect(data / "catalog.sqlite")
    catalog = " ".join(r[0] for r in db.execute("SELECT text FROM chunks"))
    db.close()
    points = json.dumps(list(qdrant_points(data).values()))
    dataset = json.dumps(pq.read_table(data / "datasets" / "hostile" / "chunks.parquet").to_pylist(), default=str)
    return {"catalog": catalog, "qdrant": points, "dataset": dataset}


def _quarantine(config: Path) -> dict[str, str]:
    from docmill.cli.main import app

    listed = CliRunner().invoke(app, ["quarantine", "list", "--config", str(config), "--json"])
    assert listed.exit_code == 0, listed.output
    return {row["source_uri"]: row["reason"] for row in json.loads(listed.output)["rows"] if row["stage"] == "ingest"}


def test_bad_names_special_files_and_links_are_processed_or_recorded(prefect_api: str, tmp_path: Path) -> None:
    """A non-UTF-8 name is processed (shown percent-encoded); FIFOs, sockets, linked folders and escaping links
    are quarantined with a reason instead of crashing the run or vanishing without a record."""
    env = _setup(tmp_path)
    inbox = env["inbox"]
    (Path(os.fsdecode(bytes(inbox) + b"/" + BAD_NAME))).write_text("Minutes of the works council: canteen hours.\n")
    os.mkfifo(inbox / "pipe.txt")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(inbox / "sock.txt"))
    (inbox / "linked").symlink_to(env["outside"], target_is_directory=True)
    (inbox / "escape.txt").symlink_to(env["outside"] / "ledger.txt")
    try:
        summary = _run(env["config"])
    finally:
        sock.close()
    assert summary["documents"]["embedded"] == 2
    bad_uri = inbox.resolve().as_uri() + "/bad%FF%FEname.txt"
    payloads = [p for p in qdrant_points(env["data"]).values() if p["source_uri"] == bad_uri]
    assert payloads and payloads[0]["file_name"] == "bad%FF%FEname.txt"
    assert "canteen hours" in payloads[0]["text"]
    root = inbox.resolve().as_uri()
    assert _quarantine(env["config"]) == {
        f"{root}/escape.txt": "symlink_escape",
        f"{root}/linked": "symlink_escape",
        f"{root}/pipe.txt": "not_a_regular_file",
        f"{root}/sock.txt": "not_a_regular_file",
    }
    assert all(OUTSIDE[:20] not in text for text in _texts(env["data"]).values())


def _swap_for_link(path: Path, target: Path) -> None:
    path.unlink()
    path.symlink_to(target)


def test_file_swapped_for_a_link_after_listing_is_never_read(
    prefect_api: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The listing sees a regular file; before ingest reads it, it becomes a link to a file outside: the
    outside text never reaches the catalog, Qdrant or the dataset, and the item is quarantined."""
    env = _setup(tmp_path)
    (env["inbox"] / "other.txt").write_text("Visitor parking moves to the north lot from March.\n")
    listing = FolderSource.list_items

    def swapping(self: FolderSource) -> Iterator[FileItem | Any]:
        for entry in listing(self):
            yield entry
            if isinstance(entry, FileItem) and entry.relative == "report.txt":
                _swap_for_link(env["inbox"] / "report.txt", env["outside"] / "ledger.txt")

    monkeypatch.setattr(FolderSource, "list_items", swapping)
    summary = _run(env["config"])
    assert summary["documents"]["embedded"] == 1
    for where, text in _texts(env["data"]).items():
        assert OUTSIDE[:20] not in text, where
    report = env["inbox"].resolve().as_uri() + "/report.txt"
    assert _quarantine(env["config"]) == {report: "symlink_escape"}


def test_link_swapped_in_after_hashing_serves_the_hashed_bytes_then_is_withdrawn(
    prefect_api: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Swapped after ingest hashed it (before the parsers run): the parsers read the private copy of the bytes
    that were hashed, never the link's target. The next run refuses the link and removes what the file's
    earlier content put in Qdrant, the catalog and the dataset."""
    from docmill.sources import staging

    env = _setup(tmp_path)
    stage = staging.stage

    def swapping(*args: Any, **kwargs: Any) -> staging.Staged:
        staged = stage(*args, **kwargs)
        if (env["inbox"] / "report.txt").is_file() and not (env["inbox"] / "report.txt").is_symlink():
            _swap_for_link(env["inbox"] / "report.txt", env["outside"] / "ledger.txt")
        return staged

    monkeypatch.setattr(staging, "stage", swapping)
    first = _run(env["config"])
    assert first["documents"]["embedded"] == 1
    texts = _texts(env["data"])
    assert all(INSIDE[:30] in text and OUTSIDE[:20] not in text for text in texts.values()), texts
    monkeypatch.undo()
    second = _run(env["config"])
    assert second["ingest"]["documents_removed"] == 1
    for where, text in _texts(env["data"]).items():
        assert INSIDE[:30] not in text and OUTSIDE[:20] not in text, where
    report = env["inbox"].resolve().as_uri() + "/report.txt"
    assert _quarantine(env["config"]) == {report: "symlink_escape"}
