"""References for extraction fidelity, shared by `fidelity_benchmark.py` and the tests.

- PDFs: the words of pymupdf's `get_text()` of the same pages (born-digital PDFs: a text layer).
- markitdown's test vectors: `must_include` / `must_not_include` strings of
  `markitdown-tests/tests/_test_vectors.py`, loaded from that file (never copied); Markdown syntax is stripped
  from them, since what matters is the content.
- Words: whitespace-separated, NFKC-normalised (a ligature `ﬁ` and `fi` are the same word), with Markdown
  table pipes and `|---|` rows removed.
"""

from __future__ import annotations

import importlib.util
import re
import unicodedata
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "corpus"
VECTORS = Path("markitdown-tests/tests/_test_vectors.py")
_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")  # [text](url) and ![alt](src) -> text / alt
_MARKUP = re.compile(r"^\s*(?:#+|[*+-]|>|\d+\.)\s+|\*\*|__|`{1,3}\w*|(?<!\w)[*_](?=\S)|(?<=\S)[*_](?!\w)", re.M)


def words(text: str) -> Counter[str]:
    """NFKC words of a text that may hold Markdown tables."""
    from docmill.parsers.pdf_tables import markdown_words

    return markdown_words(unicodedata.normalize("NFKC", text))


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
    text = _LINK.sub(r"\1", markdown)
    text = _MARKUP.sub("", text)
    text = re.sub(r"\|\s*-{3,}\s*(?=\|)|\|", " ", text)
    return " ".join(unicodedata.normalize("NFKC", text).split())


def normalised(text: str) -> str:
    """An extracted text as `content` compares it: Markdown syntax stripped, whitespace collapsed."""
    return content(text)
