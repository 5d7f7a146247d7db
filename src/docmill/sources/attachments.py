"""E-mail attachments (EML, MSG) written out as child files, so each becomes a document of its own."""

from __future__ import annotations

import email
import email.policy
from pathlib import Path
from typing import Any

from docmill.sources.archives import DONE, safe_member


def _attachments(path: Path, ext: str) -> list[tuple[str, bytes]]:
    if ext == ".msg":
        from oxmsg import Message

        return [
            (a.file_name or f"attachment-{i}", a.file_bytes or b"")
            for i, a in enumerate(Message.load(str(path)).attachments, 1)
        ]
    with path.open("rb") as handle:
        message = email.message_from_binary_file(handle, policy=email.policy.default)
    found = []
    for i, part in enumerate(message.iter_attachments(), 1):  # type: ignore[attr-defined]
        payload: Any = part.get_payload(decode=True)
        if payload is None and part.get_content_type() == "message/rfc822":
            inner: Any = part.get_payload(0)
            payload = inner.as_bytes()  # a forwarded message: keep it as an .eml
        found.append((part.get_filename() or f"attachment-{i}.eml", bytes(payload or b"")))
    return found


def extract_attachments(path: Path, ext: str, target: Path) -> list[str]:
    """Write the attachments of an e-mail into `target` (once); returns their relative names."""
    if (target / DONE).exists():
        return sorted(p.name for p in target.iterdir() if p.is_file() and p.name != DONE)
    target.mkdir(parents=True, exist_ok=True)
    names: list[str] = []
    for name, data in _attachments(path, ext):
        safe = (safe_member(Path(name.replace("\\", "/")).name) or "attachment").lstrip(".") or "attachment"
        while safe in names:
            safe = f"_{safe}"
        (target / safe).write_bytes(data)
        names.append(safe)
    (target / DONE).write_text("")
    return sorted(names)
