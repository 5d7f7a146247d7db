"""Clean: repair and normalise text, strip boilerplate, redact PII, judge quality, drop duplicates.

Per document, in order: mojibake repair, Unicode and whitespace normalisation, hyphenation; repeated page
headers/footers and page numbers; e-mail quotes and signatures; pages whose quality signals fail (dropped,
recorded as a part reject); PII redaction; then the document-level verdicts `too_short`,
`quality.<signal>`, `language_not_allowed`, `duplicate` (same normalised text) and `near_duplicate`
(MinHash LSH over everything already in the dataset).

Two steps: `prepare` (everything up to the duplicate checks; needs no catalog, so the pipeline runs it ahead of
earlier batches) and `deduplicate` (reads and grows the catalog's indexes, so it runs at the batch's turn);
`merged` makes their two results the stage's one (`docmill.run.plan`).

Size: the stage's steps in the order they run; boilerplate, quality signals, PII and near-duplicates
live in `docmill.text`.
"""

from __future__ import annotations

import re
import time
import unicodedata
from collections import Counter
from collections.abc import Callable
from functools import partial
from typing import Any, Protocol

import ftfy
import numpy as np

from docmill.config.settings import CleanConfig
from docmill.isolation import steps
from docmill.records import Document, Element, Reject, StageResult, sha256_hex
from docmill.text import quality
from docmill.text.boilerplate import EMAIL_TYPES, FIXED_LAYOUT_TYPES, split_email, strip_headers_footers
from docmill.text.controls import CONTROL_CHARS

_HYPHEN_BREAK = re.compile(r"(\w)-\n(?=[a-z])")
_SPACES = re.compile(r"[ \t\f\v\u00a0]+")
_BLANK_LINES = re.compile(r"\n{3,}")
# Characters that separate text rather than decorate it: a vertical tab is PowerPoint's line break, a form feed
# a page break, U+001C-U+001F the ASCII file/group/record/unit separators, U+2028/U+2029 Unicode's line and
# paragraph separators. They become whitespace before ftfy (which deletes some of them and would glue words).
_SEPARATORS = str.maketrans(
    {"\v": "\n", "\f": "\n", "\x1c": "\n", "\x1d": "\n", "\x1e": "\n", "\x1f": " ", "\u2028": "\n", "\u2029": "\n\n"}
)
SEPARATOR = "\n\n"
# document metadata that may carry personal data (e-mail headers, properties) and is redacted like text
PII_METADATA = ("title", "subject", "author", "sent_from", "sent_to", "cc_recipient", "bcc_recipient")


class Redactor(Protocol):
    """PII redaction (see `docmill.text.pii.Redactor`)."""

    def apply(self, text: str) -> tuple[str, Counter[str]]: ...


class NearDuplicates(Protocol):
    """A persistent MinHash LSH index (see `docmill.state.catalog.neardup.NearDupIndex`)."""

    def signature(self, text: str) -> np.ndarray: ...

    def query(self, signature: np.ndarray) -> list[tuple[str, float]]: ...

    def add(self, doc_id: str, signature: np.ndarray) -> None: ...


def clean_text(text: str, config: CleanConfig) -> str:
    """Repair and normalise one piece of text."""
    text = ftfy.fix_text(text.translate(_SEPARATORS))
    text = unicodedata.normalize(config.unicode_form, text)
    text = CONTROL_CHARS.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    if config.fix_hyphenation:
        text = _HYPHEN_BREAK.sub(r"\1", text)
    lines = [_SPACES.sub(" ", line).strip() for line in text.split("\n")]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def text_fingerprint(text: str) -> str:
    """Hash of the text ignoring case and whitespace: equal for exact duplicates."""
    return sha256_hex(" ".join(text.casefold().split()))


def _prose_and_tables(elements: list[Element]) -> tuple[str, str]:
    prose = "\n".join(e.text for e in elements if e.kind != "table")
    return prose, "\n".join(e.text for e in elements if e.kind == "table")


def _bad_pages(doc: Document, config: CleanConfig) -> list[Reject]:
    """Drop pages of a multi-page document whose text fails the local quality checks (OCR garbage); each one
    is a part reject (`part="page N"`): the document goes on without it."""
    pages: dict[int, list[Element]] = {}
    for element in doc.elements:
        if element.page is not None:
            pages.setdefault(element.page, []).append(element)
    if not config.quality.enabled or len(pages) < 2:
        return []
    rejects, dropped = [], set()
    for page, elements in pages.items():
        prose, tables = _prose_and_tables(elements)
        values = quality.signals(prose, document=False, tables=tables)
        failed = quality.failures(values, config.quality, document=False)
        if failed:
            dropped.add(page)
            message = f"page {page} dropped: " + "; ".join(map(str, failed))
            rejects.append(Reject("clean", failed[0].reason, message, doc.doc_id, doc.source_uri, part=f"page {page}"))
    doc.elements = [e for e in doc.elements if e.page not in dropped]
    return rejects


def _redact(doc: Document, redactor: Redactor) -> None:
    found: Counter[str] = Counter()
    for element in doc.elements:
        element.text, counts = redactor.apply(element.text)
        found.update(counts)
    for key in PII_METADATA:
        value = doc.metadata.get(key)
        if isinstance(value, str):
            doc.metadata[key], counts = redactor.apply(value)
            found.update(counts)
        elif isinstance(value, list):
            redacted = [redactor.apply(str(v)) for v in value]
            doc.metadata[key] = [text for text, _ in redacted]
            for _, counts in redacted:
                found.update(counts)
    doc.metadata["pii_counts"] = dict(sorted(found.items()))


def clean_document(
    doc: Document, config: CleanConfig, redactor: Redactor | None = None, dropped: list[Reject] | None = None
) -> Document:
    """Clean one document in place and assemble its text (element offsets point into `doc.text`).

    Pages failing the quality checks are removed and, when `dropped` is given, appended to it as rejects."""
    elements = []
    for element in doc.elements:
        element.text = clean_text(element.text, config)
        if element.text:
            elements.append(element)
    stats: dict[str, Any] = {}
    if config.strip_headers_footers:
        fixed = doc.file_type.lower().lstrip(".") in FIXED_LAYOUT_TYPES
        elements, stats["header_footer_lines"] = strip_headers_footers(elements, config, fixed)
    if doc.file_type in EMAIL_TYPES:
        elements, parts = split_email(elements, config)
        stats["email_parts"] = dict(parts)
    doc.elements = elements
    rejects = _bad_pages(doc, config)
    if dropped is not None:
        dropped.extend(rejects)
    if redactor is not None:
        _redact(doc, redactor)
    position = 0
    for element in doc.elements:
        element.char_start, element.char_end = position, position + len(element.text)
        position = element.char_end + len(SEPARATOR)
    doc.text = SEPARATOR.join(e.text for e in doc.elements)
    doc.text_hash = text_fingerprint(doc.text)
    stats["pages_dropped"] = [r.part for r in rejects]
    doc.metadata["clean"] = {k: v for k, v in stats.items() if v}
    return doc


def _verdict(doc: Document, config: CleanConfig, language: Callable[[str], str] | None) -> Reject | None:
    visible = sum(not ch.isspace() for ch in doc.text)
    if visible < config.min_chars:
        return _reject(doc, "too_short", f"{visible} non-space characters < {config.min_chars}")
    if config.quality.enabled:
        prose, tables = _prose_and_tables(doc.elements)
        doc.metadata["quality"] = values = quality.signals(prose, tables=tables)
        failed = quality.failures(values, config.quality)
        if failed:
            return _reject(doc, failed[0].reason, "; ".join(map(str, failed)))
    if language is not None:
        doc.metadata["language"] = code = language(doc.text[:5000])
        allowed = config.quality.allowed_languages
        if allowed and code not in allowed:
            return _reject(doc, "language_not_allowed", f"language {code} not in {', '.join(allowed)}")
    return None


def _near_duplicate(doc: Document, config: CleanConfig, near: NearDuplicates) -> Reject | None:
    signature = near.signature(doc.text)
    match = next(((d, s) for d, s in near.query(signature) if d != doc.doc_id), None)
    if match and config.dedup.policy == "skip":
        message = f"estimated Jaccard {match[1]:.2f} with document {match[0]}"
        return _reject(doc, "near_duplicate", message, duplicate_of=match[0])
    if match:
        doc.metadata["near_duplicate_of"] = match[0]
    near.add(doc.doc_id, signature)
    return None


def prepare(
    docs: list[Document],
    config: CleanConfig,
    redactor: Redactor | None = None,
    language: Callable[[str], str] | None = None,
) -> StageResult[Document]:
    """The part of cleaning that needs no catalog: repair, normalise, strip boilerplate, redact PII, judge
    length, quality and language. It may run ahead of the batches before it (see `deduplicate`).

    Returns:
        Cleaned documents in their order; document rejects (`too_short`, `quality.*`, `language_not_allowed`)
        and part rejects (dropped pages).
    """
    started = time.perf_counter()
    result: StageResult[Document] = StageResult(records=[])
    pii: Counter[str] = Counter()
    for doc in docs:
        dropped: list[Reject] = []
        work = partial(_prepared, doc, config, redactor, language, dropped)
        outcome = steps.attempt("clean", "clean", steps.Item(doc.doc_id, doc.source_uri), work)
        if isinstance(outcome, steps.Failure):
            result.rejects.append(outcome.reject)
            continue
        result.rejects.extend(dropped)
        pii.update(doc.metadata.get("pii_counts", {}))
        if outcome is not None:
            result.rejects.append(outcome)
        else:
            result.records.append(doc)
    return result.finish(len(docs), started, **{f"pii_{kind}": n for kind, n in pii.items()})


def deduplicate(
    docs: list[Document],
    config: CleanConfig,
    canonical: Callable[[str], str | None],
    near: NearDuplicates | None = None,
) -> StageResult[Document]:
    """Drop exact and near duplicates of prepared documents, in order: of each other and of what `canonical`
    and `near` already know (the catalog's indexes; accepted documents are added to `near`).

    Returns:
        The documents that are no duplicates; rejects `duplicate` and `near_duplicate`.
    """
    started = time.perf_counter()
    result: StageResult[Document] = StageResult(records=[])
    seen: dict[str, str] = {}
    for doc in docs:
        work = partial(_duplicate, doc, config, seen.get(doc.text_hash) or canonical(doc.text_hash), near)
        outcome = steps.attempt("clean", "dedup", steps.Item(doc.doc_id, doc.source_uri), work)
        if outcome is not None:
            result.rejects.append(steps.reject_of(outcome))
            continue
        seen[doc.text_hash] = doc.doc_id
        result.records.append(doc)
    return result.finish(len(docs), started)


def _prepared(
    doc: Document,
    config: CleanConfig,
    redactor: Redactor | None,
    language: Callable[[str], str] | None,
    dropped: list[Reject],
) -> Reject | None:
    """Clean one document; its verdict (None: it goes on). Dropped pages are appended to `dropped`."""
    clean_document(doc, config, redactor, dropped)
    return _verdict(doc, config, language)


def _duplicate(doc: Document, config: CleanConfig, first: str | None, near: NearDuplicates | None) -> Reject | None:
    """`duplicate` of `first` (the earlier document with the same text), `near_duplicate`, or None."""
    if config.drop_exact_duplicates and first and first != doc.doc_id:
        return _reject(doc, "duplicate", f"same text as document {first}", duplicate_of=first)
    if near is not None and config.dedup.enabled:
        return _near_duplicate(doc, config, near)
    return None


def merged(prepared: StageResult[Document], deduplicated: StageResult[Document]) -> StageResult[Document]:
    """One clean result from its two steps: the counters of a single pass over the batch."""
    stats = {**prepared.stats, **{k: v for k, v in deduplicated.stats.items() if k not in prepared.stats}}
    stats["out"] = len(deduplicated.records)
    stats["rejected"] = len(prepared.rejects) + len(deduplicated.rejects)
    stats["seconds"] = prepared.stats["seconds"] + deduplicated.stats["seconds"]
    return StageResult(deduplicated.records, [*prepared.rejects, *deduplicated.rejects], stats)


def _reject(doc: Document, reason: str, message: str, duplicate_of: str | None = None) -> Reject:
    return Reject("clean", reason, message, doc_id=doc.doc_id, source_uri=doc.source_uri, duplicate_of=duplicate_of)
