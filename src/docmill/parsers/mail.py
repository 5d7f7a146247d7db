"""An e-mail's header fields (From, To, Cc, Date, Subject) as the first element of its text: who wrote to whom
about what is content. unstructured keeps them only as metadata, with RFC 2047 words still encoded."""

from __future__ import annotations

import contextlib
from email.header import decode_header, make_header
from pathlib import Path
from typing import Any

from docmill.records import Element

# MAPI string properties of an Outlook .msg: sender name and SMTP address, display To/Cc, subject, delivery time
_MSG_PROPS = {"from_name": "0C1A", "from_address": "0C1F", "to": "0E04", "cc": "0E03", "subject": "0037"}


def _decoded(value: Any) -> str:
    """A header value (or list of them) with encoded words decoded and empty parts left out."""
    values = value if isinstance(value, list) else [value]
    out = []
    for item in values:
        text = str(item or "").strip()
        if text:
            with contextlib.suppress(ValueError, LookupError):
                text = str(make_header(decode_header(text)))
            out.append(text)
    return ", ".join(out)


def _msg_fields(path: Path) -> dict[str, str]:
    import olefile

    fields: dict[str, str] = {}
    with olefile.OleFileIO(str(path)) as ole:
        for key, prop in _MSG_PROPS.items():
            stream = f"__substg1.0_{prop}001F"
            if ole.exists(stream):
                fields[key] = ole.openstream(stream).read().decode("utf-16-le", "replace").strip("\x00 \r\n")
    return fields


def _eml_fields(path: Path) -> dict[str, str]:
    from email.parser import BytesHeaderParser

    with path.open("rb") as handle:
        headers = BytesHeaderParser().parse(handle)
    keys = {"sent_from": "From", "sent_to": "To", "cc_recipient": "Cc", "last_modified": "Date", "subject": "Subject"}
    return {key: _decoded(headers.get_all(name, [])) for key, name in keys.items()}


def header_element(path: Path, ext: str, metadata: Any) -> Element | None:
    """`From: ...`, `To: ...`, `Cc: ...`, `Date: ...`, `Subject: ...` lines of an .eml or .msg file.

    Args:
        path: the message file.
        ext: `.eml` or `.msg`.
        metadata: unstructured's metadata of the message's first element (sent_from, sent_to, subject ...), or
            None when it gave no element (a message whose only parts are attachments or forwarded messages):
            an .eml's header fields are then read with the standard library.
    """
    fields = _eml_fields(path) if metadata is None and ext == ".eml" else {}
    get = lambda key: fields.get(key) or _decoded(getattr(metadata, key, None))  # noqa: E731
    sender, to, cc, subject = get("sent_from"), get("sent_to"), get("cc_recipient"), get("subject")
    if ext == ".msg":
        fields = _msg_fields(path)
        name, address = fields.get("from_name", ""), fields.get("from_address", "")
        if address:
            sender = f"{name} <{address}>" if name and name != address else address
        to, cc = fields.get("to") or to, fields.get("cc") or cc
        subject = fields.get("subject") or subject
    lines = [
        f"{label}: {value}"
        for label, value in (
            ("From", sender),
            ("To", to),
            ("Cc", cc),
            ("Date", get("last_modified")),
            ("Subject", subject),
        )
        if value
    ]
    return Element("\n".join(lines), "text") if lines else None
