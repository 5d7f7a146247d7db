"""Web pages, markup and rich-text formats: only content remains, nothing is dropped silently."""

from pathlib import Path

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
