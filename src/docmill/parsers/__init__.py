"""Parsers: adapters from file bytes to a list of structural elements plus document metadata.

Every parser raises `ParseError(reason, message)` for a document-level failure; anything else that escapes
is reported by the worker pool as `step_failed:parse:<ExceptionType>`.
"""

from __future__ import annotations

import errno
import importlib
import shutil
import subprocess
import sysconfig
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from docmill.isolation.errors import ParseError as ParseError
from docmill.isolation.errors import describe as describe
from docmill.isolation.errors import scrub as scrub
from docmill.records import Element

# Per-process parser options (OCR languages, ...), set by the worker pool from the extract settings.
OPTIONS: dict[str, Any] = {}


@dataclass(slots=True)
class Parsed:
    """What a parser returns."""

    elements: list[Element]
    metadata: dict[str, Any] = field(default_factory=dict)
    parser: str = ""


def _legacy_office(path: Path, ext: str) -> Parsed:
    if shutil.which("soffice") is None:
        raise ParseError("missing_dependency:soffice", f"{ext} needs LibreOffice (soffice) to convert")
    from docmill.parsers.office import parse_legacy_office

    return parse_legacy_office(path, ext)


# extension -> "module:function"; modules are imported on first use (unstructured and pymupdf are heavy).
PARSERS: dict[str, str] = {
    ".pdf": "pdf:parse_pdf",
    ".txt": "text:parse_text",
    ".text": "text:parse_text",
    ".log": "text:parse_text",
    ".md": "text:parse_markdown",
    ".markdown": "text:parse_markdown",
    ".csv": "text:parse_delimited",
    ".tsv": "text:parse_delimited",
    ".json": "structured:parse_json",
    ".ndjson": "structured:parse_ndjson",
    ".yaml": "structured:parse_yaml",
    ".xml": "structured:parse_xml",
    ".rst": "structured:parse_markup",
    ".org": "structured:parse_markup",
    ".docx": "word:parse_docx",
    ".pptx": "slides:parse_pptx",
    ".xlsx": "sheets:parse_xlsx",
    ".html": "office:parse_with_unstructured",
    ".eml": "office:parse_with_unstructured",
    ".msg": "office:parse_with_unstructured",
    ".rtf": "convert:parse_with_pandoc",
    ".odt": "convert:parse_with_pandoc",
    ".ods": "odf:parse_ods",
    ".odp": "odf:parse_odp",
    ".epub": "markup:parse_markup",
    ".tex": "markup:parse_markup",
    ".latex": "markup:parse_markup",
    ".nxml": "markup:parse_markup",
    ".jats": "markup:parse_markup",
    ".dbk": "markup:parse_markup",
    ".docbook": "markup:parse_markup",
    ".fb2": "markup:parse_markup",
    ".opml": "markup:parse_markup",
    ".adoc": "markup:parse_markup",
    ".asciidoc": "markup:parse_markup",
    ".wiki": "markup:parse_markup",
    ".mediawiki": "markup:parse_markup",
    ".textile": "markup:parse_markup",
    ".typ": "markup:parse_markup",
    ".ipynb": "notebook:parse_notebook",
    ".vtt": "captions:parse_captions",
    ".srt": "captions:parse_captions",
    ".rss": "feed:parse_feed",
    ".atom": "feed:parse_feed",
    ".png": "ocr:parse_image",
    ".jpg": "ocr:parse_image",
    ".tiff": "ocr:parse_image",
    ".bmp": "ocr:parse_image",
    ".gif": "ocr:parse_image",
    ".webp": "ocr:parse_image",
    ".heic": "ocr:parse_image",
    ".doc": "",
    ".ppt": "",
    ".xls": "sheets:parse_xls",
}


def _parser(ext: str) -> Callable[[Path, str], Parsed] | None:
    target = PARSERS.get(ext)
    if target is None:
        return None
    if not target:
        return _legacy_office
    module, function = target.split(":")
    return getattr(importlib.import_module(f"docmill.parsers.{module}"), function)  # type: ignore[no-any-return]


def parse_file(path: Path, extension: str) -> Parsed:
    """Parse one file with the parser for its (sniffed) type.

    Raises:
        ParseError: for empty, unsupported, corrupt or encrypted files.
    """
    if path.stat().st_size == 0:
        raise ParseError("empty", "file has 0 bytes")
    from docmill.parsers.sniff import detect_type

    ext = detect_type(path, extension.lower(), PARSERS)
    parser = _parser(ext)
    if parser is None:
        raise ParseError(f"unsupported_type:{ext or '(none)'}", f"no parser for {ext or 'files without extension'}")
    try:
        return parser(path, ext)
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:  # a damaged ZIP container or compressed stream
        raise ParseError(_corrupt(ext), f"{type(exc).__name__}: {exc}"[:300]) from exc
    except UnicodeDecodeError as exc:
        if ext not in _BINARY_CONTAINERS:  # text formats decode leniently: this one is docmill's own bug
            raise
        raise ParseError(_corrupt(ext), f"undecodable member name or entry: {exc.reason}") from exc
    except RecursionError as exc:  # nesting deeper than the reader's recursion (JSON, YAML, XML structures)
        raise ParseError("nested_too_deep", f"{describe(exc)} (structure nested beyond the reader's limit)") from exc
    except subprocess.TimeoutExpired as exc:  # a converter (pandoc, LibreOffice) ran past its limit
        program = exc.cmd[0] if isinstance(exc.cmd, list | tuple) else str(exc.cmd).split(" ")[0]
        raise ParseError("timeout", f"{Path(str(program)).name} took longer than {exc.timeout:.0f} s") from exc
    except OSError as exc:
        if exc.errno != errno.EINVAL:  # a seek to a damaged offset; anything else is for the step runner
            raise
        raise ParseError(_corrupt(ext), f"{type(exc).__name__}: {exc}"[:300]) from exc
    except MemoryError:
        raise
    except Exception as exc:
        if not _raised_by_a_library(exc):
            raise  # docmill's own code failed: the step runner's `step_failed:parse:<Exception>` (a bug to report)
        raise ParseError(f"parse_failed:{type(exc).__name__}", describe(exc)) from exc


_OWN_CODE = Path(__file__).resolve().parents[1]  # src/docmill
_STDLIB = {Path(sysconfig.get_paths()[key]).resolve() for key in ("stdlib", "platstdlib")}


def _raised_by_a_library(exc: BaseException) -> bool:
    """True when the exception was raised inside a third-party library (xlrd, pymupdf, lxml...) reading the file,
    which `parse_failed:<Exception>` says. The standard library's frames are looked through: `json.loads(None)`
    or a wrong `strptime` format is docmill's own bug, decided by the frame that called into the standard library
    (a damaged ZIP or stream from the standard library has its own handlers in `parse_file`)."""
    frames = []
    tb = exc.__traceback__
    while tb is not None:
        frames.append(Path(tb.tb_frame.f_code.co_filename))
        tb = tb.tb_next
    for filename in reversed(frames):
        if _in_stdlib(filename):
            continue
        return not filename.resolve().is_relative_to(_OWN_CODE)
    return False


def _in_stdlib(filename: Path) -> bool:
    if not filename.is_absolute():  # frozen modules (`<frozen ...>`) are the standard library's
        return str(filename).startswith("<frozen")
    resolved = filename.resolve()
    third_party = {"site-packages", "dist-packages"} & set(resolved.parts)
    return not third_party and any(resolved.is_relative_to(root) for root in _STDLIB)


_BINARY_CONTAINERS = {".docx", ".pptx", ".xlsx", ".odt", ".ods", ".odp", ".epub", ".doc", ".xls", ".ppt", ".msg"}


def _corrupt(ext: str) -> str:
    """The reason for a file whose container is damaged: `corrupt_office` for Office and OpenDocument files."""
    office = {".docx", ".pptx", ".xlsx", ".odt", ".ods", ".odp", ".doc", ".xls", ".ppt"}
    return "corrupt_office" if ext in office else f"corrupt_{ext.lstrip('.') or 'file'}"
