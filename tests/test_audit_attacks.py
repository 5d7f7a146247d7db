"""Attacks on the audit trail by someone who can write the data folder (issue 20): re-chaining, cutting the
tail, deleting the trail, corrupting lines; and the key file's rules (rights, environment, rotation)."""

import json
import os
import subprocess
from pathlib import Path

import pytest

from docmill.state.audit import AuditBroken, AuditLog
from docmill.state.audit_check import acknowledge_gap, anchor_trailer, check
from docmill.state.audit_keys import Keyring, load_keyring
from docmill.state.catalog import Catalog
from tests.helpers import rechain_plain

KEYS = Keyring.of(b"the site's secret audit key 0001")


def _trail(tmp_path: Path, runs: int = 2) -> AuditLog:
    log = AuditLog(tmp_path / "audit" / "audit.jsonl", KEYS)
    for r in range(runs):
        log.append("run_started", run_id=f"r{r}")
        log.append("document_added", run_id=f"r{r}", doc_id=f"{r:064d}", source_uri=f"file:///s/{r}.pdf")
        log.append("run_finished", run_id=f"r{r}", status="completed")
    return log


def _rechain_plain(log: AuditLog, edit: dict[str, object], line: int, keep_key_field: bool) -> None:
    """What a forger without the key does: edit, then recompute every hash with plain sha256 and the head."""
    rechain_plain(log.path, edit, line, keep_key_field)


@pytest.mark.parametrize("keep_key_field", [True, False])
def test_a_trail_re_chained_with_plain_sha256_does_not_verify(tmp_path: Path, keep_key_field: bool) -> None:
    log = _trail(tmp_path)
    _rechain_plain(log, {"source_uri": "file:///s/innocent.pdf"}, 1, keep_key_field)
    problem = log.verify().problem
    assert problem is not None, "a re-chained trail must not verify"
    assert problem.line == 1
    with pytest.raises(AuditBroken, match="docmill audit acknowledge"):
        log.append("run_started", run_id="r9")  # and nothing is appended to it


def test_an_appender_refuses_a_cut_tail_instead_of_healing_it(tmp_path: Path) -> None:
    log = _trail(tmp_path)
    lines = log.path.read_text().splitlines(keepends=True)
    log.path.write_text("".join(lines[:-2]))
    with pytest.raises(AuditBroken, match="head file records 6"):
        log.append("run_started", run_id="r9")
    assert len(log.path.read_text().splitlines()) == 4  # nothing appended, the head file untouched
    assert log.head_path.read_text().split()[0] == "6"


def test_a_cut_tail_with_a_rewritten_head_is_caught_by_the_anchor(tmp_path: Path) -> None:
    log = _trail(tmp_path)
    repo = tmp_path / "datasets"
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    message = f"dataset d: 3 chunks (run r1)\n\n{anchor_trailer(log.head())}"
    subprocess.run(
        [
            "git",
            "-C",
            str(repo),
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "commit",
            "-q",
            "--allow-empty",
            "-m",
            message,
        ],
        check=True,
    )
    assert check(log, tmp_path / "none.sqlite", repo).problems == []
    lines = log.path.read_text().splitlines(keepends=True)
    log.path.write_text("".join(lines[:-1]))
    last = json.loads(lines[-2])
    log.head_path.write_text(f"{last['seq']} {last['hash']}\n")  # the forger rewrites the head too
    assert log.verify().problem is None  # the chain alone cannot tell...
    report = check(log, tmp_path / "none.sqlite", repo)
    assert report.problems and "seq 6 is missing" in report.problems[0]  # ...the anchor can


def test_a_deleted_trail_is_caught_by_the_catalog(tmp_path: Path) -> None:
    log = _trail(tmp_path)
    catalog = Catalog(tmp_path / "catalog.sqlite")
    catalog.start_run("r0", "c", "v")
    catalog.start_run("r1", "c", "v")
    catalog.close()
    assert check(log, tmp_path / "catalog.sqlite", tmp_path / "datasets").problems == []
    log.path.unlink()
    log.head_path.unlink()
    report = check(log, tmp_path / "catalog.sqlite", tmp_path / "datasets")
    assert report.verified.count == 0
    assert report.problems and "2 of the catalog's 2 runs have no run_started entry" in report.problems[0]


def test_a_catalog_document_without_its_entry_is_named(tmp_path: Path) -> None:
    log = _trail(tmp_path, runs=1)
    catalog = Catalog(tmp_path / "catalog.sqlite")
    catalog.start_run("r0", "c", "v")
    with catalog.transaction():
        for doc_id in (f"{0:064d}", "f" * 64):
            catalog._execute("INSERT INTO documents(doc_id, status, run_id) VALUES (?, 'embedded', 'r0')", (doc_id,))
    catalog.close()
    report = check(log, tmp_path / "catalog.sqlite", tmp_path / "datasets")
    assert report.problems and "1 of the catalog's 2 documents" in report.problems[0] and "ffff" in report.problems[0]


@pytest.mark.parametrize("line", [b"null\n", b"\xff\xfe not utf-8\n", b"[1, 2]\n", b'"text"\n'])
def test_a_corrupted_line_is_named_not_a_traceback(tmp_path: Path, line: bytes) -> None:
    log = _trail(tmp_path)
    lines = log.path.read_bytes().splitlines(keepends=True)
    lines[2] = line
    log.path.write_bytes(b"".join(lines))
    problem = log.verify().problem
    assert problem is not None and problem.line == 3
    assert list(log.entries())  # readable entries still list
    lines[-1] = line
    log.path.write_bytes(b"".join(lines))
    with pytest.raises(AuditBroken):
        log.append("run_started", run_id="r9")


def test_an_acknowledged_gap_sets_the_broken_trail_aside_and_verifies(tmp_path: Path) -> None:
    log = _trail(tmp_path)
    log.path.write_text("".join(log.path.read_text().splitlines(keepends=True)[:-1]))
    problem = str(log.verify().problem)
    entry = acknowledge_gap(log, "disk restored from backup; checked by J. Doe", problem)
    assert entry["seq"] == 7 and entry["event"] == "audit_gap"
    assert (tmp_path / "audit" / entry["set_aside"]).exists()
    log.append("run_started", run_id="r9")
    found = log.verify()
    assert found.problem is None and found.count == 2 and found.gap is not None
    assert found.gap["reason"].startswith("disk restored")


def test_the_key_file_is_private_and_the_environment_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key_file = tmp_path / "secrets" / "audit.key"
    monkeypatch.delenv("T_AUDIT_KEY", raising=False)
    with pytest.raises(FileNotFoundError):
        load_keyring("T_AUDIT_KEY", key_file, create=False)
    created = load_keyring("T_AUDIT_KEY", key_file)
    assert os.stat(key_file).st_mode & 0o777 == 0o600
    assert load_keyring("T_AUDIT_KEY", key_file).current == created.current
    key_file.chmod(0o644)
    with pytest.raises(PermissionError, match="chmod 600"):
        load_keyring("T_AUDIT_KEY", key_file)
    monkeypatch.setenv("T_AUDIT_KEY", "new-key old-key")
    from_env = load_keyring("T_AUDIT_KEY", key_file)
    assert from_env.current == Keyring.of(b"new-key").current and len(from_env.keys) == 2


def test_entries_signed_by_a_retired_key_verify_after_rotation(tmp_path: Path) -> None:
    old = Keyring.of(b"old key")
    log = AuditLog(tmp_path / "audit.jsonl", old)
    log.append("run_started", run_id="r1")
    rotated = Keyring.of(b"new key", b"old key")
    AuditLog(log.path, rotated).append("audit_key_rotated", retired_key=old.current, new_key=rotated.current)
    assert AuditLog(log.path, rotated).verify().problem is None
    problem = AuditLog(log.path, Keyring.of(b"new key")).verify().problem  # the retired key was dropped
    assert problem is not None and "does not hold" in problem.reason


def test_a_trail_from_before_signing_is_signed_on_when_acknowledged(tmp_path: Path) -> None:
    log = _trail(tmp_path)
    _rechain_plain(log, {}, 0, keep_key_field=False)  # what docmill wrote before signed trails
    problem = log.verify().problem
    assert problem is not None and "no entry is signed" in problem.reason
    entry = acknowledge_gap(log, "upgrade to signed trails", problem.reason)
    assert entry["event"] == "audit_signed" and entry["seq"] == 7
    found = log.verify()
    assert found.problem is None and (found.count, found.legacy) == (7, 6)
    _rechain_plain(log, {}, 0, keep_key_field=False)  # stripping the signatures again is caught
    assert log.verify().problem is not None


def test_a_crash_between_the_log_and_its_head_is_repaired_not_a_break(tmp_path: Path) -> None:
    log = _trail(tmp_path)
    lagging = log.head_path.read_text()
    log.append("run_started", run_id="r2")
    log.head_path.write_text(lagging)  # killed after the log's fsync, before the head's update
    assert log.verify().problem is None
    with log.path.open("ab") as handle:  # killed in the middle of the next write
        handle.write(b'{"event":"document_added","seq":8,"ts":"2026-')
    log.head_path.write_text(lagging)
    assert log.verify().problem is None
    log.append("run_finished", run_id="r2")  # the torn line is dropped, the head catches up
    found = log.verify()
    assert found.problem is None and found.count == 8
    log.head_path.unlink()  # but a head that names no entry is never forgiven
    assert log.verify().problem is not None
    with pytest.raises(AuditBroken):
        log.append("run_started", run_id="r3")
