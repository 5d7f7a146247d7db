"""Office, HTML and e-mail parsing through unstructured's partitioners (offline: see scripts/install.sh)."""

from __future__ import annotations

import atexit
import functools
import shutil
import subprocess
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from docmill.parsers import OPTIONS, Parsed, ParseError
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
_ZIP_FORMATS = {".docx", ".pptx", ".xlsx"}


def _partition(path: Path, ext: str) -> list[Any]:
    if ext == ".docx":
        from unstructured.partition.docx import partition_docx

        return partition_docx(filename=str(path))
    if ext == ".pptx":
        from unstructured.partition.pptx import partition_pptx

        return partition_pptx(filename=str(path), include_slide_notes=True)
    if ext == ".xlsx":
        from unstructured.partition.xlsx import partition_xlsx

        return partition_xlsx(filename=str(path))
    if ext == ".html":
        from unstructured.partition.html import partition_html

        from docmill.parsers.html import prepared_html  # alt text, figures, deep nesting: see its docstring

        return partition_html(text=prepared_html(path))
    if ext == ".eml":
        from unstructured.partition.email import partition_email

        return partition_email(filename=str(path), process_attachments=False)  # attachments: own documents
    if ext == ".msg":
        from unstructured.partition.msg import partition_msg

        return partition_msg(filename=str(path), process_attachments=False)
    raise ParseError(f"unsupported_type:{ext}", "no unstructured partitioner configured")


def check_office_container(path: Path, ext: str) -> None:
    """OOXML files: an OLE container means password protection; anything else but a ZIP is corrupt."""
    if ext not in _ZIP_FORMATS:
        return
    with path.open("rb") as handle:
        head = handle.read(8)
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        raise ParseError("encrypted", f"{ext} is an OLE container: password-protected Office file")
    if not zipfile.is_zipfile(path):
        raise ParseError("corrupt_office", f"{ext} is not a valid ZIP container")


_ENCRYPTED_MAIL = (
    "multipart/encrypted",
    "application/pkcs7-mime",
    "application/x-pkcs7-mime",
    "application/pgp-encrypted",
)


def _check_mail_encryption(path: Path, ext: str) -> None:
    """PGP/MIME or S/MIME encrypted messages have no readable body: `encrypted`, not `empty`."""
    if ext == ".eml":
        from email.parser import BytesHeaderParser

        with path.open("rb") as handle:
            kind = BytesHeaderParser().parse(handle).get_content_type()
        types = [kind]
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
    text = (raw.metadata.text_as_html if kind == "table" and raw.metadata.text_as_html else str(raw)).strip()
    if not kind or not text:
        return None
    return Element(text, kind, page=raw.metadata.page_number)


def parse_with_unstructured(path: Path, ext: str = "") -> Parsed:
    """Partition a DOCX/PPTX/XLSX/HTML/EML/MSG file (e-mail attachments are documents of their own, see
    `docmill.containers`).

    Raises:
        ParseError: `encrypted`, `corrupt_office`, `parse_failed:<Type>` or `empty`.
    """
    import unstructured

    ext = ext or path.suffix.lower()
    check_office_container(path, ext)
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
        raise ParseError(code, str(exc)[:500]) from exc
    elements = []
    sheets: list[str] = []
    for raw in raw_elements:
        sheet = getattr(raw.metadata, "page_name", None) if ext == ".xlsx" else None
        if sheet and (not sheets or sheets[-1] != sheet):  # a sheet's name heads its tables
            sheets.append(sheet)
            elements.append(Element(f"Sheet: {sheet}", "title", page=raw.metadata.page_number))
        element = _element(raw)
        if element is not None:
            elements.append(element)
    if not any(e.kind != "title" or not e.text.startswith("Sheet: ") for e in elements):
        raise ParseError("empty", "the partitioner found no text")
    if ext in (".eml", ".msg"):
        from docmill.parsers.mail import header_element  # From/To/Date/Subject lead the text

        header = header_element(path, ext, raw_elements[0].metadata)
        elements[:0] = [header] if header else []
    metadata: dict[str, Any] = {}
    first = raw_elements[0].metadata
    for key in ("last_modified", "sent_from", "sent_to", "subject", "languages"):
        value = getattr(first, key, None)
        if value:
            metadata[key] = value
    if sheets:
        metadata["sheets"] = sheets
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


def parse_legacy_office(path: Path, ext: str) -> Parsed:
    """DOC/PPT/XLS: convert with LibreOffice to the OOXML format, then partition."""
    target = {".doc": "docx", ".ppt": "pptx", ".xls": "xlsx"}[ext]
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
            detail = (proc.stderr or proc.stdout).decode(errors="replace").strip()[:300]
            raise ParseError("corrupt_office", f"LibreOffice could not convert the {ext} file: {detail}")
        parsed = parse_with_unstructured(converted, f".{target}")
    parsed.parser += "+soffice"
    return parsed
