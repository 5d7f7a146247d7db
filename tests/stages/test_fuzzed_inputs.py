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


def test_a_zip_whose_directory_names_do_not_decode_is_a_corrupt_archive(tmp_path: Path) -> None:
    """Sniffing the type of a DOCX whose central directory was damaged raised UnicodeDecodeError (a member name
    flagged UTF-8 that is not) and failed the whole expansion step; it is a ZIP that cannot be read now."""
    path = _variant("unstructured-example-docs/category-level.docx", "flip64", tmp_path)
    assert archive_kind(path) == "zip"  # read as what its bytes are: a ZIP (not an Office package)
    with pytest.raises(ArchiveError) as raised:
        expand(path, tmp_path / "out", Budget(Limits(), path.stat().st_size))
    assert raised.value.reason == "corrupt_archive"


def test_our_own_bugs_stay_step_failed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An exception raised in docmill's own parser code is not blamed on the file (it stays for the step runner)."""
    from docmill.parsers import text

    monkeypatch.setattr(text, "read_text", None)  # parse_text's own line now raises TypeError
    path = tmp_path / "notes.txt"
    path.write_text("Plain text that a broken parser cannot read.")
    with pytest.raises(TypeError):
        parse_file(path, ".txt")
