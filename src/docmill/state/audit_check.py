"""The audit trail against what it must account for: its anchors and the catalog.

A trail can verify on its own and still be wrong: cut after its last anchored entry with the head file
rewritten, or deleted outright. So `check` also requires
- every anchor to be in the trail: the head (`seq`, `hash`) each dataset version records in its manifest and its
  git commit (`Audit-Head:` trailer), which an attacker holding the data folder alone cannot rewrite once the
  commit is pushed or the version is on the DVC remote (the Prefect run's `docmill-audit-head` artifact holds
  the same values, for comparison by hand);
- every run of the catalog to have its `run_started` entry, and every document of the catalog an entry naming
  its `doc_id` (`document_added` or `document_changed`).
After an acknowledged gap (`audit_gap` first), anchors before it and runs and documents of runs before it are
not required (they were accounted for by the trail that was set aside).
"""

from __future__ import annotations

import datetime
import hashlib
import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from docmill.state.audit import GAP, GENESIS, SIGNED, UNSIGNED, AuditBroken, AuditLog, Verified, broken_message
from docmill.state.catalog import Catalog

ANCHOR_TRAILER = "Audit-Head"
_TRAILER = re.compile(rf"^{ANCHOR_TRAILER}: (\d+) ([0-9a-f]{{64}})$", re.MULTILINE)


@dataclass
class Report:
    """The chain's verification plus the cross-checks: `problems` empty means intact."""

    verified: Verified
    anchors: int = 0
    runs: int = 0
    documents: int = 0
    problems: list[str] = field(default_factory=list)


def anchor_trailer(head: tuple[int, str]) -> str:
    """The git trailer that anchors a head (appended to docmill's commit messages)."""
    return f"{ANCHOR_TRAILER}: {head[0]} {head[1]}"


def git_anchors(repo_root: Path) -> list[tuple[int, str]]:
    """(seq, hash) anchors in the commit messages of the data repository (none when it does not exist)."""
    if not (repo_root / ".git").exists():
        return []
    proc = subprocess.run(
        ["git", "-C", str(repo_root), "log", "--all", "--format=%B"], capture_output=True, text=True, check=False
    )
    return [(int(seq), digest) for seq, digest in _TRAILER.findall(proc.stdout)]


def _check_anchors(verified: Verified, anchors: list[tuple[int, str]], report: Report) -> None:
    seqs = verified.seqs
    floor = int(verified.gap["seq"]) if verified.gap else 0
    for seq, digest in sorted(set(anchors)):
        if seq < floor:
            continue
        report.anchors += 1
        if seq not in seqs:
            report.problems.append(
                f"anchored entry seq {seq} is missing: the trail ends at seq {verified.seq} (its tail was cut)"
            )
            return
        if seqs[seq] != digest:
            report.problems.append(f"entry seq {seq} differs from its anchor (rewritten): expected hash {digest[:16]}…")
            return


def _since(verified: Verified) -> float:
    if not verified.gap:
        return 0.0
    return datetime.datetime.fromisoformat(str(verified.gap["ts"])).timestamp()


def _check_catalog(log: AuditLog, catalog: Path, verified: Verified, report: Report) -> None:
    if not catalog.exists():
        return
    since = _since(verified)
    runs, docs = set(), set()
    for entry in log.entries():
        if entry.get("event") == "run_started":
            runs.add(entry.get("run_id"))
        if entry.get("event") in ("document_added", "document_changed"):
            docs.add(entry.get("doc_id"))
    db = Catalog(catalog, read_only=True)
    try:
        catalog_runs, catalog_docs = db.runs_since(since), db.documents_since(since)
    finally:
        db.close()
    report.runs, report.documents = len(catalog_runs), len(catalog_docs)
    missing_runs = sorted(set(catalog_runs) - runs)
    if missing_runs:
        report.problems.append(
            f"{len(missing_runs)} of the catalog's {len(catalog_runs)} runs have no run_started entry "
            f"(first: {missing_runs[0]}): entries were removed or the trail was replaced"
        )
    missing_docs = sorted(catalog_docs - docs)
    if missing_docs:
        report.problems.append(
            f"{len(missing_docs)} of the catalog's {len(catalog_docs)} documents have no document_added or "
            f"document_changed entry (first: {missing_docs[0][:16]}…): entries were removed or the trail replaced"
        )


def check(log: AuditLog, catalog: Path, repo_root: Path) -> Report:
    """Verify the chain, then its anchors and the catalog against it (see the module docstring)."""
    anchors = git_anchors(repo_root)
    verified = log.verify(keep={seq for seq, _ in anchors})
    report = Report(verified)
    if verified.problem is not None:
        report.problems.append(str(verified.problem))
        return report
    _check_anchors(verified, anchors, report)
    _check_catalog(log, catalog, verified, report)
    return report


def check_settings(settings: Any, log: AuditLog) -> Report:
    """`check` with the catalog and data repository of `settings`."""
    return check(log, settings.paths.catalog, settings.paths.data_dir / "datasets")


def open_log(settings: Any, create_key: bool = True) -> AuditLog:
    """The audit trail of `settings` with its keys (`docmill.state.audit_keys.keyring`)."""
    from docmill.state.audit_keys import keyring

    return AuditLog(settings.paths.audit_log, keyring(settings, create_key))


def require_intact(settings: Any, log: AuditLog) -> Report:
    """`check_settings`, raising on the first problem: a run never appends to a trail it cannot vouch for.

    Raises:
        AuditBroken: with the problem and what to do.
    """
    report = check_settings(settings, log)
    if report.problems:
        raise AuditBroken(broken_message(log.path, report.problems[0]))
    return report


def acknowledge_gap(log: AuditLog, reason: str, problem: str, after: int = 0) -> dict[str, Any]:
    """Set a broken trail aside (`<log>.broken-<UTC time>`, with its head file) and start a new one whose first
    entry (`audit_gap`) records the reason, the problem, the set-aside file and its sha256; its numbering
    continues after the highest seq seen in the old trail, its head file or `after` (the highest anchored seq:
    anchors of the old trail are then not looked for in the new one). A trail written before signing
    (an intact plain-sha256 chain) is kept and continued with a signed `audit_signed` entry instead."""
    found = log.verify()
    if found.problem is not None and found.problem.reason == UNSIGNED:  # a trail from before signing: sign on
        fields = {"reason": reason, "unsigned_entries": found.legacy}
        return log.append_many([(SIGNED, fields)], start=(found.seq, found.head))[0]
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%S%fZ")
    last = max([after, *(int(e["seq"]) for e in log.entries() if isinstance(e.get("seq"), int))])
    last = max(last, log.head()[0])
    aside = log.path.with_name(f"{log.path.name}.broken-{stamp}")
    digest = ""
    if log.path.exists():
        digest = hashlib.sha256(log.path.read_bytes()).hexdigest()
        os.replace(log.path, aside)
    if log.head_path.exists():
        os.replace(log.head_path, aside.with_name(aside.name + ".head"))
    fields = {"reason": reason, "problem": problem, "set_aside": aside.name, "set_aside_sha256": digest}
    return log.append_many([(GAP, fields)], start=(last, GENESIS))[0]
