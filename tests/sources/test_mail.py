"""Mailbox connectors (mbox and Maildir): one .eml document per message, attachments as children, threads
from Message-ID / In-Reply-To / References, incremental by message bytes."""

from __future__ import annotations

import mailbox
from email.message import EmailMessage
from pathlib import Path

import pytest

from docmill.sources.mail import thread_of
from tests.sources.conftest import ingest_run


def message(mid: str, subject: str, body: str, parent: str | None = None, refs: str = "") -> EmailMessage:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"], msg["Message-ID"] = "ann@example.org", "team@example.org", subject, mid
    if parent:
        msg["In-Reply-To"] = parent
    if refs:
        msg["References"] = refs
    msg.set_content(body)
    return msg


def fill(box: mailbox.Mailbox) -> dict[str, str]:  # type: ignore[type-arg]
    """Three messages, one thread (root, reply, reply-to-reply), the root with an attachment."""
    root = message("<root@example.org>", "Budget", "The travel budget for next year is attached for review.")
    root.add_attachment(b"item,cost\nflights,1200\nhotels,900\n", maintype="text", subtype="csv", filename="budget.csv")
    keys = {"root": box.add(root)}
    keys["reply"] = box.add(
        message("<reply@example.org>", "Re: Budget", "Hotels look high compared to last year.", "<root@example.org>")
    )
    keys["deep"] = box.add(
        message(
            "<deep@example.org>",
            "Re: Re: Budget",
            "Agreed, we will renegotiate the hotel contract.",
            "<reply@example.org>",
            "<root@example.org> <reply@example.org>",
        )
    )
    box.flush()
    return keys


def test_thread_root_follows_known_parents() -> None:
    parents = {"a": None, "b": "a", "c": "b", "x": "outside"}
    assert [thread_of(m, parents) for m in ("a", "b", "c", "x")] == ["a", "a", "a", "outside"]


@pytest.mark.parametrize("kind", ["mbox", "maildir"])
def test_mailbox_incremental_with_threads_and_attachments(kind: str, tmp_path: Path) -> None:
    path = tmp_path / ("box.mbox" if kind == "mbox" else "Maildir")
    box = mailbox.mbox(path) if kind == "mbox" else mailbox.Maildir(path)
    keys = fill(box)
    cfg = {"name": "team-mail", "type": kind, "path": str(path)}
    data = tmp_path / "data"
    rt, first = ingest_run(data, "r1", [cfg])
    scope = f"{kind}://{path}/"
    rows = {r["source_uri"].removeprefix(scope): r for r in rt.catalog.query("SELECT * FROM sources")}
    assert set(rows) == {"root@example.org", "reply@example.org", "deep@example.org", "root@example.org!/budget.csv"}
    assert first["new"] == 4 and first["fetched"] == 3  # the attachment is a child document
    assert rows["root@example.org"]["path"].endswith(".eml")
    import json

    deep = json.loads(rows["deep@example.org"]["metadata"])
    assert (deep["thread_id"], deep["parent_id"], deep["subject"]) == (
        "root@example.org",
        "reply@example.org",
        "Re: Re: Budget",
    )

    _, second = ingest_run(data, "r2", [cfg])
    assert (second["unchanged"], second["fetched"]) == (4, 0)

    box.lock()
    box.remove(keys["reply"])
    box[keys["deep"]] = message(
        "<deep@example.org>", "Re: Re: Budget", "Changed: we keep the hotel.", "<reply@example.org>"
    )
    box.add(message("<new@example.org>", "Lunch", "The canteen opens at noon from Monday onwards."))
    box.flush()
    box.unlock()
    rt, third = ingest_run(data, "r3", [cfg])
    assert (third["fetched"], third["new"], third["changed"], third["sources_deleted"]) == (2, 1, 1, 1)
    assert rt.catalog.source(f"{scope}reply@example.org") is None
    assert rt.catalog.source(f"{scope}root@example.org!/budget.csv") is not None  # unchanged container kept


def test_missing_mailbox_names_the_source(tmp_path: Path) -> None:
    from docmill.sources.base import SourceUnavailable

    with pytest.raises(SourceUnavailable, match="source 'inbox': no maildir mailbox at"):
        ingest_run(tmp_path / "data", "r1", [{"name": "inbox", "type": "maildir", "path": str(tmp_path / "none")}])


def test_a_message_that_cannot_be_read_is_rejected_alone_and_the_listing_goes_on(tmp_path: Path) -> None:
    """A Maildir entry whose bytes cannot be read (here a link to nothing: a message a mail client removed while
    the mailbox was listed) ended the whole listing with `FileNotFoundError`; it is now a `step_failed:list:`
    reject of the mailbox, and the other messages are listed. It never blocks the mailbox's deletions: what earlier
    runs made of the unreadable message goes like a deleted message's, and comes back when it reads again."""
    path = tmp_path / "Maildir"
    box = mailbox.Maildir(path)
    keys = fill(box)
    cfg = {"name": "team-mail", "type": "maildir", "path": str(path)}
    data = tmp_path / "data"
    ingest_run(data, "r1", [cfg])
    scope = f"maildir://{path}/"
    [entry] = [p for p in (path / "new").iterdir() if p.name.startswith(keys["reply"])]
    entry.unlink()
    entry.symlink_to(tmp_path / "removed")  # still a key of the Maildir, its bytes gone
    box.remove(keys["deep"])  # deleted on purpose (an erasure request): one bad entry must not hold it back
    box.add(message("<new@example.org>", "Lunch", "The canteen opens at noon from Monday onwards."))
    box.flush()
    rt, second = ingest_run(data, "r2", [cfg])
    assert second["new"] == 1 and second["sources_deleted"] == 2
    assert rt.catalog.source(f"{scope}deep@example.org") is None
    [reject] = rt.catalog.query("SELECT * FROM quarantine WHERE stage='ingest'")
    assert (reject["reason"], reject["source_uri"]) == ("step_failed:list:FileNotFoundError", scope)
    assert reject["message"].startswith(f"mailbox key {keys['reply']}: list raised FileNotFoundError")
    assert rt.catalog.source(f"{scope}reply@example.org") is None
    assert rt.catalog.source(f"{scope}root@example.org") is not None
