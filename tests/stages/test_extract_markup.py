"""Web pages, markup and rich-text formats: only content remains, nothing is dropped silently."""

import importlib.util
import re
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from docmill.parsers import parse_file


def _text(folder: Path, name: str, data: str | bytes) -> str:
    target = folder / name
    target.write_bytes(data.encode() if isinstance(data, str) else data)
    return "\n".join(e.text for e in parse_file(target, Path(name).suffix).elements)


def test_html_figure_alt_text_and_caption_are_content(tmp_path: Path) -> None:
    page = (
        "<html><body><figure><img src='data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAAB' "
        "alt='Bar chart of revenue by region'><figcaption>Figure 1: Revenue grew in every region."
        "</figcaption></figure></body></html>"
    )
    text = _text(tmp_path, "figure.html", page)  # used to end `empty`
    assert "Bar chart of revenue by region" in text
    assert "Figure 1: Revenue grew in every region." in text
    assert "base64" not in text


def test_html_details_and_formulas_are_content(tmp_path: Path) -> None:
    page = (
        "<html><body><p>Terms below.</p><details><summary>Refund policy</summary><p>Refunds within 30 days."
        "</p></details><p>Energy: <math alttext='E = m c^2'><mi>E</mi></math> holds.</p></body></html>"
    )
    text = _text(tmp_path, "terms.html", page)
    assert "Refund policy" in text and "Refunds within 30 days." in text and "E = m c^2" in text


@pytest.mark.parametrize("depth", [300, 5000])
def test_deeply_nested_html_keeps_the_rest_of_the_page(tmp_path: Path, depth: int) -> None:
    """libxml2 stopped at 256 levels and dropped everything after: the page was reported embedded half-read."""
    nested = "<div><span>" * depth + "<p>Deep content inside.</p>" + "</span></div>" * depth
    page = (
        f"<html><body><h1>Annual report</h1><p>Before the nesting.</p>{nested}<p>After the nesting.</p></body></html>"
    )
    text = _text(tmp_path, f"deep{depth}.html", page)
    assert text.index("Before the nesting.") < text.index("Deep content inside.") < text.index("After the nesting.")
    assert "Annual report" in text


# --- markitdown's own test vectors (shared corpus), for the web, feed, notebook, JSON, CSV, EPUB, MSG and ZIP files
_VECTOR_FILES = {"html", "xml", "ipynb", "json", "csv", "epub", "msg", "zip"}
_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_LABEL = re.compile(r"^\*\*[^*]+:\*\*\s*")
_BRACKETS = re.compile(r"\[([^\]]*)\]")
# Headings markitdown's Outlook converter writes around a message's fields: not in the file.
_MARKITDOWN_SCAFFOLD = {"# Email Message", "## Content"}


def _vectors(shared_corpus: Path) -> list[Any]:
    path = shared_corpus.parent / "markitdown-tests" / "tests" / "_test_vectors.py"
    spec = importlib.util.spec_from_file_location("markitdown_test_vectors", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolves annotations through the module
    spec.loader.exec_module(module)
    return [v for v in module.GENERAL_TEST_VECTORS if v.filename.rsplit(".", 1)[-1] in _VECTOR_FILES]


def content_strings(vector: str) -> list[str]:
    """The content of a markitdown `must_include` string, its Markdown syntax stripped: link and image text
    without targets, no heading, list, quote or emphasis marks, table cells one by one, code fences and
    separator rows dropped, and markitdown's own `**Field:**` labels dropped (the field's value stays).
    A bare link target (`](https://...`) is not text: it gives nothing."""
    if vector.startswith(("```", "](")) or vector in _MARKITDOWN_SCAFFOLD:
        return []
    if vector.startswith("|"):
        cells = [c.strip() for c in vector.strip("|").split("|")]
        return [c for c in cells if c and not set(c) <= set("-: ")]
    text = _BRACKETS.sub(r"\1", _LINK.sub(r"\1", _LABEL.sub("", vector)))  # a cut link: `[Unix]`
    text = re.sub(r"^(?:#+|[*+-]|>)\s+", "", text).replace("**", "")
    text = re.sub(r"(?<!\w)\*([^*]+)\*(?!\w)", r"\1", text)
    return [text.strip()] if text.strip() else []


def _squash(text: str) -> str:
    return " ".join(text.split())


def _extracted(source: Path, tmp_path: Path) -> tuple[str, list[str]]:
    """The file's text, and for a ZIP the names of the members in this test's formats (their text only)."""
    if source.suffix != ".zip":
        return "\n".join(e.text for e in parse_file(source, source.suffix).elements), []
    texts, members = [], []
    with zipfile.ZipFile(source) as archive:  # ingest expands archives; here only each member's text matters
        for member in archive.namelist():
            if member.rsplit(".", 1)[-1] in _VECTOR_FILES - {"zip"}:
                target = tmp_path / Path(member).name
                target.write_bytes(archive.read(member))
                texts += [e.text for e in parse_file(target, target.suffix).elements]
                members.append(Path(member).name)
    return "\n".join(texts), members


@pytest.mark.parametrize("index", range(10))
def test_markitdown_vectors(shared_corpus: Path, tmp_path: Path, index: int) -> None:
    vectors = _vectors(shared_corpus)
    assert len(vectors) == 10  # the selection above: a changed vectors file must change this test
    vector = vectors[index]
    source = shared_corpus.parent / "markitdown-tests" / "tests" / "test_files" / vector.filename
    extracted, members = _extracted(source, tmp_path)
    text = _squash(extracted)
    wanted = vector.must_include
    if members:  # a ZIP: the strings its members' own vectors attribute to them
        own = {s for v in vectors if v.filename in members for s in v.must_include}
        wanted = [s for s in wanted if s in own]
        assert wanted
    missing = [c for v in wanted for c in content_strings(v) if _squash(c) not in text]
    assert not missing, f"{vector.filename}: missing {missing}"
    present = [s for s in vector.must_not_include if s in text]
    assert not present, f"{vector.filename}: must not include {present}"
