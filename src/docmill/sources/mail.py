"""Mailboxes (mbox files, Maildir folders) through the standard library: every message becomes a document
(its bytes as `.eml`, so the e-mail parser and attachment expansion apply), threaded by Message-ID,
In-Reply-To and References into metadata (`message_id`, `thread_id`, `parent_id`)."""

from __future__ import annotations

import email.parser
import email.policy
import mailbox
from collections.abc import Iterator
from dataclasses import replace
from email.message import Message
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import quote

from docmill.config.connectors import MailboxConnectorConfig
from docmill.config.globs import selected
from docmill.isolation import steps
from docmill.records import FileItem, Reject
from docmill.sources.base import ItemError, SourceUnavailable, safe_name
from docmill.sources.staging import sha256_bytes


def _ids(value: str | None) -> list[str]:
    """Message ids in a header, without angle brackets."""
    return [part.strip("<>") for part in str(value or "").split() if part.strip("<>")]


def thread_of(message_id: str, parents: dict[str, str | None]) -> str:
    """The root of a message's thread: follow parents as far as the mailbox knows them."""
    seen = {message_id}
    current = message_id
    while (parent := parents.get(current)) and parent not in seen:
        seen.add(parent)
        current = parent
    return parents.get(current) or current  # a parent outside the mailbox still names the thread


class MailboxSource:
    """The messages of one mbox file or Maildir folder."""

    local = False

    def __init__(self, cfg: MailboxConnectorConfig) -> None:
        self.cfg = cfg
        self.name = cfg.name
        self.path = cfg.path.resolve()
        self.scope = f"{cfg.type}://{quote(str(self.path))}/"
        self._keys: dict[str, Any] = {}  # Message-ID -> mailbox key (an int in mbox, a name in Maildir)
        self._box: Any = None

    def _open(self) -> Any:
        kind = self.cfg.type
        if (kind == "mbox" and not self.path.is_file()) or (kind == "maildir" and not (self.path / "cur").is_dir()):
            raise SourceUnavailable(f"source {self.name!r}: no {kind} mailbox at {self.path}")
        self._box = (
            mailbox.mbox(self.path, create=False) if kind == "mbox" else mailbox.Maildir(self.path, create=False)
        )
        return self._box

    def list_items(self) -> Iterator[FileItem | Reject]:
        """Every message: id from its Message-ID (else the sha256 of its bytes), version the sha256 of its bytes.

        Raises:
            SourceUnavailable: the mailbox does not exist.
        """
        box = self._open()
        listed: list[tuple[Any, str, str, int, dict[str, Any]]] = []
        parents: dict[str, str | None] = {}
        for key in sorted(box.keys(), key=str):
            # a message that cannot be read is a reject of the mailbox's scope (its Message-ID, hence its URI, is
            # unknown); the other messages go on. What earlier runs made of it is removed like a deleted message
            # (a reject never blocks the deletions of a whole mailbox) and comes back when it reads again.
            outcome = steps.attempt("ingest", "list", steps.Item(source_uri=self.scope), partial(self._message, key))
            if isinstance(outcome, steps.Failure):
                reject = outcome.reject
                yield replace(reject, message=f"mailbox key {safe_name(str(key), 'message')}: {reject.message}")
                continue
            data, headers = outcome
            digest = sha256_bytes(data)
            message_id = next(iter(_ids(headers["Message-ID"])), f"sha256-{digest}")
            while message_id in parents:  # the same Message-ID twice: keep both messages
                message_id += "~"
            refs = _ids(headers["References"])
            parent = next(iter(_ids(headers["In-Reply-To"])), None) or (refs[-1] if refs else None)
            parents[message_id] = parent
            listed.append((key, message_id, digest, len(data), {"subject": str(headers["Subject"] or "")}))
        for key, message_id, digest, size, extra in listed:
            relative = f"{safe_name(message_id, 'message')}.eml"
            if not selected(relative, self.cfg.include, self.cfg.exclude):
                continue
            self._keys[message_id] = key
            meta = {"message_id": message_id, "parent_id": parents[message_id], **extra}
            meta["thread_id"] = thread_of(message_id, parents)
            uri = f"{self.scope}{quote(message_id, safe='@')}"
            yield FileItem(uri, "", relative, size, 0.0, digest, meta)

    def _message(self, key: Any) -> tuple[bytes, Message]:
        """One message's bytes and headers."""
        data = self._box.get_bytes(key)
        return data, email.parser.BytesParser(policy=email.policy.compat32).parsebytes(data, headersonly=True)

    def fetch(self, item: FileItem, dest: Path) -> None:
        """Write the message's bytes.

        Raises:
            ItemError: `fetch_failed` when the message left the mailbox since the listing.
        """
        key = self._keys.get(item.metadata["message_id"])
        try:
            data = (self._box or self._open()).get_bytes(key)
        except (KeyError, OSError) as exc:
            raise ItemError("fetch_failed", f"{item.source_uri}: {type(exc).__name__}") from None
        dest.write_bytes(data)

    def close(self) -> None:
        """Close the mailbox."""
        if self._box is not None:
            self._box.close()
            self._box = None
