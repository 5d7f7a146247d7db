"""Files the fuzz corpus (benchmarks/fuzz_corpus.py) damaged in ways that made a library raise: each ends with a
specific reason (`corrupt_<type>`, `parse_failed:<Exception>`, `corrupt_archive`), never as
`step_failed:parse:<Exception>`, the step runner's mark for a bug in docmill's own code."""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

import pytest

from benchmarks.fuzz_corpus import VARIANTS
from docmill.parsers import ParseError, parse_file
from docmill.sources.archives import ArchiveError, Budget, Limits, archive_kind, expand

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus"


def _variant(relative: str, name: str, tmp_path: Path) -> Path:
    """The fuzz corpus's `name` variant of one corpus file (the bit flips need no donor file)."""
    mutate, _ = VARIANTS[name]
    seed = int.from_bytes(hashlib.sha256(f"{relative}:{name}".encode()).digest()[:8], "big")
    path = tmp_path / f"{Path(relative).stem}.{name}{Path(relative).suffix}"
    path.write_bytes(mutate((CORPUS / relative).read_bytes(), random.Random(seed), b""))
    return path


@pytest.mark.parametrize(
    ("relative", "variant", "reason"),
    [
        # pymupdf opened the file, then its image list of a damaged page raised ValueError("bad page number(s)")
        ("pdfplumber-tests/tests/pdfs/cupertino_usd_4-6-16.pdf", "flip64", "corrupt_pdf"),
        # xlrd: a damaged compound-document sector table, and a division by zero in its own arithmetic
        ("markitdown-tests/tests/test_files/test.xls", "flip64", "parse_failed:CompDocError"),
        ("markitdown-tests/tests/test_files/test.xls", "flipmagic", "parse_failed:ZeroDivisionError"),
    ],
)
def test_a_library_that_chokes_on_a_damaged_file_gives_a_specific_reason(
    relative: str, variant: str, reason: str, tmp_path: Path
) -> None:
    path = _variant(relative, variant, tmp_path)
    with pytest.raises(ParseError) as raised:
        parse_file(path, path.suffix)
    assert raised.value.reason == reason


def test_a_zip_whose_directory_names_do_not_decode_is_corrupt(tmp_path: Path) -> None:
    """Sniffing the type of a DOCX whose central directory was damaged raised UnicodeDecodeError (a member name
    flagged UTF-8 that is not) and failed the whole expansion step. A damaged DOCX is now `corrupt_office` (its
    parser says so), and the same bytes as a `.zip` archive are `corrupt_archive`."""
    path = _variant("unstructured-example-docs/category-level.docx", "flip64", tmp_path)
    assert archive_kind(path) is None  # a document, damaged: not an archive to expand
    with pytest.raises(ParseError) as raised:
        parse_file(path, ".docx")
    assert raised.value.reason == "corrupt_office"
    archive = path.rename(tmp_path / "bundle.zip")
    assert archive_kind(archive) == "zip"
    with pytest.raises(ArchiveError) as refused:
        expand(archive, tmp_path / "out", Budget(Limits(), archive.stat().st_size))
    assert refused.value.reason == "corrupt_archive"


def test_our_own_bugs_stay_step_failed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An exception raised in docmill's own parser code is not blamed on the file (it stays for the step runner)."""
    from docmill.parsers import text

    monkeypatch.setattr(text, "read_text", None)  # parse_text's own line now raises TypeError
    path = tmp_path / "notes.txt"
    path.write_text("Plain text that a broken parser cannot read.")
    with pytest.raises(TypeError):
        parse_file(path, ".txt")


def test_a_truncated_utf16_or_utf32_text_keeps_what_it_holds(tmp_path: Path) -> None:
    """A text with a UTF-16/32 byte-order mark cut mid-character (a log copied while written, a download cut
    short) raised UnicodeDecodeError in docmill's decoder; the readable text is kept now, the rest is U+FFFD
    (which the quality signals count)."""
    body = "Shift report: boiler pressure normal, valve 7 replaced.\n" * 3
    for codec in ("utf-16", "utf-32"):
        path = tmp_path / f"report-{codec}.txt"
        path.write_bytes(body.encode(codec)[:-3])
        parsed = parse_file(path, ".txt")
        assert "valve 7 replaced" in " ".join(e.text for e in parsed.elements)
        table = tmp_path / f"stock-{codec}.csv"
        table.write_bytes("item,qty\napple,3\npear,5\n".encode(codec)[:-1])
        assert "item: apple; qty: 3" in [e.text for e in parse_file(table, ".csv").elements]


def test_a_yaml_reader_error_is_corrupt_yaml_with_its_position(tmp_path: Path) -> None:
    """PyYAML's reader error (a control character) carries its position as a character offset: `describe`
    indexed it like a (line, column) pair and raised TypeError, so the file ended `step_failed:parse:TypeError`."""
    path = tmp_path / "settings.yaml"
    path.write_bytes(b"owner: facilities\nnote: call\x07 the desk\n")
    with pytest.raises(ParseError) as raised:
        parse_file(path, ".yaml")
    assert raised.value.reason == "corrupt_yaml"
    assert raised.value.message.startswith("ReaderError at character 28: unacceptable character")


def test_an_html_table_with_control_characters_is_read() -> None:
    """A table with C0 control bytes in a cell (a damaged scrape; e.g. `example-10k-1p.html` spliced with another
    file) made lxml refuse the text that docmill's table reader set back into the tree (ValueError: not XML
    compatible), so the page ended `parse_failed:ValueError` although its text was fine."""
    from docmill.parsers.tables import html_table_rows

    rows = html_table_rows(
        "<table><tr><th>Item</th><th>Qty</th></tr><tr><td>Bolts<br>\x0bM8</td><td>40</td></tr></table>"
    )
    assert rows == [["Item", "Qty"], ["Bolts M8", "40"]]
