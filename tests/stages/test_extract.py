import shutil
from pathlib import Path

from docmill.config.settings import ExtractConfig
from docmill.parsers import ParseError
from docmill.parsers.pool import ParserPool
from docmill.parsers.text import decode_bytes
from docmill.stages.extract import extract
from tests.helpers import extracted, sources_of


def test_every_subset_file_is_extracted_or_rejected_with_a_specific_reason(corpus_subset: Path, parser_pool) -> None:
    docs, rejects = extracted(corpus_subset, parser_pool)
    names = {Path(d.source_uri).name for d in docs}
    all_files = {p.name for p in corpus_subset.rglob("*") if p.is_file()}
    assert names | set(rejects) == all_files
    assert not names & set(rejects)
    assert rejects["password.pdf"] == "encrypted"
    assert rejects["password_protected.xlsx"] == "encrypted"
    assert "loremipsum-flat.pdf" in names  # a scan without text layer: OCRed
    assert rejects["empty.txt"] == "empty"
    assert rejects["fake-text-all-whitespace.txt"] == "empty"
    assert rejects["example.jpg"] == "no_text_found"  # a photo: OCR runs and finds nothing
    assert "file_we_dont_want_imported" in names  # no extension: recognised as text by content
    assert "simple.json" in names
    if shutil.which("soffice"):  # installed by scripts/install.sh; without it the reason names the tool
        assert "fake.doc" in names
    else:
        assert rejects["fake.doc"] == "missing_dependency:soffice"
    assert all(reason and "unknown" not in reason for reason in rejects.values())


def test_pdf_keeps_pages_and_metadata(corpus_subset: Path, parser_pool) -> None:
    docs, _ = extracted(corpus_subset, parser_pool)
    paper = next(d for d in docs if d.source_uri.endswith("layout-parser-paper-fast.pdf"))
    pages = {e.page for e in paper.elements}
    assert pages == set(range(1, paper.metadata["pages"] + 1)) and len(pages) >= 2
    assert paper.parser.startswith("pymupdf")
    assert "LayoutParser" in " ".join(e.text for e in paper.elements)


def test_office_html_email_and_text_formats(corpus_subset: Path, parser_pool) -> None:
    docs, _ = extracted(corpus_subset, parser_pool)
    text = {Path(d.source_uri).name: "\n".join(e.text for e in d.elements) for d in docs}
    assert "Lorem ipsum" in text["fake.docx"]
    assert "Adding a Bullet Slide" in text["fake-power-point.pptx"]
    assert "My First Heading" in text["fake-html.html"]
    assert "Stanley" in text["stanley-cups.csv"] or "Team" in text["stanley-cups.csv"]
    assert "ö" in text["umlauts-non-utf8.md"] or "ü" in text["umlauts-non-utf8.md"]  # cp1252/latin-1 decoded
    assert "This is a test document to use for unit tests." in text["fake-text-utf-16-be.txt"]
    email = next(d for d in docs if d.source_uri.endswith("fake-email-attachment.eml"))
    assert email.elements and not any("unstructured_logo" in e.text for e in email.elements)  # body only
    kinds = {e.kind for d in docs for e in d.elements}
    assert {"title", "text", "list_item"} <= kinds


def test_generated_corrupt_pdf_and_sample_formats(sample_corpus: Path, parser_pool) -> None:
    docs, rejects = extracted(sample_corpus, parser_pool)
    assert rejects == {"corrupt.pdf": "corrupt_pdf"}
    by_name = {Path(d.source_uri).name: d for d in docs}
    handbook = by_name["handbook.pdf"]
    assert handbook.metadata["title"] == "Employee Handbook" and handbook.metadata["pages"] == 4
    assert handbook.metadata["created"] == "2025-03-01T09:00:00"
    assert "Annual" in " ".join(e.text for e in handbook.elements if e.page == 2)
    slides = by_name["quarterly-review.pptx"]
    assert any("Speaker note" in e.text for e in slides.elements), "speaker notes are extracted"


def test_per_document_timeout_kills_the_worker_and_goes_on(sample_corpus: Path) -> None:
    sources = [s for s in sources_of(sample_corpus) if s.extension in {".docx", ".md"}]
    with ParserPool(1, 0.05) as pool:
        result = extract(sources, ExtractConfig(timeout_s=0.05, workers=1), pool)
    assert {r.reason for r in result.rejects} == {"timeout"}
    with ParserPool(1, 60) as pool:  # a fresh worker afterwards parses normally
        assert len(extract(sources, ExtractConfig(), pool).records) == len(sources)


def test_too_large_files_are_not_parsed(sample_corpus: Path, parser_pool) -> None:
    sources = [s for s in sources_of(sample_corpus) if s.extension == ".pdf" and s.size > 2000]
    result = extract(sources, ExtractConfig(max_file_mb=0.001), parser_pool)
    assert [r.reason for r in result.rejects] == ["too_large"] * len(sources) and not result.records


def test_decode_bytes_detects_boms_and_legacy_code_pages() -> None:
    assert decode_bytes("héllo".encode("utf-16"))[0] == "héllo"
    assert decode_bytes("héllo".encode("utf-32"))[0] == "héllo"
    assert decode_bytes(b"\xef\xbb\xbfh\xc3\xa9llo")[0] == "héllo"
    assert decode_bytes("Grüße aus Köln, schöne Grüße".encode("cp1252"))[0] == "Grüße aus Köln, schöne Grüße"


def test_parse_error_carries_reason() -> None:
    error = ParseError("encrypted", "needs a password")
    assert error.reason == "encrypted" and "needs a password" in str(error)


def test_memory_limit_quarantines_as_too_large_and_the_pool_goes_on(shared_corpus: Path, tmp_path: Path) -> None:
    big = tmp_path / "books.txt"
    big.write_bytes((shared_corpus / "book-war-and-peace-1225p.txt").read_bytes() * 25)  # 80 MB of text
    small = tmp_path / "note.txt"
    small.write_text("A short note that fits in any memory limit.")
    # a worker's address space is ~150 MB after its imports: 300 MB leaves room for a note, not for the books
    with ParserPool(1, 120, max_memory_mb=300) as pool:
        outcomes = dict(pool.parse_many([("big", str(big), ".txt"), ("small", str(small), ".txt")]))
    assert isinstance(outcomes["big"], ParseError) and outcomes["big"].reason == "too_large"
    assert not isinstance(outcomes["small"], ParseError)


def test_parser_workers_never_load_torch(shared_corpus: Path) -> None:
    """spaCy (under unstructured's partitioners) imports torch whenever it is installed; the parser processes
    block it (~2 s and ~180 MB per worker) and the office formats still parse."""
    files = [shared_corpus / n for n in ("2023-half-year-analyses-by-segment.xlsx", "fake.docx", "fake-email.eml")]
    with ParserPool(1, 120) as pool:
        parsed = dict(pool.parse_many([(p.name, str(p), p.suffix) for p in files]))
        maps = Path(f"/proc/{pool._workers[0].process.pid}/maps").read_text()
    assert all(not isinstance(r, ParseError) and r.elements for r in parsed.values()), parsed
    assert "libtorch" not in maps, "a parser process mapped libtorch"


def test_a_truncated_image_is_corrupt_image_not_an_unexpected_error(shared_corpus: Path, tmp_path: Path) -> None:
    """Pillow opens images lazily: the damage shows when the pixels are decoded, which must say `corrupt_image`."""
    for name in ("DA-1p.jpg", "DA-1p.png"):
        data = (shared_corpus / "img" / name).read_bytes()
        (tmp_path / f"cut-{name}").write_bytes(data[: len(data) // 3])
    with ParserPool(1, 120) as pool:
        outcomes = dict(pool.parse_many([(p.name, str(p), p.suffix) for p in sorted(tmp_path.iterdir())]))
    assert {k: getattr(v, "reason", "parsed") for k, v in outcomes.items()} == {
        "cut-DA-1p.jpg": "corrupt_image",
        "cut-DA-1p.png": "corrupt_image",
    }


def test_a_damaged_office_container_is_corrupt_office(shared_corpus: Path, tmp_path: Path) -> None:
    """Bit flips inside a DOCX's deflated parts (zlib errors) and a bad CRC: the file's fault, named as such."""
    data = bytearray((shared_corpus / "fake.docx").read_bytes())
    start = data.index(b"PK\x03\x04", 100)  # the second member's compressed bytes
    for offset in range(start + 80, start + 90):
        data[offset] ^= 0x55
    (tmp_path / "flipped.docx").write_bytes(bytes(data))
    with ParserPool(1, 120) as pool:
        outcome = dict(pool.parse_many([("d", str(tmp_path / "flipped.docx"), ".docx")]))["d"]
    assert isinstance(outcome, ParseError) and outcome.reason == "corrupt_office", outcome


def test_csv_with_bare_carriage_returns_is_read_row_by_row(tmp_path: Path) -> None:
    """Classic Mac line ends (a lone `\\r`, still written by some exports) made the csv module raise
    "new-line character seen in unquoted field": the file ended `step_failed:parse:Error`."""
    from docmill.parsers.text import parse_delimited

    path = tmp_path / "stock.csv"
    path.write_bytes(b'item,qty\rapple,3\rpear,5\r"note, quoted",7\r')
    parsed = parse_delimited(path)
    assert [e.text for e in parsed.elements] == ["item | qty", "item: apple; qty: 3", "item: pear; qty: 5",
                                                 "item: note, quoted; qty: 7"]  # fmt: skip
    assert parsed.metadata["rows"] == 3


def test_csv_columns_without_a_header_add_no_invented_names(tmp_path: Path) -> None:
    """A trailing delimiter (spreadsheet exports end every line with `;`) and a column whose header cell is
    empty: the text holds only words of the file, no `column_5` placeholder."""
    from docmill.parsers.text import parse_delimited

    path = tmp_path / "revenue.csv"
    path.write_text("Year;;Revenue;Costs;\n2022;north;123;-123;\n2023;south;143,1;-814,38;\n")
    parsed = parse_delimited(path)
    assert [e.text for e in parsed.elements] == ["Year |  | Revenue | Costs",
                                                 "Year: 2022; north; Revenue: 123; Costs: -123",
                                                 "Year: 2023; south; Revenue: 143,1; Costs: -814,38"]  # fmt: skip
    assert set(" ".join(e.text for e in parsed.elements).replace(";", " ").replace(":", " ").split()) <= set(
        path.read_text().replace(";", " ").split()
    ) | {"|"}
