"""OOXML packages: Strict (ISO/IEC 29500 Strict, `http://purl.oclc.org/ooxml/...` namespaces) read as
Transitional, which is what python-docx, python-pptx and openpyxl understand.

The two conformance classes name the same elements in different namespaces (ECMA-376 Part 1, Annex A);
a Strict package is rewritten member by member in memory with the Transitional names. Transitional files
are returned untouched, after reading only `_rels/.rels`.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

from docmill.isolation.errors import ParseError

_STRICT = b"http://purl.oclc.org/ooxml/"
_TRANSITIONAL = [
    (
        b"http://purl.oclc.org/ooxml/officeDocument/relationships",
        b"http://schemas.openxmlformats.org/officeDocument/2006/relationships",
    ),
    (b"http://purl.oclc.org/ooxml/officeDocument/", b"http://schemas.openxmlformats.org/officeDocument/2006/"),
    (
        b"http://purl.oclc.org/ooxml/wordprocessingml/main",
        b"http://schemas.openxmlformats.org/wordprocessingml/2006/main",
    ),
    (b"http://purl.oclc.org/ooxml/spreadsheetml/main", b"http://schemas.openxmlformats.org/spreadsheetml/2006/main"),
    (b"http://purl.oclc.org/ooxml/presentationml/main", b"http://schemas.openxmlformats.org/presentationml/2006/main"),
    (b"http://purl.oclc.org/ooxml/drawingml/", b"http://schemas.openxmlformats.org/drawingml/2006/"),
    (b"http://purl.oclc.org/ooxml/schemaLibrary/main", b"http://schemas.openxmlformats.org/schemaLibrary/2006/main"),
]
# Strict relationship types of parts whose Transitional type is not the plain namespace swap.
_RELATIONSHIP_TYPES = [
    (
        b"http://schemas.openxmlformats.org/officeDocument/2006/relationships/metadata/core-properties",
        b"http://schemas.openxmlformats.org/package/2006/relationships/metadata/core-properties",
    ),
]


def is_strict(path: Path) -> bool:
    """Whether the package's root relationships use the Strict namespaces."""
    with zipfile.ZipFile(path) as archive:
        try:
            return _STRICT in archive.read("_rels/.rels")
        except KeyError:
            return False


def _transitional(data: bytes) -> bytes:
    for strict, transitional in _TRANSITIONAL:
        data = data.replace(strict, transitional)
    for strict, transitional in _RELATIONSHIP_TYPES:
        data = data.replace(strict, transitional)
    return data


def open_package(path: Path) -> Path | io.BytesIO:
    """The package to hand to python-docx / python-pptx / openpyxl: the file itself, or for a Strict package
    an in-memory Transitional copy."""
    if not is_strict(path):
        return path
    out = io.BytesIO()
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for member in source.infolist():
            data = source.read(member)
            if member.filename.endswith((".xml", ".rels", ".vml")):
                data = _transitional(data)
            target.writestr(member, data)
    out.seek(0)
    return out


ZIP_FORMATS = {".docx", ".pptx", ".xlsx"}


def check_container(path: Path, ext: str) -> None:
    """OOXML files: an OLE container means password protection; anything else but a ZIP is corrupt."""
    if ext not in ZIP_FORMATS:
        return
    with path.open("rb") as handle:
        head = handle.read(8)
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        raise ParseError("encrypted", f"{ext} is an OLE container: password-protected Office file")
    if not zipfile.is_zipfile(path):
        raise ParseError("corrupt_office", f"{ext} is not a valid ZIP container")
