"""Formats beyond the office trio: OCR, pandoc formats, structured text, detection by content."""

import os
import shutil
from email.message import EmailMessage
from pathlib import Path

import pymupdf
import pytest

from docmill.config.settings import ExtractConfig
from docmill.parsers import ParseError, parse_file
from docmill.parsers.pool import ParserPool
from docmill.parsers.sniff import detect_type
from docmill.samples import paragraphs
from docmill.sources.attachments import extract_attachments

WORDS = " ".join(paragraphs(11, 2, 3))


def _scanned_pdf(target: Path) -> Path:
    """Render text to an image and wrap the image in a PDF: a scan with no text layer."""
    source = pymupdf.open()
    page = source.new_page()
    page.insert_textbox(pymupdf.Rect(60, 60, 540, 780), WORDS, fontsize=13, fontname="helv")
    png = page.get_pixmap(dpi=200).tobytes("png")
    scan = pymupdf.open()
    scan.new_page().insert_image(pymupdf.Rect(0, 0, 595, 842), stream=png)
    scan.save(target)
    assert not scan[0].get_text().strip()
    return target


def test_scanned_page_is_recovered_by_ocr_with_95_percent_word_accuracy(tmp_path: Path) -> None:
    parsed = parse_file(_scanned_pdf(tmp_path / "scan.pdf"), ".pdf")
    words = " ".join(e.text for e in parsed.elements).split()
    expected = WORDS.split()
    hits = sum(1 for a, b in zip(expected, words, strict=False) if a == b)
    assert hits / len(expected) >= 0.95, (hits, len(expected), words[:20])
    assert parsed.metadata["ocr"] and parsed.metadata["ocr_confidence"][1] > 80


def test_images_are_ocred_per_frame(shared_corpus: Path, tmp_path: Path) -> None:
    png = parse_file(shared_corpus / "img/DA-1p.png", ".png")
    assert "Layout" in " ".join(e.text for e in png.elements) or len(png.elements) > 5
    assert png.metadata["ocr_confidence"][1] > 50
    tiff = parse_file(shared_corpus / "img/layout-parser-paper-combined.tiff", ".tiff")
    assert tiff.metadata["pages"] > 1 and {e.page for e in tiff.elements} == set(range(1, tiff.metadata["pages"] + 1))
    heic = parse_file(shared_corpus / "img/DA-1p.heic", ".heic")
    assert heic.parser == "tesseract" and heic.elements
    with pytest.raises(ParseError) as photo:
        parse_file(shared_corpus / "img/example.jpg", ".jpg")
    assert photo.value.reason == "no_text_found"


@pytest.mark.parametrize(
    ("name", "needle"),
    [
        ("fake-doc.rtf", "My First Heading"),
        ("fake.odt", "Lorem ipsum"),
        ("winter-sports.epub", "Winter Sports"),
        ("simple.json", "text: Doylestown, PA 18901"),
        ("simple.ndjson", "text: Doylestown, PA 18901"),
        ("simple.yaml", "partridges.location: a pear tree"),
        ("factbook.xml", "United States"),
        ("factbook-utf-16.xml", "United States"),
        ("README.rst", "Example Docs"),
        ("README.org", "Example Docs"),
    ],
)
def test_text_formats(shared_corpus: Path, name: str, needle: str) -> None:
    parsed = parse_file(shared_corpus / name, Path(name).suffix)
    text = "\n".join(e.text for e in parsed.elements)
    assert needle.lower() in text.lower(), text[:300]


def test_markup_headings_become_titles(shared_corpus: Path) -> None:
    for name in ("README.rst", "README.org"):
        titles = [e.text for e in parse_file(shared_corpus / name, Path(name).suffix).elements if e.kind == "title"]
        assert "Example Docs" in titles


def test_type_is_decided_by_content(shared_corpus: Path, tmp_path: Path) -> None:
    copies = {
        "nameless-pdf": "pdf/fake-memo.pdf",
        "nameless-docx": "fake.docx",
        "mail.p7s": "eml/signed-doc.p7s",
        "report.txt": "pdf/fake-memo.pdf",
        "data": "simple.json",
    }
    for target, source in copies.items():
        shutil.copy2(shared_corpus / source, tmp_path / target)
    parsable = {".pdf", ".docx", ".eml", ".json", ".txt"}
    assert detect_type(tmp_path / "nameless-pdf", "", parsable) == ".pdf"
    assert detect_type(tmp_path / "nameless-docx", "", parsable) == ".docx"
    assert detect_type(tmp_path / "mail.p7s", ".p7s", parsable) == ".eml"
    assert detect_type(tmp_path / "report.txt", ".txt", parsable) == ".pdf"
    assert detect_type(tmp_path / "data", "", parsable) == ".json"
    assert "20,000 bottles of water" in " ".join(e.text for e in parse_file(tmp_path / "nameless-pdf", "").elements)
    signed = parse_file(tmp_path / "mail.p7s", ".p7s")
    assert signed.elements


def test_broken_structured_files_have_specific_reasons(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text('{"a": [1, 2,')
    (tmp_path / "bad.xml").write_text("<?xml version='1.0'?><root><a>text</root>")
    (tmp_path / "bad.ndjson").write_text("{nope\n{also nope\n")
    reasons = {}
    for name in ("bad.json", "bad.xml", "bad.ndjson"):
        with pytest.raises(ParseError) as error:
            parse_file(tmp_path / name, Path(name).suffix)
        reasons[name] = error.value.reason
    assert reasons == {"bad.json": "corrupt_json", "bad.xml": "corrupt_xml", "bad.ndjson": "corrupt_json"}


def test_xml_entities_are_not_expanded(tmp_path: Path) -> None:
    bomb = "<?xml version='1.0'?><!DOCTYPE r [<!ENTITY a 'aaaaaaaaaa'><!ENTITY b '&a;&a;&a;&a;&a;'>]><r><x>&b;</x></r>"
    (tmp_path / "bomb.xml").write_text(bomb)
    try:
        parsed = parse_file(tmp_path / "bomb.xml", ".xml")
    except ParseError as error:
        assert error.reason in {"corrupt_xml", "empty"}
    else:
        assert "aaaaaaaaaa" not in " ".join(e.text for e in parsed.elements)


def test_encrypted_e_mail_is_encrypted_not_empty(shared_corpus: Path) -> None:
    for name in ("fake-encrypted.msg", "eml/fake-encrypted.eml"):
        with pytest.raises(ParseError) as error:
            parse_file(shared_corpus / name, Path(name).suffix)
        assert error.value.reason == "encrypted", name
    assert parse_file(shared_corpus / "fake-email.msg", ".msg").elements


def _soffice_or_skip() -> None:
    if shutil.which("soffice") is None:
        message = "LibreOffice (soffice) is not installed; scripts/install.sh installs it as root"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


def test_legacy_office_files_convert_with_libreoffice_in_parallel_workers(shared_corpus: Path) -> None:
    _soffice_or_skip()
    files = {
        "simple.doc": "These are a few of my favorite things",
        "fake-power-point.ppt": "Adding a Bullet Slide",
        "duplicate-paragraphs.doc": "This document contains duplicates",
    }
    config = ExtractConfig()
    jobs = [(name, str(shared_corpus / name), Path(name).suffix) for name in files]
    with ParserPool(2, 120, config.max_memory_mb, config.parser_options()) as pool:  # two soffice at once
        results = dict(pool.parse_many(jobs))
    for name, needle in files.items():
        parsed = results[name]
        assert not isinstance(parsed, ParseError), f"{name}: {parsed}"
        assert parsed.parser.endswith("+soffice")
        assert needle in "\n".join(e.text for e in parsed.elements), name


def test_legacy_office_without_libreoffice_names_the_missing_tool(
    shared_corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no soffice on this PATH
    with pytest.raises(ParseError) as error:
        parse_file(shared_corpus / "simple.doc", ".doc")
    assert error.value.reason == "missing_dependency:soffice"


def test_spreadsheet_sheets_are_named_and_kept_as_tables(shared_corpus: Path) -> None:
    parsed = parse_file(shared_corpus / "stanley-cups.xlsx", ".xlsx")
    assert parsed.metadata["sheets"] == ["Stanley Cups", "Stanley Cups Since 67"]
    kinds = [(e.kind, e.text) for e in parsed.elements]
    assert kinds[0] == ("title", "Sheet: Stanley Cups")
    assert ("title", "Sheet: Stanley Cups Since 67") in kinds
    tables = [e.text for e in parsed.elements if e.kind == "table"]
    assert len(tables) == 2 and all("| Maple Leafs | TOR |" in t and "<t" not in t for t in tables)


@pytest.mark.parametrize(
    ("name", "content", "position"),
    [
        ("bad.yaml", "owner: ok\nkey: value: {secret}\n", "line 2 column 11"),
        ("bad.json", '{{"a": "{secret}",\n "b": [1, 2,', "line 2"),
        ("bad.xml", "<?xml version='1.0'?>\n<root><a>{secret}</root>", "line 2"),
        ("lines.ndjson", "{{nope {secret}\n", ""),
    ],
)
def test_a_parse_error_names_class_and_position_not_document_text(
    tmp_path: Path, name: str, content: str, position: str
) -> None:
    secret = "alice.w@example.net 5500 0000 0000 0004 Project Nightingale"
    (tmp_path / name).write_text(content.format(secret=secret))
    with pytest.raises(ParseError) as error:
        parse_file(tmp_path / name, Path(name).suffix)
    message = error.value.message
    assert position in message, message
    for word in ("alice", "5500", "Nightingale"):
        assert word not in message, message


@pytest.mark.parametrize("codepage", ["cp037", "cp500"])
@pytest.mark.parametrize("name", ["batch-report.txt", "BATCHRPT", "batch-report.dat"])
def test_ebcdic_text_is_decoded(tmp_path: Path, codepage: str, name: str) -> None:
    """Mainframe exports in EBCDIC, with or without a telling extension, and with NL (0x15) line ends."""
    lines = ["PAYROLL BATCH REPORT 2024-03-01", "All records were processed without errors.", "Next run: April 1."]
    data = "\n".join(lines).encode(codepage).replace(b"\x25", b"\x15")
    (tmp_path / name).write_bytes(data)
    parsed = parse_file(tmp_path / name, Path(name).suffix)
    assert parsed.metadata["encoding"] in ("cp037", "cp500", "cp273", "cp1140")
    assert "\n".join(e.text for e in parsed.elements) == "\n".join(lines)


def _message(sender: str, subject: str, body: str | None = None) -> EmailMessage:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, "team@example.org", subject
    if body is not None:
        message.set_content(body)
    return message


def test_e_mail_without_a_body_of_its_own_is_its_header_not_empty(tmp_path: Path) -> None:
    digest = _message("editor@example.org", "Weekly digest of the harbour list")
    digest.make_mixed()
    digest.replace_header("Content-Type", "multipart/digest")
    for i, town in enumerate(("Kirkwall", "Lerwick"), 1):
        part = EmailMessage()
        part.set_content(_message(f"writer{i}@example.org", f"Ferry news {i}", f"The {town} ferry sails at dawn."))
        part.replace_header("Content-Type", "message/rfc822")
        digest.attach(part)
    only_attachment = _message("scanner@example.org", "Scanned invoice March")
    only_attachment.add_attachment(b"%PDF-1.4 not really", maintype="application", subtype="pdf", filename="a.pdf")
    for name, message in (("digest.eml", digest), ("attachment-only.eml", only_attachment)):
        (tmp_path / name).write_bytes(bytes(message))
    text = "\n".join(e.text for e in parse_file(tmp_path / "digest.eml", ".eml").elements)
    assert "From: editor@example.org" in text and "Subject: Weekly digest of the harbour list" in text
    text = "\n".join(e.text for e in parse_file(tmp_path / "attachment-only.eml", ".eml").elements)
    assert "Subject: Scanned invoice March" in text and "To: team@example.org" in text
    parts = extract_attachments(tmp_path / "digest.eml", ".eml", tmp_path / "parts")  # each part: a document
    bodies = ["\n".join(e.text for e in parse_file(tmp_path / "parts" / p, ".eml").elements) for p in parts]
    assert ["The Kirkwall ferry sails at dawn." in bodies[0], "Subject: Ferry news 2" in bodies[1]] == [True, True]
    with pytest.raises(ParseError) as error:  # whitespace, no header: empty
        (tmp_path / "blank.eml").write_text("\n \n")
        parse_file(tmp_path / "blank.eml", ".eml")
    assert error.value.reason == "empty"


def test_e_mail_header_lines_hold_bcc_and_only_the_message_s_own_date(tmp_path: Path) -> None:
    """Bcc recipients (kept in the sender's copy) are addressees like To and Cc: unstructured had them in its
    metadata only. A message without a Date header got the file's modification time as its `Date:` line."""
    message = _message("sender@example.org", "Budget review", "Please review the attached budget.")
    message["Cc"], message["Bcc"] = "tom@example.org", "John <john@example.org>, mary@example.org"
    (tmp_path / "bcc.eml").write_bytes(bytes(message))
    header = parse_file(tmp_path / "bcc.eml", ".eml").elements[0].text
    assert header.splitlines() == [
        "From: sender@example.org",
        "To: team@example.org",
        "Cc: tom@example.org",
        "Bcc: John <john@example.org>, mary@example.org",
        "Subject: Budget review",
    ]
    message["Date"] = "Tue, 01 Oct 2024 12:34:56 -0500"
    (tmp_path / "dated.eml").write_bytes(bytes(message))
    assert "Date: 2024-10-01T17:34:56+00:00" in parse_file(tmp_path / "dated.eml", ".eml").elements[0].text


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be"])
def test_utf16_e_mail_is_read_as_a_message_not_as_its_source(tmp_path: Path, encoding: str) -> None:
    """An .eml saved as UTF-16 (with or without a BOM) came out as its raw MIME source: header lines,
    boundaries and the HTML part's tags, NUL bytes between the letters."""
    message = _message("sender@example.org", "Quarterly numbers", "Sales rose in every region.")
    message["Date"] = "Fri, 16 Dec 2022 17:04:16 -0500"
    message.add_alternative("<div><p>Sales rose in <b>every</b> region.</p></div>", subtype="html")
    (tmp_path / "wide.eml").write_bytes(bytes(message).decode("ascii").encode(encoding))
    text = "\n".join(e.text for e in parse_file(tmp_path / "wide.eml", ".eml").elements)
    assert "From: sender@example.org" in text and "Subject: Quarterly numbers" in text
    assert "Sales rose in every region." in text
    assert [s for s in ("\x00", "Content-Type", "<div", "MIME-Version") if s in text] == []
