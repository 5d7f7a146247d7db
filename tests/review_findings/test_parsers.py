"""Hostile review of 9108600 (`parse_file`: a library's exception is `parse_failed:<Exception>`, docmill's own
stays for the step runner as `step_failed:parse:<Exception>`).

Tests "Found by review" assert what the reviewer expected and failed on the reviewed code (findings, fixed
since); the others pin behaviour checked and found right."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from docmill import parsers
from docmill.parsers import ParseError, parse_file

_BUGS = """
import datetime, json, pathlib
def json_of_none():
    return json.loads(None)
def path_of_none():
    return pathlib.Path(None)
def wrong_format():
    return datetime.datetime.strptime("2024", "%Y-%m")
def own():
    raise ValueError("own")
"""


def _docmill_code() -> dict[str, Any]:
    """Functions whose frames read as docmill's own code (compiled under src/docmill/parsers)."""
    names: dict[str, Any] = {}
    exec(compile(_BUGS, str(parsers._OWN_CODE / "parsers" / "review_fake.py"), "exec"), names)
    return names


@pytest.mark.parametrize("bug", ["json_of_none", "path_of_none", "wrong_format"])
def test_docmill_misusing_the_standard_library_is_not_a_damaged_file(bug: str) -> None:
    """Found by review (low-medium): a bug in docmill that passes a wrong value to the standard library
    (`json.loads(None)`, `Path(None)`, a wrong `strptime` format) raises inside json/pathlib/_strptime, so the
    innermost frame is "a library" and every document hitting the bug is quarantined as
    `parse_failed:TypeError`/`ValueError` (a per-file problem) instead of `step_failed:parse:...` (a bug)."""
    with pytest.raises(Exception) as caught:
        _docmill_code()[bug]()
    assert not parsers._raised_by_a_library(caught.value)


def test_own_exceptions_and_exceptions_without_traceback_stay_for_the_step_runner() -> None:
    """Checked, right: docmill's own raise and an exception never raised (no traceback) are not a library's."""
    with pytest.raises(ValueError) as caught:
        _docmill_code()["own"]()
    assert not parsers._raised_by_a_library(caught.value)
    assert not parsers._raised_by_a_library(ValueError("never raised"))


def test_pathological_nesting_is_a_parse_failure_not_a_crash(tmp_path: Path) -> None:
    """Checked, acceptable: 200 000 nested JSON arrays / 20 000 nested YAML flow lists are
    `parse_failed:RecursionError` (the library's recursion), deep XML is lxml's resource limit."""
    for name, text, reason in (
        ("deep.json", "[" * 200_000 + "]" * 200_000, "nested_too_deep"),
        ("deep.yaml", "[" * 20_000 + "]" * 20_000, "nested_too_deep"),
        ("deep.xml", "<a>" * 300_000 + "</a>" * 300_000, "corrupt_xml"),
    ):
        path = tmp_path / name
        path.write_text(text)
        with pytest.raises(ParseError) as caught:
            parse_file(path, path.suffix)
        assert caught.value.reason == reason


def test_charset_text_of_a_message_reaches_the_quarantine_message(tmp_path: Path) -> None:
    """Found by review (medium): an e-mail whose Content-Type charset is free text is `parse_failed:LookupError` with
    the message `LookupError: unknown encoding: <the header's text>`: `describe` only scrubs quoted text and the
    codec lookup does not quote. The text reaches `quarantine.message`, the audit trail and `docmill quarantine
    list`; the runtime's PII redactor (regex types) does not remove a name or a diagnosis."""
    path = tmp_path / "note.eml"
    path.write_bytes(
        b"From: a@example.org\nTo: b@example.org\nSubject: hi\n"
        b'Content-Type: text/plain; charset="Jane Roe HIV positive"\n\nBody text of some length for the test.\n'
    )
    with pytest.raises(ParseError) as caught:
        parse_file(path, ".eml")
    assert caught.value.reason.startswith("parse_failed:")
    assert "Jane Roe" not in caught.value.message, caught.value.message


def test_an_apostrophe_inside_quoted_text_defeats_the_scrub() -> None:
    """Found by review (medium): `scrub` pairs quotes left to right, so an apostrophe inside the quoted text (O'Brien,
    John's) closes the quote early and the rest of the quoted document text is kept. zipfile's own message for a
    part name a damaged DOCX/PPTX references (`There is no item named '...' in the archive`) shows it."""
    import io
    import zipfile

    from docmill.isolation.errors import describe

    blob = io.BytesIO()
    with zipfile.ZipFile(blob, "w") as archive:
        archive.writestr("word/document.xml", "<w/>")
    with zipfile.ZipFile(blob) as archive, pytest.raises(KeyError) as caught:
        archive.getinfo("word/John's salary 4111 1111 1111 1111.xml")
    assert "salary" not in describe(caught.value), describe(caught.value)
    assert "diabetes" not in describe(ValueError("Invalid value 'O'Brien, Jane, diagnosis: diabetes' in B2"))


def test_a_converter_timeout_is_the_timeout_reason(tmp_path: Path) -> None:
    """Found by review (low): pandoc or LibreOffice running past `timeout_s` raises `subprocess.TimeoutExpired` inside
    subprocess.py, now `parse_failed:TimeoutExpired` (a damaged file?), while the worker pool's own limit gives
    `timeout`: one condition, two reasons. The message is also mangled by the scrub (the command's list repr has
    nested quotes: the command line and the file's path stay, the separators are replaced)."""
    path = tmp_path / "notes.adoc"
    path.write_text("= Title\n\nSome body text for the document.\n" * 50)
    before = dict(parsers.OPTIONS)
    parsers.OPTIONS["timeout_s"] = 0.001
    try:
        with pytest.raises(ParseError) as caught:
            parse_file(path, ".adoc")
    finally:
        parsers.OPTIONS.clear()
        parsers.OPTIONS.update(before)
    assert caught.value.reason == "timeout", (caught.value.reason, caught.value.message)


CORPUS = Path(__file__).resolve().parents[2] / ".." / "shared" / "corpus"


@pytest.mark.parametrize(
    ("name", "reasons"),
    [
        ("unstructured-example-docs/fake.odt", {"corrupt_office", "corrupt_odt"}),
        ("markitdown-tests/tests/test_files/test.epub", {"corrupt_epub"}),
        ("unstructured-example-docs/fake.docx", {"corrupt_office"}),
    ],
)
def test_a_truncated_zip_based_document_is_corrupt(tmp_path: Path, name: str, reasons: set[str]) -> None:
    """Found by review (low, sniffing, not this commit's code): a truncated DOCX is `corrupt_office`, but a truncated
    ODT or EPUB (same ZIP container) is `unsupported_type:.zip` ("no parser for .zip"), as if the file were an
    archive of another type; found by truncating corpus files to 50 % (the fuzz of this review)."""
    source = CORPUS / name
    if not source.exists():
        pytest.skip("corpus not available")
    path = tmp_path / source.name
    data = source.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ParseError) as caught:
        parse_file(path, path.suffix)
    assert caught.value.reason in reasons, (caught.value.reason, caught.value.message)
