"""Clean: repair mojibake, normalise Unicode and whitespace, join hyphenated words, drop exact duplicates."""

from __future__ import annotations

import re
import time
import unicodedata
from collections.abc import Callable

import ftfy

from docmill.records import Document, Element, Reject, StageResult, sha256_hex
from docmill.settings import CleanConfig

_HYPHEN_BREAK = re.compile(r"(\w)-\n(?=[a-z])")
_SPACES = re.compile(r"[ \t\f\v\u00a0]+")
_BLANK_LINES = re.compile(r"\n{3,}")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")
SEPARATOR = "\n\n"


def clean_text(text: str, config: CleanConfig) -> str:
    """Repair and normalise one piece of text."""
    text = ftfy.fix_text(text)
    text = unicodedata.normalize(config.unicode_form, text)
    text = _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    if config.fix_hyphenation:
        text = _HYPHEN_BREAK.sub(r"\1", text)
    lines = [_SPACES.sub(" ", line).strip() for line in text.split("\n")]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def text_fingerprint(text: str) -> str:
    """Hash of the text ignoring case and whitespace: equal for exact duplicates."""
    return sha256_hex(" ".join(text.casefold().split()))


def clean_document(doc: Document, config: CleanConfig) -> Document:
    """Clean every element and assemble the document text; element offsets point into `doc.text`."""
    elements: list[Element] = []
    position = 0
    for element in doc.elements:
        text = clean_text(element.text, config)
        if not text:
            continue
        if elements:
            position += len(SEPARATOR)
        elements.append(
            Element(text, element.kind, element.page, position, position + len(text), element.top, element.bottom)
        )
        position += len(text)
    doc.elements = elements
    doc.text = SEPARATOR.join(e.text for e in elements)
    doc.text_hash = text_fingerprint(doc.text)
    return doc


def clean(docs: list[Document], config: CleanConfig, canonical: Callable[[str], str | None]) -> StageResult[Document]:
    """Clean a batch of documents.

    Args:
        docs: extracted documents.
        config: clean settings.
        canonical: text fingerprint -> doc_id of an earlier document with the same text, if any.

    Returns:
        Cleaned documents; `too_short` and `duplicate` rejects.
    """
    started = time.perf_counter()
    result: StageResult[Document] = StageResult(records=[])
    seen: dict[str, str] = {}
    for doc in docs:
        clean_document(doc, config)
        visible = sum(not ch.isspace() for ch in doc.text)
        if visible < config.min_chars:
            result.rejects.append(_reject(doc, "too_short", f"{visible} non-space characters < {config.min_chars}"))
            continue
        first = seen.get(doc.text_hash) or canonical(doc.text_hash)
        if config.drop_exact_duplicates and first and first != doc.doc_id:
            result.rejects.append(_reject(doc, "duplicate", f"same text as document {first}"))
            continue
        seen[doc.text_hash] = doc.doc_id
        result.records.append(doc)
    return result.finish(len(docs), started)


def _reject(doc: Document, reason: str, message: str) -> Reject:
    return Reject("clean", reason, message, doc_id=doc.doc_id, source_uri=doc.source_uri)
