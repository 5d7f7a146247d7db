"""A tamper-evident, append-only audit trail: one JSON object per line, each signed and linked to the previous.

Every entry has `seq` (1, 2, ...), `ts` (UTC, ISO 8601), `event`, event fields, `prev` (the previous entry's
`hash`; 64 zeros for the first), `key` (fingerprint of the signing key, see `docmill.state.audit_keys`) and `hash`
(HMAC-SHA256 under that key of the entry's canonical JSON without `hash`). Without the key nobody can re-sign
an edited trail. Editing an entry breaks its hash, removing or reordering entries breaks `seq` and `prev`, and
cutting the tail is caught by the head recorded next to the log (`<log>.head`), by the anchors kept outside the
data folder's reach (dataset commits, Prefect artifacts: `docmill.state.audit_check`) and by the catalog's runs and
documents, which must all appear in the trail.

Appends check the tail first (its signature, and the head file): a broken trail stops the writer with
`AuditBroken`. `docmill audit acknowledge` sets a broken trail aside and starts a new one with an explicit
`audit_gap` entry. Entries written before keyed trails (no `key`: plain sha256) verify only as a prefix.

Events written by docmill: `run_started`, `run_finished`, `document_added`, `document_changed`,
`document_moved`, `document_deleted`, `document_quarantined`, `document_duplicate`, `settings_changed`,
`quarantine_replayed`, `dataset_version_created`, `audit_gap`, `audit_signed`, `audit_key_rotated`; for snapshots
`snapshot_created`, `snapshot_checked_out`, `training_recorded`.

Size: one job, the trail's format (writing, reading, verifying one chain); keys live in `audit_keys.py`, the
cross-checks against the catalog and the anchors in `audit_check.py`.
"""

from __future__ import annotations

import datetime
import fcntl
import hashlib
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from docmill.state.audit_keys import Keyring

GENESIS = "0" * 64
GAP = "audit_gap"
SIGNED = "audit_signed"
UNSIGNED = "no entry is signed (plain sha256 only, as before signed trails: anyone could have re-chained it)"


class AuditBroken(RuntimeError):
    """The trail does not verify: nothing more is appended to it until someone looks."""


def canonical(entry: dict[str, Any]) -> bytes:
    """The entry's canonical JSON (sorted keys, no whitespace), `hash` itself excluded."""
    body = {k: v for k, v in entry.items() if k != "hash"}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), default=str).encode()


def entry_hash(entry: dict[str, Any], keys: Keyring | None = None) -> str:
    """The entry's hash: HMAC-SHA256 under the key its `key` field names, or plain sha256 for an entry written
    before keyed trails (no `key`).

    Raises:
        KeyError: when the entry names a key the keyring does not hold.
    """
    if "key" not in entry:
        return hashlib.sha256(canonical(entry)).hexdigest()
    if keys is None:
        raise KeyError(entry["key"])
    return keys.sign(canonical(entry), str(entry["key"]))


@dataclass(frozen=True, slots=True)
class Problem:
    """The first entry that does not verify: its line number (1-based), `seq` when readable, and why."""

    line: int
    seq: int | None
    reason: str

    def __str__(self) -> str:
        return f"line {self.line} (seq {self.seq if self.seq is not None else '?'}): {self.reason}"


@dataclass
class Verified:
    """What `AuditLog.verify` found: entries checked, the first problem, the last entry's seq and hash, the
    unkeyed (legacy) entries and the gap entry the trail starts with, if any."""

    count: int = 0
    problem: Problem | None = None
    seq: int = 0
    head: str = GENESIS
    legacy: int = 0
    gap: dict[str, Any] | None = None
    seqs: dict[int, str] = field(default_factory=dict)  # seq -> hash of the seqs asked for (anchor checks)
    wanted: frozenset[int] = frozenset()


def _parse(raw: bytes, number: int) -> tuple[dict[str, Any] | None, Problem | None]:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, Problem(number, None, f"not UTF-8 at byte {exc.start} (edited or corrupted line)")
    try:
        entry = json.loads(text)
    except json.JSONDecodeError as exc:
        return None, Problem(number, None, f"not JSON ({exc.msg} at column {exc.colno}: edited or truncated line)")
    if not isinstance(entry, dict):
        return None, Problem(number, None, f"a JSON {type(entry).__name__}, not an entry object (edited line)")
    return entry, None


class AuditLog:
    """The audit trail under `path` (JSON lines) with its head file `path.head`; `keys` sign and verify (a
    log opened without keys can be read and filtered, not written or verified)."""

    def __init__(self, path: Path, keys: Keyring | None = None) -> None:
        self.path = path
        self.head_path = path.with_name(path.name + ".head")
        self.keys = keys

    def _keyring(self) -> Keyring:
        if self.keys is None:
            raise RuntimeError("this audit log was opened without its keys (docmill.state.audit_keys.keyring)")
        return self.keys

    def append(self, event: str, **fields: Any) -> dict[str, Any]:
        """Append one entry (under an exclusive lock, fsynced) and return it."""
        return self.append_many([(event, fields)])[-1]

    def append_many(
        self, events: list[tuple[str, dict[str, Any]]], start: tuple[int, str] | None = None
    ) -> list[dict[str, Any]]:
        """Append several entries in one locked write, after checking the tail (see `_tail`).

        Args:
            events: (event, fields) pairs.
            start: (seq, prev) to start a new trail from (`acknowledge_gap` only; the log must be empty).

        Raises:
            AuditBroken: when the last entry or the head file does not verify.
        """
        if not events:
            return []
        keys = self._keyring()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a+b") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                seq, prev = start if start is not None else self._tail(handle)
                now = datetime.datetime.now(datetime.UTC).isoformat(timespec="microseconds")
                written, lines = [], []
                for event, fields in events:
                    seq += 1
                    entry = {"seq": seq, "ts": now, "event": event, **fields, "prev": prev, "key": keys.current}
                    entry["hash"] = prev = entry_hash(entry, keys)
                    written.append(entry)
                    lines.append(json.dumps(entry, sort_keys=True, separators=(",", ":"), default=str) + "\n")
                handle.seek(0, os.SEEK_END)
                handle.write("".join(lines).encode("utf-8"))
                handle.flush()
                os.fsync(handle.fileno())
                tmp = self.head_path.with_suffix(".tmp")
                tmp.write_text(f"{seq} {prev}\n", encoding="utf-8")
                os.replace(tmp, self.head_path)
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
        return written

    def head(self) -> tuple[int, str]:
        """(seq, hash) of the last entry as the head file records it ((0, 64 zeros) for an empty trail)."""
        head = self._head() or ["0", GENESIS]
        return (int(head[0]), head[1]) if len(head) == 2 and head[0].isdigit() else (0, GENESIS)

    def _head(self) -> list[str] | None:
        if not self.head_path.exists():
            return None
        return self.head_path.read_text(encoding="utf-8", errors="replace").split()

    def _tail(self, handle: Any) -> tuple[int, str]:
        """seq and hash of the last entry, checked: it parses, its signature verifies and the head file names
        it (reads backwards from the end; the log can be large).

        Raises:
            AuditBroken: naming what does not verify and what to do.
        """
        handle.seek(0, os.SEEK_END)
        size = handle.tell()
        head = self._head()
        if size == 0:
            if head is not None and head != ["0", GENESIS]:
                raise AuditBroken(
                    broken_message(self.path, f"the log is empty but its head file records seq {head[0]}")
                )
            return 0, GENESIS
        chunk = min(size, 65536)
        while True:
            handle.seek(size - chunk)
            block = handle.read(chunk)
            lines = block.rstrip(b"\n").split(b"\n")
            if len(lines) > 2 or chunk == size:
                break
            chunk = min(size, chunk * 4)
        if not block.endswith(b"\n") and _parse(lines[-1], 0)[0] is None and self._names(head, lines[:-1]):
            # a write torn by a crash (its catalog commit never happened): drop the partial line
            handle.truncate(size - len(lines[-1]))
            return self._tail(handle)
        entry, problem = _parse(lines[-1], 0)
        if entry is None:
            raise AuditBroken(
                broken_message(self.path, f"its last line is {problem.reason if problem else 'unreadable'}")
            )
        if "key" not in entry:
            raise AuditBroken(
                broken_message(
                    self.path,
                    f"its last entry (seq {entry.get('seq')}) is not signed (older docmill, or "
                    "re-chained with plain sha256)",
                )
            )
        try:
            valid = entry.get("hash") == entry_hash(entry, self.keys)
        except KeyError:
            valid = False
        if not valid:
            raise AuditBroken(
                broken_message(self.path, f"its last entry (seq {entry.get('seq')}) has no valid signature")
            )
        if head != [str(entry.get("seq")), str(entry.get("hash"))] and not self._names(head, lines[:-1]):
            recorded = head[0] if head else "nothing"
            raise AuditBroken(
                broken_message(self.path, f"it ends at seq {entry.get('seq')} but its head file records {recorded}")
            )
        return int(entry["seq"]), str(entry["hash"])

    @staticmethod
    def _names(head: list[str] | None, lines: list[bytes]) -> bool:
        """True when the head file names one of these earlier entries exactly: it lags behind the log (a crash
        between the log's fsync and the head's update), which the next append repairs. A head that is ahead
        of the log, or names no entry, is not forgiven."""
        if not head or len(head) != 2:
            return False
        for line in reversed(lines):
            entry, _ = _parse(line, 0)
            if entry is not None and [str(entry.get("seq")), str(entry.get("hash"))] == head:
                return True
        return False

    def entries(self) -> Iterator[dict[str, Any]]:
        """All entries in order (unverified; unreadable lines are skipped)."""
        if not self.path.exists():
            return
        with self.path.open("rb") as handle:
            for number, line in enumerate(handle, 1):
                if line.strip():
                    entry, _ = _parse(line, number)
                    if entry is not None:
                        yield entry

    def verify(self, keep: Iterable[int] = ()) -> Verified:
        """Check every entry's signature, its `seq` and its link to the previous one, and the recorded head.

        Args:
            keep: seqs whose entries' hashes to return in `seqs` (the anchored ones).
        """
        found = Verified(wanted=frozenset(keep))
        head = self._head() or ["0", GENESIS]
        named = False  # the head file names an entry of the log
        if self.path.exists():
            with self.path.open("rb") as handle:
                for number, line in enumerate(handle, 1):
                    if not line.endswith(b"\n") and _parse(line, number)[0] is None and named:
                        break  # a write torn by a crash, after the head's entry: the next append drops it
                    found.problem = self._check(line, number, found)
                    if found.problem is not None:
                        return found
                    named = named or head == [str(found.seq), found.head]
        if head != [str(found.seq), found.head] and not named:
            found.problem = Problem(
                found.count + 1, found.seq + 1, f"log ends at seq {found.seq} but the head file records seq {head[0]}"
            )
        elif found.count and found.legacy == found.count:
            found.problem = Problem(1, 1, UNSIGNED)
        return found

    def _check(self, line: bytes, number: int, found: Verified) -> Problem | None:
        """Check one line against what came before it and advance `found`; the problem, if any."""
        entry, problem = _parse(line, number)
        if entry is None:
            return problem
        got = entry.get("seq")
        keyed = "key" in entry
        try:
            valid = entry.get("hash") == entry_hash(entry, self.keys)
        except KeyError:
            return Problem(number, got, f"signed by key {entry.get('key')}, which this keyring does not hold")
        if not valid:
            return Problem(number, got, "hash does not match the entry's content (edited or re-signed)")
        if not keyed and found.count > found.legacy:
            return Problem(number, got, "an unsigned entry after signed ones (re-chained with plain sha256)")
        if found.count == 0 and entry.get("event") == GAP and isinstance(got, int) and entry.get("prev") == GENESIS:
            found.gap = entry  # a trail restarted after a broken one was set aside: numbering continues
            found.seq = got - 1
        if got != found.seq + 1:
            return Problem(number, got, f"expected seq {found.seq + 1} (entries removed or reordered)")
        if entry.get("prev") != found.head:
            return Problem(number, got, "prev does not match the previous entry's hash")
        found.head, found.seq, found.count = str(entry["hash"]), got, found.count + 1
        found.legacy += not keyed
        if got in found.wanted:
            found.seqs[got] = found.head
        return None

    def show(
        self,
        doc: str | None = None,
        run: str | None = None,
        since: str | None = None,
        until: str | None = None,
        event: str | None = None,
    ) -> list[dict[str, Any]]:
        """Entries filtered by document (doc_id prefix or source URI substring), run id, event and time range
        (ISO 8601 prefixes compare as strings: `2026-11-22` or `2026-11-22T05`)."""
        out = []
        for entry in self.entries():
            if run and entry.get("run_id") != run:
                continue
            if event and entry.get("event") != event:
                continue
            if since and entry["ts"] < since:
                continue
            if until and entry["ts"][: len(until)] > until:
                continue
            if doc and not _mentions(entry, doc):
                continue
            out.append(entry)
        return out


def _mentions(entry: dict[str, Any], doc: str) -> bool:
    ids = [entry.get("doc_id"), entry.get("old_doc_id")]
    uris = [entry.get("source_uri"), entry.get("old_source_uri")]
    return any(i and str(i).startswith(doc) for i in ids) or any(u and doc in str(u) for u in uris)


def broken_message(path: Path, what: str) -> str:
    """What a writer says when it refuses a broken trail: what is broken and what to do."""
    return (
        f"audit trail {path} is broken: {what}. Nothing is appended to a broken trail: run `docmill audit verify` "
        "to see where, investigate, then `docmill audit acknowledge --reason ...` sets it aside and starts a new "
        "trail with an explicit gap entry"
    )
