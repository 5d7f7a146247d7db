"""The audit trail: a hash chain that names the first edited, removed or reordered entry."""

import itertools
import json
from pathlib import Path

import pytest

from docmill.state.audit import AuditLog
from docmill.state.audit_keys import Keyring

KEYS = Keyring.of(b"k" * 32)


def _log(tmp_path: Path, entries: int = 6) -> AuditLog:
    log = AuditLog(tmp_path / "audit" / "audit.jsonl", KEYS)
    log.append("run_started", run_id="r1", config_hash="c" * 16)
    for i in range(entries - 2):
        log.append("document_added", run_id="r1", doc_id=f"{i:064d}", source_uri=f"file:///share/doc{i}.pdf")
    log.append("run_finished", run_id="r1", status="completed")
    return log


def _lines(log: AuditLog) -> list[str]:
    return log.path.read_text().splitlines(keepends=True)


def test_an_untouched_log_verifies_and_links_every_entry(tmp_path: Path) -> None:
    log = _log(tmp_path)
    found = log.verify()
    assert (found.count, found.problem) == (6, None)
    entries = list(log.entries())
    assert [e["seq"] for e in entries] == [1, 2, 3, 4, 5, 6]
    assert all(b["prev"] == a["hash"] for a, b in itertools.pairwise(entries))
    again = AuditLog(log.path, KEYS)  # a new writer continues the chain
    again.append("run_started", run_id="r2")
    assert (again.verify().count, again.verify().problem) == (7, None)


def test_an_edited_entry_is_named(tmp_path: Path) -> None:
    log = _log(tmp_path)
    lines = _lines(log)
    entry = json.loads(lines[2])
    entry["source_uri"] = "file:///share/other.pdf"  # edit the content, keep the old hash
    lines[2] = json.dumps(entry, sort_keys=True, separators=(",", ":")) + "\n"
    log.path.write_text("".join(lines))
    found = log.verify()
    count, problem = found.count, found.problem
    assert count == 2 and problem is not None
    assert (problem.line, problem.seq) == (3, 3) and "edited" in problem.reason


def test_a_removed_entry_is_named(tmp_path: Path) -> None:
    log = _log(tmp_path)
    lines = _lines(log)
    del lines[3]
    log.path.write_text("".join(lines))
    problem = log.verify().problem
    assert problem is not None and (problem.line, problem.seq) == (4, 5)


def test_swapped_entries_are_named(tmp_path: Path) -> None:
    log = _log(tmp_path)
    lines = _lines(log)
    lines[1], lines[2] = lines[2], lines[1]
    log.path.write_text("".join(lines))
    problem = log.verify().problem
    assert problem is not None and (problem.line, problem.seq) == (2, 3)


def test_a_cut_tail_is_caught_by_the_head(tmp_path: Path) -> None:
    log = _log(tmp_path)
    log.path.write_text("".join(_lines(log)[:-1]))
    found = log.verify()
    count, problem = found.count, found.problem
    assert count == 5 and problem is not None and "head" in problem.reason


def test_a_rehashed_forgery_still_breaks_the_chain(tmp_path: Path) -> None:
    from docmill.state.audit import entry_hash

    log = _log(tmp_path)
    lines = _lines(log)
    entry = json.loads(lines[1])
    entry["doc_id"] = "f" * 64
    entry["hash"] = entry_hash(
        entry, KEYS
    )  # a careful forger (with the key) recomputes the hash of the edited entry...
    lines[1] = json.dumps(entry, sort_keys=True, separators=(",", ":")) + "\n"
    log.path.write_text("".join(lines))
    problem = log.verify().problem
    assert problem is not None and problem.line == 3 and "prev" in problem.reason  # ...the next link breaks


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"doc": "0000000000000000000000000000000000000000000000000000000000000001"}, [3]),
        ({"doc": "doc2.pdf"}, [4]),
        ({"run": "r1", "event": "run_finished"}, [6]),
        ({"since": "2000-01-01", "until": "2999"}, [1, 2, 3, 4, 5, 6]),
        ({"until": "2000"}, []),
    ],
)
def test_show_filters(tmp_path: Path, filters: dict[str, str], expected: list[int]) -> None:
    assert [e["seq"] for e in _log(tmp_path).show(**filters)] == expected
