"""A tamper-evident, append-only audit trail: one JSON object per line, each carrying the hash of the previous.

Every entry has `seq` (1, 2, ...), `ts` (UTC, ISO 8601), `event`, event fields, `prev` (the previous entry's
`hash`; 64 zeros for the first) and `hash` (sha256 of the entry's canonical JSON without `hash`). Editing an
entry breaks its hash, removing or reordering entries breaks `seq` and `prev`, and cutting the tail is caught
by comparing the last entry with the head recorded next to the log (`<log>.head`, written with every append).

Events written by docmill: `run_started`, `run_finished`, `document_added`, `document_changed`,
`document_moved`, `document_deleted`, `document_quarantined`, `dataset_version_created`; for snapshots
`snapshot_created`, `snapshot_checked_out`, `training_recorded`.
"""

from __future__ import annotations

import datetime
import fcntl
import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

GENESIS = "0" * 64


def entry_hash(entry: dict[str, Any]) -> str:
    """sha256 of the entry's canonical JSON (sorted keys, no whitespace), `hash` itself excluded."""
    body = {k: v for k, v in entry.items() if k != "hash"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Problem:
    """The first entry that does not verify: its line number (1-based), `seq` when readable, and why."""

    line: int
    seq: int | None
    reason: str

    def __str__(self) -> str:
        return f"line {self.line} (seq {self.seq if self.seq is not None else '?'}): {self.reason}"


class AuditLog:
    """The audit trail under `path` (JSON lines) with its head file `path.head`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.head_path = path.with_name(path.name + ".head")

    def append(self, event: str, **fields: Any) -> dict[str, Any]:
        """Append one entry (under an exclusive lock, fsynced) and return it."""
        return self.append_many([(event, fields)])[-1]

    def append_many(self, events: list[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
        """Append several entries in one locked write."""
        if not events:
            return []
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a+", encoding="utf-8") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                seq, prev = self._tail(handle)
                now = datetime.datetime.now(datetime.UTC).isoformat(timespec="microseconds")
                written, lines = [], []
                for event, fields in events:
                    seq += 1
                    entry = {"seq": seq, "ts": now, "event": event, **fields, "prev": prev}
                    entry["hash"] = prev = entry_hash(entry)
                    written.append(entry)
                    lines.append(json.dumps(entry, sort_keys=True, separators=(",", ":"), default=str) + "\n")
                handle.seek(0, os.SEEK_END)
                handle.write("".join(lines))
                handle.flush()
                os.fsync(handle.fileno())
                tmp = self.head_path.with_suffix(".tmp")
                tmp.write_text(f"{seq} {prev}\n", encoding="utf-8")
                os.replace(tmp, self.head_path)
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
        return written

    @staticmethod
    def _tail(handle: Any) -> tuple[int, str]:
        """seq and hash of the last entry (reads backwards from the end; the log can be large)."""
        handle.seek(0, os.SEEK_END)
        size = handle.tell()
        if size == 0:
            return 0, GENESIS
        chunk = min(size, 65536)
        while True:
            handle.seek(size - chunk)
            lines = handle.read(chunk).rstrip("\n").split("\n")
            if len(lines) > 1 or chunk == size:
                last = json.loads(lines[-1])
                return int(last["seq"]), str(last["hash"])
            chunk = min(size, chunk * 4)

    def entries(self) -> Iterator[dict[str, Any]]:
        """All entries in order (unverified)."""
        if not self.path.exists():
            return
        with self.path.open(encoding="utf-8") as handle:
            for line in handle:
                if line.strip():
                    yield json.loads(line)

    def verify(self) -> tuple[int, Problem | None]:
        """Check every entry's hash, its `seq` and its link to the previous one, and the recorded head.

        Returns:
            (entries checked, the first problem or None).
        """
        prev, seq, count = GENESIS, 0, 0
        if self.path.exists():
            with self.path.open(encoding="utf-8") as handle:
                for number, line in enumerate(handle, 1):
                    try:
                        entry = json.loads(line)
                    except json.JSONDecodeError:
                        return count, Problem(number, None, "not a JSON object (edited or truncated line)")
                    got = entry.get("seq")
                    if entry.get("hash") != entry_hash(entry):
                        return count, Problem(number, got, "hash does not match the entry's content (edited)")
                    if got != seq + 1:
                        return count, Problem(number, got, f"expected seq {seq + 1} (entries removed or reordered)")
                    if entry.get("prev") != prev:
                        return count, Problem(number, got, "prev does not match the previous entry's hash")
                    prev, seq, count = entry["hash"], got, count + 1
        head = self.head_path.read_text(encoding="utf-8").split() if self.head_path.exists() else ["0", GENESIS]
        if [str(seq), prev] != head:
            return count, Problem(count + 1, seq + 1, f"log ends at seq {seq} but the head file records seq {head[0]}")
        return count, None

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
