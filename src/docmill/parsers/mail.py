"""An e-mail's header fields (From, To, Cc, Bcc, Date, Subject) as the first element of its text: who wrote to whom
about what is content. unstructured keeps them only as metadata, with RFC 2047 words still encoded."""

from __future__ import annotations

import contextlib
from email.header import decode_header, make_header
from pathlib import Path
from typing import Any

from docmill.records import Element

# MAPI string properties of an Outlook .msg: sender name and SMTP address, display To/Cc/Bcc, subject
_MSG_PROPS = {
    "from_name": "0C1A", "from_address": "0C1F", "to": "0E04", "cc": "0E03", "bcc": "0E02", "subject": "0037",
}  # fmt: skip
_EML_HEADERS = {
    "sent_from": "From", "sent_to": "To", "cc_recipient": "Cc", "bcc_recipient": "Bcc", "last_modified": "Date",
    "subject": "Subject",
}  # fmt: skip


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


def message_bytes(path: Path) -> bytes:
    """An .eml file's bytes as the e-mail parsers read them: a message saved as UTF-16 or UTF-32 (a BOM, or NUL
    bytes between ASCII letters) re-encoded as UTF-8, since a MIME parser takes it for one long body otherwise."""
    import codecs

    from docmill.parsers.encoding import decode_bytes, wide_encoding

    data = path.read_bytes()
    boms = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE, codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)
    if data.startswith(boms) or wide_encoding(data[:4096]):
        return decode_bytes(data)[0].encode("utf-8")
    return data


def _eml_fields(path: Path) -> dict[str, str]:
    from email.parser import BytesParser

    headers = BytesParser().parsebytes(message_bytes(path), headersonly=True)
    return {key: _decoded(headers.get_all(name, [])) for key, name in _EML_HEADERS.items()}


def _msg_sent(path: Path) -> str:
    from oxmsg import Message

    sent = Message.load(str(path)).sent_date
    return sent.isoformat() if sent else ""


def header_element(path: Path, ext: str, metadata: Any) -> Element | None:
    """`From: ...`, `To: ...`, `Cc: ...`, `Bcc: ...`, `Date: ...`, `Subject: ...` lines of an .eml or .msg file.

    The date is the message's own: unstructured falls back to the file's modification time, which is not text of
    the message.

    Args:
        path: the message file.
        ext: `.eml` or `.msg`.
        metadata: unstructured's metadata of the message's first element (sent_from, sent_to, subject ...), or
            None when it gave no element (a message whose only parts are attachments or forwarded messages):
            an .eml's header fields are then read with the standard library.
    """
    own = _eml_fields(path) if ext == ".eml" else {}
    fields = own if metadata is None else {}
    get = lambda key: fields.get(key) or _decoded(getattr(metadata, key, None))  # noqa: E731
    sender, to, cc, bcc, subject = (
        get(k) for k in ("sent_from", "sent_to", "cc_recipient", "bcc_recipient", "subject")
    )
    date = (get("last_modified") or own["last_modified"]) if own.get("last_modified") else ""  # else as written
    if ext == ".msg":
        fields = _msg_fields(path)
        name, address = fields.get("from_name", ""), fields.get("from_address", "")
        if address:
            sender = f"{name} <{address}>" if name and name != address else address
        to, cc, bcc = fields.get("to") or to, fields.get("cc") or cc, fields.get("bcc") or bcc
        subject = fields.get("subject") or subject
        date = _msg_sent(path)
    lines = [
        f"{label}: {value}"
        for label, value in (
            ("From", sender),
            ("To", to),
            ("Cc", cc),
            ("Bcc", bcc),
            ("Date", date),
            ("Subject", subject),
        )
        if value
    ]
    return Element("\n".join(lines), "text") if lines else None
