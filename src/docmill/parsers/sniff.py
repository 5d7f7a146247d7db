"""File type from content (magic bytes and text shape), not only the extension."""

from __future__ import annotations

import re
import zipfile
from collections.abc import Container
from pathlib import Path

from docmill.parsers.encoding import is_single_byte_text

_MAGIC = [
    (b"%PDF", ".pdf"),
    (b"\x89PNG\r\n\x1a\n", ".png"),
    (b"\xff\xd8\xff", ".jpg"),
    (b"II*\x00", ".tiff"),
    (b"MM\x00*", ".tiff"),
    (b"BM", ".bmp"),
    (b"GIF8", ".gif"),
    (b"\x1f\x8b", ".gz"),
    (b"7z\xbc\xaf\x27\x1c", ".7z"),
]
_OOXML = {"word/": ".docx", "ppt/": ".pptx", "xl/": ".xlsx"}
_ODF = "application/vnd.oasis.opendocument."
_ODF_KINDS = {
    "text": ".odt",
    "text-master": ".odt",
    "text-web": ".odt",
    "spreadsheet": ".ods",
    "presentation": ".odp",
    "graphics": ".odg",
    "chart": ".odc",
    "formula": ".odf",
    "image": ".odi",
    "database": ".odb",
}
_MAIL_HEADERS = (
    b"from:",
    b"mime-version:",
    b"content-type:",
    b"received:",
    b"return-path:",
    b"message-id:",
    b"date:",
    b"subject:",
    b"to:",
    b"delivered-to:",
)
ALIASES = {".jpeg": ".jpg", ".tif": ".tiff", ".htm": ".html", ".xhtml": ".html", ".jsonl": ".ndjson", ".yml": ".yaml"}


# ZIP-based document formats: a damaged container declared as one of these is that format, damaged (its
# parser says `corrupt_<type>`), not an archive to expand
_PACKAGES = {".odt", ".ods", ".odp", ".epub"}


def _zip_kind(path: Path, declared: str = ".zip") -> str:
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError, ValueError):  # ValueError: a damaged directory (e.g. undecodable names)
        return declared if declared in _PACKAGES else ".zip"
    for prefix, ext in _OOXML.items():
        if any(n.startswith(prefix) for n in names):
            return ext
    if "mimetype" in names or "META-INF/manifest.xml" in names:
        return _package_kind(path, names)
    return ".zip"


def _package_kind(path: Path, names: list[str]) -> str:
    """ODF and EPUB packages name their type in the `mimetype` member (ODF 1.2 Part 3, section 3.3)."""
    try:
        with zipfile.ZipFile(path) as archive:
            if "mimetype" in names:
                mimetype = archive.read("mimetype")[:200].decode("ascii", "replace").strip()
            else:  # the manifest's entry for the package root names the type too
                found = re.search(
                    rb'full-path="/"[^>]*?media-type="([^"]+)"|media-type="([^"]+)"[^>]*?full-path="/"',
                    archive.read("META-INF/manifest.xml"),
                )
                mimetype = (found.group(1) or found.group(2)).decode("ascii", "replace") if found else ""
    except (zipfile.BadZipFile, OSError, KeyError, RuntimeError):
        mimetype = ""
    if mimetype.startswith(_ODF):
        return _ODF_KINDS.get(mimetype[len(_ODF) :].removesuffix("-template"), ".zip")
    if mimetype == "application/epub+zip" or any(n.endswith(".opf") for n in names):
        return ".epub"
    return ".zip"


def _text_kind(head: bytes) -> str | None:
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if b"\x00" in head[:512]:
        return None
    if stripped[:1] in (b"{", b"["):
        return ".json"
    if stripped.startswith(b"<?xml"):
        return ".xml"
    if stripped.startswith((b"<!doctype html", b"<html")):
        return ".html"
    if stripped.startswith(_MAIL_HEADERS):
        return ".eml"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4 and not is_single_byte_text(head):  # not a character cut at the end
            return None  # of the sample, nor text in a legacy code page or EBCDIC
    return ".txt"


_XML_DIALECTS = [  # (markers, any of which in the head names the dialect), checked in order
    ((b"<rss", b'xmlns="http://www.w3.org/2005/atom"', b"http://purl.org/rss/"), ".rss"),
    ((b"-//nlm//dtd", b"jats", b"<article-meta"), ".nxml"),
    ((b"docbook",), ".dbk"),
    ((b"<fictionbook",), ".fb2"),
    ((b"<opml",), ".opml"),
    ((b"<html", b"http://www.w3.org/1999/xhtml"), ".html"),
]


def _dialect(declared: str, head: bytes) -> str:
    """An XML or JSON file's dialect (JATS, DocBook, RSS, a notebook ...) or a caption file, by content."""
    lowered = head.lower()
    if declared == ".xml":
        return next((ext for markers, ext in _XML_DIALECTS if any(m in lowered for m in markers)), declared)
    if declared == ".json" and b'"cells"' in head and b'"cell_type"' in head:
        return ".ipynb"
    if declared in (".txt", "") and head.lstrip(b"\xef\xbb\xbf").startswith(b"WEBVTT"):
        return ".vtt"
    return declared


def detect_type(path: Path, declared: str, parsable: Container[str]) -> str:
    """The extension to parse with.

    Magic bytes win for PDF and ZIP containers; for a file whose extension has no parser (or none at all),
    images, containers and text shapes (JSON, XML, HTML, e-mail, plain text) are recognised by content.
    """
    declared = ALIASES.get(declared, declared)
    with path.open("rb") as handle:
        head = handle.read(4096)
    if head.startswith(b"%PDF") or declared == ".pdf":
        return ".pdf"  # a .pdf without the magic is parsed as PDF so that it fails as corrupt_pdf
    if head.startswith(b"PK\x03\x04") and declared not in _OOXML.values():
        return _zip_kind(path, declared)
    if head.startswith(b"{\\rtf"):
        return ".rtf"
    if declared in parsable:
        return _dialect(declared, head)
    for magic, ext in _MAGIC:
        if head.startswith(magic):
            return ext
    if head[4:12] in (b"ftypheic", b"ftypheix", b"ftypmif1", b"ftyphevc"):
        return ".heic"
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        return declared or ".ole"
    kind = _text_kind(head)
    return _dialect(kind, head) if kind else declared
