"""HTML and e-mail parsing through unstructured's partitioners (offline: see scripts/install.sh), the
OOXML container check shared by the DOCX/PPTX/XLSX parsers, and DOC/PPT through LibreOffice."""

from __future__ import annotations

import atexit
import contextlib
import functools
import io
import shutil
import subprocess
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from docmill.parsers import OPTIONS, Parsed, ParseError, describe, ooxml, scrub
from docmill.parsers.tables import html_table_markdown
from docmill.records import Element

_KINDS = {
    "Title": "title",
    "Header": "header",
    "Footer": "footer",
    "ListItem": "list_item",
    "Table": "table",
    "PageBreak": "",
    "Image": "",
}


def _partition(path: Path, ext: str) -> list[Any]:
    if ext == ".html":
        from unstructured.partition.html import partition_html

        from docmill.parsers.html import prepared_html  # alt text, figures, deep nesting: see its docstring

        return partition_html(text=prepared_html(path))
    if ext == ".eml":
        from unstructured.partition.email import partition_email

        from docmill.parsers.mail import message_bytes  # UTF-16/32 files as UTF-8

        # attachments: documents of their own; the message's date from its header only (not the file's time)
        return partition_email(file=io.BytesIO(message_bytes(path)), process_attachments=False)
    if ext == ".msg":
        from unstructured.partition.msg import partition_msg

        return partition_msg(filename=str(path), process_attachments=False)
    raise ParseError(f"unsupported_type:{ext}", "no unstructured partitioner configured")


_ENCRYPTED_MAIL = (
    "multipart/encrypted",
    "application/pkcs7-mime",
    "application/x-pkcs7-mime",
    "application/pgp-encrypted",
)


def _check_mail_encryption(path: Path, ext: str) -> None:
    """PGP/MIME or S/MIME encrypted messages have no readable body: `encrypted`, not `empty`."""
    if ext == ".eml":
        from email.parser import BytesParser

        from docmill.parsers.mail import message_bytes

        types = [BytesParser().parsebytes(message_bytes(path), headersonly=True).get_content_type()]
    elif ext == ".msg":
        import olefile

        with olefile.OleFileIO(str(path)) as ole:
            streams = ["/".join(e) for e in ole.listdir()]
            types = [
                ole.openstream(s).read().decode("utf-16-le", "ignore").lower()
                for s in streams
                if s.endswith(("__substg1.0_370E001F", "__substg1.0_001A001F"))
            ]
    else:
        return
    if any(t.startswith(_ENCRYPTED_MAIL) or ".smime" in t for t in types):
        raise ParseError("encrypted", f"encrypted e-mail ({', '.join(t for t in types if t)})")


def _element(raw: Any) -> Element | None:
    kind = _KINDS.get(raw.category, "text")
    html = raw.metadata.text_as_html if kind == "table" else None
    text = (html_table_markdown(html) if html else "") or str(raw).strip()
    if not kind or not text:
        return None
    depth = getattr(raw.metadata, "category_depth", None) if kind == "title" else None  # h1 = 0
    level = depth + 1 if isinstance(depth, int) else None
    return Element(text, kind, page=raw.metadata.page_number, html=html or None, level=level)


def parse_with_unstructured(path: Path, ext: str = "") -> Parsed:
    """Partition an HTML/EML/MSG file; tables come out as Markdown (e-mail attachments are documents of their own, see
    `docmill.run.containers`).

    Raises:
        ParseError: `encrypted`, `corrupt_office`, `parse_failed:<Type>` or `empty`.
    """
    import unstructured

    ext = ext or path.suffix.lower()
    ooxml.check_container(path, ext)
    try:
        _check_mail_encryption(path, ext)
        raw_elements = _partition(path, ext)
    except ParseError:
        raise
    except Exception as exc:
        code = (
            "corrupt_office"
            if isinstance(exc, (zipfile.BadZipFile, KeyError))
            else f"parse_failed:{type(exc).__name__}"
        )
        raise ParseError(code, describe(exc)) from exc
    elements = [e for e in (_element(raw) for raw in raw_elements) if e is not None]
    first = raw_elements[0].metadata if raw_elements else None
    if ext in (".eml", ".msg"):
        from docmill.parsers.mail import header_element  # From/To/Date/Subject lead the text

        # a message whose parts are all attachments or forwarded messages (a digest) is its header: those parts
        # are documents of their own
        header = header_element(path, ext, first if elements else None)
        elements[:0] = [header] if header else []
    if not elements:
        raise ParseError("empty", "the partitioner found no text")
    metadata: dict[str, Any] = {}
    for key in ("last_modified", "sent_from", "sent_to", "subject", "languages"):
        value = getattr(first, key, None)
        if value:
            metadata[key] = value
    if ext == ".eml" and "last_modified" not in metadata:  # no Date header: the file's time, as unstructured gave
        from unstructured.partition.common.metadata import get_last_modified_date

        metadata["last_modified"] = get_last_modified_date(str(path))
    pages = {e.page for e in elements if e.page}
    if pages:
        metadata["pages"] = max(pages)
    return Parsed(elements, metadata, f"unstructured-{unstructured.__version__.__version__}")


@functools.cache
def _soffice_profile() -> str:
    """A LibreOffice user profile per process: concurrent soffice runs sharing one profile block each other."""
    profile = tempfile.mkdtemp(prefix="docmill-soffice-profile-")
    atexit.register(shutil.rmtree, profile, ignore_errors=True)
    return Path(profile).as_uri()


@contextlib.contextmanager
def soffice_converted(path: Path, ext: str, target: str) -> Iterator[Path]:
    """The file converted by headless LibreOffice to `target` (an extension without the dot), in a temporary
    folder that lives as long as the context.

    Raises:
        ParseError: `corrupt_office` when LibreOffice cannot convert it.
    """
    with tempfile.TemporaryDirectory(prefix="docmill-soffice-") as out:
        command = ["soffice", f"-env:UserInstallation={_soffice_profile()}", "--headless", "--norestore"]
        source = Path(out) / f"source{ext}"  # a name soffice cannot misread (leading dashes, odd characters)
        shutil.copyfile(path, source)
        proc = subprocess.run(
            [*command, "--convert-to", target, "--outdir", out, str(source)],
            capture_output=True,
            timeout=float(OPTIONS.get("timeout_s", 300)),
            check=False,
        )
        converted = Path(out) / f"source.{target}"
        if proc.returncode != 0 or not converted.exists():
            detail = scrub((proc.stderr or proc.stdout).decode(errors="replace"))
            raise ParseError("corrupt_office", f"LibreOffice could not convert the {ext} file: {detail}")
        yield converted


def parse_legacy_office(path: Path, ext: str) -> Parsed:
    """DOC/PPT: convert with LibreOffice to the OOXML format, then parse that (XLS is read by xlrd)."""
    with soffice_converted(path, ext, {".doc": "docx", ".ppt": "pptx"}[ext]) as converted:
        if ext == ".doc":
            from docmill.parsers.word import parse_docx

            parsed = parse_docx(converted)
        else:
            from docmill.parsers.slides import parse_pptx

            parsed = parse_pptx(converted)
    parsed.parser += "+soffice"
    return parsed
