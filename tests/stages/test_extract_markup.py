"""Web pages, markup and rich-text formats: only content remains, nothing is dropped silently."""

import json
import shutil
from pathlib import Path

import pytest

from docmill.parsers import parse_file


def _write(folder: Path, name: str, data: str | bytes) -> Path:
    target = folder / name
    target.write_bytes(data.encode() if isinstance(data, str) else data)
    return target


def _text(folder: Path, name: str, data: str | bytes) -> str:
    return "\n".join(e.text for e in parse_file(_write(folder, name, data), Path(name).suffix).elements)


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


def test_html_content_in_a_table_row_outside_any_cell_is_kept(tmp_path: Path) -> None:
    """Old table layouts put a footer table or a paragraph straight into a `<tr>` or `<table>` (browsers show
    it); the partitioner skipped it whole (example-steelJIS-datasheet.html lost its copyright footer)."""
    page = (
        "<html><body><table><tr><td>Grade</td><td>SNB22</td></tr><tr><table><tr><td>Free searchable database"
        "</td></tr></table></tr><tr><p>A stray paragraph.</p> loose words</tr><tr><td>Last</td></tr> tail words"
        "<p>Row-level paragraph.</p></table><p>After the table.</p></body></html>"
    )
    text = _text(tmp_path, "layout.html", page)
    wanted = ["Grade", "Free searchable database", "A stray paragraph.", "loose words", "Last", "tail words",
              "Row-level paragraph.", "After the table."]  # fmt: skip
    assert [w for w in wanted if w not in text] == []
    assert text.index("Grade") < text.index("Free searchable database") < text.index("After the table.")


# --- markup formats: content only, syntax gone
_JATS = """<?xml version="1.0"?>
<!DOCTYPE article PUBLIC "-//NLM//DTD JATS (Z39.96) Journal Archiving and Interchange DTD v1.2 20190208//EN"
 "JATS-archivearticle1.dtd">
<article article-type="research-article"><front><article-meta><title-group><article-title>Sleep and memory in mice
</article-title></title-group><abstract><p>Sleep consolidates memory.</p></abstract></article-meta></front>
<body><sec><title>Methods</title><p>We trained 20 mice <xref ref-type="bibr" rid="b1">[1]</xref>.</p></sec></body>
</article>"""
_DOCBOOK = """<?xml version="1.0" encoding="utf-8"?>
<article xmlns="http://docbook.org/ns/docbook" version="5.0"><info><title>Maintenance Manual</title></info>
<section><title>Pumps</title><para>Drain the pump before service.</para>
<itemizedlist><listitem><para>Close valve A</para></listitem></itemizedlist></section></article>"""
_NOTEBOOK = json.dumps(
    {
        "cells": [
            {"cell_type": "markdown", "id": "a1", "metadata": {}, "source": ["# Churn analysis\n", "Load the data."]},
            {
                "cell_type": "code",
                "execution_count": 3,
                "id": "b2",
                "metadata": {},
                "source": ["print(len(rows))"],
                "outputs": [
                    {"output_type": "stream", "name": "stdout", "text": ["1204\n"]},
                    {"output_type": "display_data", "data": {"image/png": "iVBORw0KGgoAAAANSUhEUgAAAAEAAAAB"}},
                ],
            },
        ],
        "metadata": {"kernelspec": {"language": "python", "name": "python3"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
)
MARKUP = {  # file name: (source, content that must remain, syntax that must not)
    "paper.tex": (
        "\\documentclass{article}\n\\title{Thermal Limits}\n\\begin{document}\n\\maketitle\n"
        "\\begin{abstract}\nWe measure the limits.\n\\end{abstract}\n\\section{Introduction}\n"
        "Batteries heat up.\n% a comment\n\\begin{itemize}\n\\item First point\n\\end{itemize}\n\\end{document}\n",
        ["Thermal Limits", "We measure the limits.", "Introduction", "Batteries heat up.", "First point"],
        ["\\section", "\\begin", "documentclass", "a comment"],
    ),
    "article.nxml": (_JATS, ["Sleep and memory in mice", "Sleep consolidates memory.", "Methods"], ["<", "xref"]),
    "manual.dbk": (_DOCBOOK, ["Maintenance Manual", "Drain the pump before service.", "Close valve A"], ["<para"]),
    "river.fb2": (
        '<?xml version="1.0" encoding="utf-8"?><FictionBook xmlns="http://www.gribuser.ru/xml/fictionbook/2.0">'
        "<description><title-info><book-title>The River</book-title></title-info></description><body><section>"
        "<title><p>Chapter One</p></title><p>The river was cold that morning.</p></section></body></FictionBook>",
        ["The River", "Chapter One", "The river was cold that morning."],
        ["<p>", "FictionBook"],
    ),
    "plan.opml": (
        '<?xml version="1.0"?><opml version="2.0"><head><title>Project Outline</title></head><body>'
        '<outline text="Phase one"><outline text="Collect requirements"/></outline></body></opml>',
        ["Project Outline", "Phase one", "Collect requirements"],
        ["outline text"],
    ),
    "guide.adoc": (
        "= Field Guide\nJane Doe\n\n== Setup\n\nInstall the *sensor* first.\n\n* Check the battery\n",
        ["Field Guide", "Setup", "Install the sensor first.", "Check the battery"],
        ["==", "*sensor*"],
    ),
    "city.wiki": (
        "== History ==\nThe '''city''' was founded in [[1201|the year 1201]].\n* Market square\n",
        ["History", "The city was founded in the year 1201.", "Market square"],
        ["'''", "[[", "=="],
    ),
    "notes.textile": (
        'h1. Release notes\n\np. The *new* importer reads "CSV files":http://example.com faster.\n',
        ["Release notes", "The new importer reads CSV files faster."],
        ["h1.", "http://example.com", "*new*"],
    ),
    "report.typ": (
        "#set page(width: 10cm)\n= Lab Report\nThe sample was heated to *80 degrees*.\n- Cooled overnight\n",
        ["Lab Report", "The sample was heated to 80 degrees.", "Cooled overnight"],
        ["#set", "*80"],
    ),
    "meeting.vtt": (
        "WEBVTT\n\nNOTE recorded on site\n\nintro-1\n00:00:01.000 --> 00:00:04.000 align:start\n"
        "<v Alice>Welcome to the <b>quarterly</b> review.\n\n2\n00:00:04.500 --> 00:00:07.250\n"
        "<v Bob>Thanks &amp; welcome.\n",
        ["Alice: Welcome to the quarterly review.", "Bob: Thanks & welcome."],
        ["-->", "00:00", "intro-1", "WEBVTT", "recorded on site", "<b>"],
    ),
    "analysis.ipynb": (_NOTEBOOK, ["Churn analysis", "Load the data.", "print(len(rows))", "1204"],
                       ["nbformat", "cell_type", "iVBORw0KGgo", "execution_count"]),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(MARKUP))
def test_markup_is_read_as_its_format(tmp_path: Path, name: str) -> None:
    source, content, syntax = MARKUP[name]
    text = _text(tmp_path, name, source)
    assert [c for c in content if c not in text] == []
    assert [s for s in syntax if s in text] == []
    if not name.endswith(".vtt"):  # the document's title or first heading is a title element, not run-in text
        titles = [e.text for e in parse_file(tmp_path / name, Path(name).suffix).elements if e.kind == "title"]
        assert content[0] in titles


@pytest.mark.parametrize(
    ("name", "source", "needle"),
    [
        ("article.xml", _JATS, "Sleep consolidates memory."),
        ("manual.xml", _DOCBOOK, "Drain the pump before service."),
        ("analysis.json", _NOTEBOOK, "print(len(rows))"),
        ("captions", MARKUP["meeting.vtt"][0], "Alice: Welcome to the quarterly review."),
    ],
)
def test_markup_dialects_are_recognised_by_content(tmp_path: Path, name: str, source: str, needle: str) -> None:
    """A JATS or DocBook file named .xml, a notebook named .json, captions without an extension."""
    elements = parse_file(_write(tmp_path, name, source), Path(name).suffix).elements
    assert needle in [e.text for e in elements]  # a paragraph of its own: the format's structure was read
    text = "\n".join(e.text for e in elements)
    assert "<" not in text and "cell_type" not in text and "-->" not in text


def test_a_missing_pandoc_reader_is_a_specific_quarantine_reason(tmp_path: Path, monkeypatch) -> None:
    from docmill.parsers import ParseError, pandoc

    system = shutil.which("pandoc")
    if system is None or "typst" in pandoc._describe(system).readers:  # type: ignore[union-attr]
        pytest.skip("needs a pandoc without the Typst reader")
    monkeypatch.setattr(pandoc, "_candidates", lambda: [system])
    (tmp_path / "report.typ").write_text("= Lab Report\nText.\n")
    with pytest.raises(ParseError) as error:
        parse_file(tmp_path / "report.typ", ".typ")
    assert error.value.reason == "missing_dependency:pandoc-typst-reader"


def test_rss_feed_is_items_not_xml(tmp_path: Path) -> None:
    feed = (
        '<?xml version="1.0"?><rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/">'
        "<channel><title>Plant news</title><link>https://example.com</link><item><title>New boiler installed"
        "</title><link>https://example.com/boiler</link><content:encoded><![CDATA[<p>The <b>boiler</b> runs."
        "</p><p>Savings start in May.</p>]]></content:encoded></item></channel></rss>"
    )
    text = _text(tmp_path, "news.xml", feed)
    assert text.splitlines() == ["Plant news", "New boiler installed", "The boiler runs.", "Savings start in May."]


# --- rich-text JSON: the text, not its key paths
RICH_TEXT = {
    "box-note.boxnote": {
        "doc": {
            "type": "doc",
            "content": [
                {"type": "heading", "attrs": {"level": 1}, "content": [{"type": "text", "text": "Launch plan"}]},
                {
                    "type": "paragraph",
                    "content": [
                        {"type": "text", "text": "Ship the "},
                        {"type": "text", "marks": [{"type": "strong"}], "text": "beta"},
                        {"type": "text", "text": " in March."},
                    ],
                },
            ],
        },
        "version": 412,
        "schema_version": 1,
    },
    "slate.json": [
        {"type": "heading-one", "children": [{"text": "Launch plan"}]},
        {"type": "paragraph", "children": [{"text": "Ship the "}, {"text": "beta", "bold": True}, {"text": " in March."}]},  # noqa: E501
    ],
    "draft.json": {
        "blocks": [
            {"key": "a1b2c", "text": "Launch plan", "type": "header-one", "depth": 0, "inlineStyleRanges": []},
            {"key": "d3e4f", "text": "Ship the beta in March.", "type": "unstyled", "depth": 0, "entityRanges": []},
        ],
        "entityMap": {},
    },
    "quill.json": {"ops": [{"insert": "Launch plan"}, {"insert": "\n", "attributes": {"header": 1}},
                           {"insert": "Ship the "}, {"insert": "beta", "attributes": {"bold": True}},
                           {"insert": " in March.\n"}]},
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(RICH_TEXT))
def test_rich_text_json_gives_its_text(tmp_path: Path, name: str) -> None:
    target = tmp_path / name
    target.write_text(json.dumps(RICH_TEXT[name]))
    elements = parse_file(target, ".json").elements
    assert [e.text for e in elements] == ["Launch plan", "Ship the beta in March."]
    if name != "quill.json":  # a Quill delta marks headings on the newline after them: not read
        assert elements[0].kind == "title"


def test_record_json_keeps_its_field_names(tmp_path: Path) -> None:
    record = {"customer": "Acme GmbH", "orders": [{"sku": "X-1", "quantity": 3}], "text": "Deliver to gate 4"}
    text = _text(tmp_path, "order.json", json.dumps(record))
    assert "customer: Acme GmbH" in text and "orders[0].quantity: 3" in text and "text: Deliver to gate 4" in text


def test_structured_booleans_read_as_the_file_writes_them(tmp_path: Path) -> None:
    """JSON's and YAML's `true`/`false` came out as Python's `True`/`False`: words the file does not hold."""
    text = _text(tmp_path, "stock.json", '[{"sku": "GRD-8842", "in_stock": true, "discontinued": false}]')
    assert "in_stock: true" in text and "discontinued: false" in text
    assert "in_stock: true" in _text(tmp_path, "stock.yaml", "sku: GRD-8842\nin_stock: true\n")


def test_deeply_nested_xml_is_read_not_called_corrupt(tmp_path: Path) -> None:
    """Well-formed XML nested past libxml2's default 256 levels was quarantined as `corrupt_xml`."""
    nested = "<n>" * 400 + "deep text" + "</n>" * 400
    text = _text(tmp_path, "deep.xml", f'<?xml version="1.0"?><root><a>first</a><b>{nested}</b><c>last</c></root>')
    assert text.splitlines() == ["first", "deep text", "last"]


def test_deeply_nested_lists_in_html_keep_the_rest_of_the_page(tmp_path: Path) -> None:
    nested = "<ul><li>" * 300 + "Innermost item." + "</li></ul>" * 300
    page = f"<html><body><p>Before the list.</p>{nested}<p>After the list.</p></body></html>"
    text = _text(tmp_path, "lists.html", page)
    assert text.index("Before the list.") < text.index("Innermost item.") < text.index("After the list.")
