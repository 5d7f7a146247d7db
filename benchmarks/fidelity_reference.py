"""References for extraction fidelity, shared by `fidelity_benchmark.py` and the tests.

- PDFs: the words of pymupdf's `get_text()` of the same pages (born-digital PDFs: a text layer).
- markitdown's test vectors: `must_include` / `must_not_include` strings of
  `markitdown-tests/tests/_test_vectors.py`, loaded from that file (never copied); Markdown syntax is stripped
  from them, since what matters is the content.
- Words: whitespace-separated, NFKC-normalised (a ligature `ﬁ` and `fi` are the same word), control
  characters dropped, Markdown table pipes and `|---|` rows removed.
"""

from __future__ import annotations

import importlib.util
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "corpus"
VECTORS = Path("markitdown-tests/tests/_test_vectors.py")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_DATA_URI = re.compile(r"data:[\w/+.-]+;base64[^\s)\]]*")  # an image's bytes (or markitdown's `...` for them)
_LINK = re.compile(r"!?\[([^\]]*)\](?:\([^)]*\))?")  # [text](url), [text] and ![alt](src) -> text / alt
_MARKUP = re.compile(r"^\s*(?:#+|[*+-]|>|\d+\.)\s+|\*\*|__|`{1,3}\w*|(?<!\w)[*_](?=\S)|(?<=\S)[*_](?!\w)", re.M)


def words(text: str) -> Counter[str]:
    """NFKC words of a text that may hold Markdown tables; control characters (a stray BEL glued to a word in
    one extraction mode and not in the other) are not text."""
    from docmill.parsers.pdf_tables import markdown_words

    return markdown_words(_CONTROL.sub("", unicodedata.normalize("NFKC", text)))


def born_digital_pdfs(shared: Path = SHARED) -> list[Path]:
    """PDFs of all shared corpora whose text layer holds words (scans and broken files excluded), sorted."""
    import pymupdf

    found = []
    for path in sorted(shared.rglob("*.pdf")):
        try:
            with pymupdf.open(path) as doc:
                if not doc.needs_pass and any(page.get_text().split() for page in doc):
                    found.append(path)
        except Exception:
            continue
    return found


def page_text_words(path: Path) -> Counter[str]:
    """Words of pymupdf's `get_text()` over every page: the PDF reference."""
    import pymupdf

    found: Counter[str] = Counter()
    with pymupdf.open(path) as doc:
        for page in doc:
            found.update(words(page.get_text()))
    return found


def precision_recall(ours: Counter[str], reference: Counter[str]) -> tuple[float, float]:
    """Word precision and recall of `ours` against `reference` (multisets); 1.0 for empty sides."""
    common = sum((ours & reference).values())
    return common / max(sum(ours.values()), 1) if ours else 1.0, common / max(sum(reference.values()), 1)


def word_scores(path: Path) -> tuple[float, float]:
    """Precision and recall of docmill's PDF words (its parser in this process, OCR off: a text layer is
    compared with a text layer) against `get_text()`."""
    from docmill.parsers import OPTIONS
    from docmill.parsers.pdf import parse_pdf

    saved = OPTIONS.get("ocr")
    OPTIONS["ocr"] = False
    try:
        elements = parse_pdf(path).elements
    finally:
        OPTIONS.pop("ocr") if saved is None else OPTIONS.update(ocr=saved)
    ours: Counter[str] = Counter()
    for element in elements:
        ours.update(words(element.text))
    return precision_recall(ours, page_text_words(path))


def load_vectors(shared: Path = SHARED) -> list[Any]:
    """markitdown's `GENERAL_TEST_VECTORS` (file name, `must_include`, `must_not_include`), from its file."""
    spec = importlib.util.spec_from_file_location("markitdown_test_vectors", shared / VECTORS)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return list(module.GENERAL_TEST_VECTORS)


def vector_file(vector: Any, shared: Path = SHARED) -> Path:
    """The test file a vector names."""
    return shared / VECTORS.parent / "test_files" / vector.filename


def content(markdown: str) -> str:
    """A vector string without its Markdown syntax: the words a faithful extraction must hold, one space apart
    (`## Title` -> `Title`, `**From:** x` -> `From: x`, `[Unix](/wiki/Unix)` -> `Unix`, table pipes dropped)."""
    text = _LINK.sub(r"\1", _DATA_URI.sub(" ", markdown))
    text = _MARKUP.sub("", text)
    text = re.sub(r"\|\s*-{3,}\s*(?=\|)|\|", " ", text)
    return " ".join(unicodedata.normalize("NFKC", text).split())


# markitdown's own wrapping, not text of any file: the headings its Outlook converter writes around a message,
# `**Field:**` labels before a value, code fences and bare link targets (`](https://...`, an attribute of the
# markup, not text a reader sees).
_SCAFFOLD = {"# Email Message", "## Content"}
_LABEL = re.compile(r"^\*\*[^*]+:\*\*\s*")


def vector_content(string: str) -> list[str]:
    """The content of one markitdown `must_include` string: nothing for markitdown's own wrapping, the cells of
    a table row (in order), else the string without its Markdown syntax and field label."""
    if string in _SCAFFOLD or string.startswith(("```", "](")):
        return []
    if string.lstrip().startswith("|"):
        cells = [content(cell) for cell in string.strip().strip("|").split("|")]
        return [cell for cell in cells if cell and not set(cell) <= set("-: ")]
    piece = content(_LABEL.sub("", string))
    return [piece] if piece else []


def vector_found(string: str, text: str) -> bool:
    """Whether a `must_include` string's content is in an extracted text; a table row's cells must appear in
    its order on one line (a Markdown row, or a `header: value; ...` record)."""
    pieces = vector_content(string)
    if string in text or not pieces:
        return True
    if string.lstrip().startswith("|"):
        return any(_in_order(pieces, content(line)) for line in text.splitlines())
    flat = content(text)
    return all(piece in flat for piece in pieces)


def _in_order(pieces: list[str], line: str) -> bool:
    at = 0
    for piece in pieces:
        at = line.find(piece, at)
        if at < 0:
            return False
        at += len(piece)
    return True


def present(string: str, text: str) -> bool:
    """Whether a vector string is in an extracted text: as written, or its content in the text's content (a
    string that is only syntax, like a data URI, counts as written only)."""
    wanted = content(string)
    return string in text or (bool(wanted) and wanted in content(text))


# Cell values that pdfplumber's own tests assert (tests/test_table.py, test_nics_report.py, test_ca_warn_report.py)
PDFPLUMBER_VALUES: dict[str, list[str]] = {
    "issue-140-example.pdf": ["0085648100300", "CENTRAL KMA", "LILYS 55% DARK CHOC BAR", "415", "$ 0.61", "$ 253.15"],
    "senate-expenditures.pdf": ["DHAW20190070", "09/09/2019", "CITIBANK - TRAVEL CBA CARD", "08/12/2019", "08/14/2019"],
    "issue-53-example.pdf": ["FY2013", "FY2014"],
    "table-curves-example.pdf": ["Uncommon"],
    "nics-background-checks-2015-11.pdf": ["Alabama", "71,137", "Wyoming", "5,017", "November - 2015"],
    "nics-background-checks-2015-11-rotated.pdf": ["Alabama", "71,137", "Wyoming", "5,017", "November - 2015"],
    "WARN-Report-for-7-1-2015-to-03-25-2016.pdf": [
        *["Notice Date", "Effective", "Received", "Company", "City", "No. Of", "Layoff/Closure"],
        *["06/22/2015", "03/25/2016", "07/01/2015", "Maxim Integrated Product", "San Jose", "150", "Closure Permanent"],
    ],
}


@dataclass(slots=True)
class Reference:
    """One file and what a faithful extraction of it holds."""

    path: Path
    fmt: str
    expected: Counter[str]  # words that must be found
    full: bool  # `expected` is the whole text: precision is measured against it
    forbidden: list[str] = field(default_factory=list)  # content that must not appear
    source: str = ""


def _fmt(path: Path) -> str:
    return path.suffix.lower().lstrip(".") or "none"


def _generated(scratch: Path) -> list[Reference]:
    """docmill's sample generators' files, with the prose they were written with."""
    from docmill import samples

    made = {
        "generated.pdf": (
            samples.make_pdf("Employee Handbook", 1, 3),
            samples.paragraphs(101, 3) + samples.paragraphs(102, 3),
            [],
        ),
        "generated.docx": (samples.make_docx(3), samples.paragraphs(3, 4), []),
        "generated.pptx": (samples.make_pptx(4), samples.paragraphs(4, 3, 2), []),
        "generated.html": (samples.make_html(5), samples.paragraphs(5, 3), ["tracking", "font-family"]),
        "generated.md": (samples.make_markdown(6), samples.paragraphs(6, 3), []),
    }
    scratch.mkdir(parents=True, exist_ok=True)
    refs = []
    for name, (data, known, forbidden) in made.items():
        (scratch / name).write_bytes(data)
        refs.append(
            Reference(
                scratch / name, _fmt(scratch / name), words(content(" ".join(known))), False, forbidden, "generated"
            )
        )
    return refs


def references(shared: Path = SHARED, scratch: Path | None = None) -> list[Reference]:
    """Every reference file: markitdown's vectors and expected outputs, pdfplumber's asserted cell values and
    reference transcript, and (with a scratch folder) generated fixtures."""
    refs = []
    expected_dir = shared / VECTORS.parent / "test_files" / "expected_outputs"
    for vector in load_vectors(shared):
        path = vector_file(vector, shared)
        wanted: Counter[str] = Counter()
        for string in vector.must_include:
            wanted.update(words(" ".join(vector_content(string))))
        refs.append(Reference(path, _fmt(path), wanted, False, list(vector.must_not_include), "markitdown-vector"))
    for md in sorted(expected_dir.glob("*.md")):
        pdf = expected_dir.parent / f"{md.stem}.pdf"
        reference = words(content(md.read_text()))
        if pdf.exists() and pdf.name != "test.pdf" and reference:  # test.pdf has its vector; an empty one: a scan
            refs.append(Reference(pdf, "pdf", reference, True, [], "markitdown-expected"))
    pdfs = shared / "pdfplumber-tests/tests/pdfs"
    for name, values in PDFPLUMBER_VALUES.items():
        refs.append(Reference(pdfs / name, "pdf", words(content(" ".join(values))), False, [], "pdfplumber-values"))
    transcript = shared / "pdfplumber-tests/tests/comparisons/scotus-transcript-p1.txt"
    refs.append(
        Reference(pdfs / "scotus-transcript-p1.pdf", "pdf", words(transcript.read_text()), True, [], "pdfplumber-text")
    )
    if scratch is not None:
        refs += _generated(scratch / "generated")
    return refs


def score(ref: Reference, text: str) -> tuple[float, float, float]:
    """Recall, precision and F1 of an extracted text against a reference (0, 0, 0 for no text).

    Precision: against the full reference text; for partial references, the share of `forbidden` strings absent.
    """
    if not text.strip():
        return 0.0, 0.0, 0.0
    found = words(content(text))
    recall = sum((found & ref.expected).values()) / max(sum(ref.expected.values()), 1)
    if ref.full:
        precision = sum((found & ref.expected).values()) / max(sum(found.values()), 1)
    else:
        precision = 1 - sum(present(s, text) for s in ref.forbidden) / max(len(ref.forbidden), 1)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return recall, precision, f1
