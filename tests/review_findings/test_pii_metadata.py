"""Hostile review of 34df62e (metadata values redacted like the text with `clean.pii.mode: redact`/`hash`).

Tests "Found by review" assert what the reviewer expected and failed on the reviewed code (findings, fixed
since); the others pin behaviour checked and found right."""

from __future__ import annotations

from typing import Any

import pytest

from docmill.config.settings import EnrichConfig, PiiConfig
from docmill.records import Document, Element, SourceFile
from docmill.stages.enrich import document_metadata
from docmill.text.pii import Redactor


def _meta(mode: str, source_meta: dict[str, Any], doc_meta: dict[str, Any] | None = None) -> dict[str, Any]:
    names = Redactor(PiiConfig(mode=mode), b"review-key")
    uri = "sql://contacts/" + str(source_meta.get("sql_id", "1"))
    source = SourceFile(uri, "/tmp/staged/1.txt", 10, 0.0, "d" * 64, ".txt", metadata=source_meta)
    doc = Document("d" * 64, uri, "txt", [Element("Body text.", "text")], metadata=doc_meta or {})
    return document_metadata(doc, source, EnrichConfig(detect_language=False), None, names)


def test_numeric_pii_in_connector_metadata_is_carried_raw() -> None:
    """Found by review (medium; documented as "numbers are carried as they are"): an SQL `metadata_columns` column of
    an integer type holding a phone or card number (BIGINT `phone`, NUMERIC `card_number`) reaches the chunk
    metadata, Qdrant payloads and exports raw, although the text redactor replaces the same digits as a string
    (`4155550132` -> `<PHONE>`, `4111111111111111` -> `<CREDIT_CARD>`). With an integer id column the same chunk
    then carries the value redacted in `source_uri` (`sql://contacts/%3CPHONE%3E`) and raw in `sql_id`."""
    meta = _meta("redact", {"sql_id": 4155550132, "phone": 4155550132, "card_number": 4111111111111111})
    assert "%3CPHONE%3E" in meta["source_uri"]  # the URI's copy is redacted
    shown = repr(meta)
    assert "4155550132" not in shown and "4111111111111111" not in shown, meta


def test_nested_values_are_not_redacted() -> None:
    """Found by review (low, not reachable from today's connectors: SQL stringifies dicts, mail carries strings):
    `Redactor.value` redacts `str` and `list` only, a dict, a list of dicts or a tuple passes untouched."""
    meta = _meta(
        "redact",
        {"contact": {"email": "bob.stone@example.com"}, "people": [{"email": "ann.lee@example.org"}]},
        {"sent_to": ("carol.diaz@example.net",)},
    )
    shown = repr(meta)
    for raw in ("bob.stone@", "ann.lee@", "carol.diaz@"):
        assert raw not in shown, (raw, meta)


@pytest.mark.parametrize("mode", ["redact", "hash"])
def test_metadata_and_text_get_the_same_replacement(mode: str) -> None:
    """Checked, right: a value gets in the metadata exactly the replacement it gets in the text (hash mode: the
    same pseudonym, so thread ids stay joinable; redact mode: every Message-ID reads `<EMAIL>`, documented)."""
    names = Redactor(PiiConfig(mode=mode), b"review-key")
    meta = _meta(
        mode,
        {"message_id": "ann.lee@example.org", "thread_id": "ann.lee@example.org", "sql_id": "7"},
        {"sent_from": "ann.lee@example.org", "subject": "Call +1 415 555 0132", "title": "IBAN DE89370400440532013000"},
    )
    text = names.apply("ann.lee@example.org")[0]
    assert meta["message_id"] == meta["thread_id"] == meta["sent_from"] == text
    assert meta["subject"] == names.apply("Call +1 415 555 0132")[0] != "Call +1 415 555 0132"
    assert "DE89370400440532013000" not in meta["title"]
