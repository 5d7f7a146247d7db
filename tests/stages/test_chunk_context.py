"""Chunks that keep their context: heading paths, table header rows, contextualized embedding text, and rows
that no chunk boundary cuts (real files: generated DOCX, PDF, CSV and XLSX, shared-corpus files)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from docmill.config.settings import ChunkConfig, CleanConfig
from docmill.parsers import parse_file
from docmill.parsers.text import markdown_elements
from docmill.records import Chunk, Document, config_hash, sha256_hex
from docmill.samples import make_csv
from docmill.stages.chunk import chunk_document
from docmill.stages.clean import clean_document
from docmill.stages.enrich import titled


def _document(path: Path) -> Document:
    parsed = parse_file(path, path.suffix.lower())
    return clean_document(
        Document(sha256_hex(path.read_bytes()), path.as_uri(), path.suffix, parsed.elements), CleanConfig()
    )


def _chunks(path: Path, tokenizer, **config) -> tuple[Document, list[Chunk]]:  # type: ignore[no-untyped-def]
    doc = _document(path)
    return doc, chunk_document(doc, ChunkConfig(**config), tokenizer)


def _headings_of(chunks: list[Chunk], words: str) -> list[str]:
    return next(c.metadata["headings"] for c in chunks if words in c.text)


_BODY = "This paragraph explains the rule in plain words so that every employee can follow it. " * 3


def test_docx_heading_styles_give_the_heading_path(tmp_path: Path, tokenizer) -> None:
    import docx

    document = docx.Document()
    document.add_heading("Employee Handbook", 0)  # the Title style
    document.add_heading("Leave", 1)
    document.add_paragraph("Annual leave: " + _BODY)
    document.add_heading("Sick leave", 2)
    document.add_paragraph("Sick notes: " + _BODY)
    document.add_heading("Parental leave", 2)
    document.add_paragraph("Parents: " + _BODY)
    document.add_heading("Travel", 1)
    document.add_paragraph("Trains: " + _BODY)
    document.save(tmp_path / "handbook.docx")
    _, chunks = _chunks(tmp_path / "handbook.docx", tokenizer, max_tokens=32)
    assert _headings_of(chunks, "Annual leave") == ["Employee Handbook", "Leave"]
    assert _headings_of(chunks, "Sick notes") == ["Employee Handbook", "Leave", "Sick leave"]
    assert _headings_of(chunks, "Parents") == ["Employee Handbook", "Leave", "Parental leave"]
    assert _headings_of(chunks, "Trains") == ["Employee Handbook", "Travel"]
    assert chunks[0].metadata["headings"][0] == "Employee Handbook"
    continued = [c for c in chunks if "Sick notes" not in c.text and "Sick leave" in str(c.metadata["headings"])]
    assert continued, "a section's later chunks keep its path"


def _pdf(path: Path, outline: bool) -> Path:
    """Two pages: a 20 pt title, 14 pt sections, a bold 10 pt subsection, 10 pt body text (Helvetica)."""
    import pymupdf

    doc = pymupdf.open()
    layout = [
        [("Annual Report", 20, "helv"), ("Revenue", 14, "helv"), ("Sales grew in every region.", 10, "helv")],
        [("Costs", 14, "helv"), ("Energy", 10, "hebo"), ("Energy prices rose again this year.", 10, "helv")],
    ]
    for blocks in layout:
        page = doc.new_page()
        y = 72.0
        for text, size, font in blocks:
            body = size == 10 and font == "helv"
            lines = [f"{text} Line {n} of the body text continues here." for n in range(4)] if body else [text]
            for line in lines:
                page.insert_text((72, y), line, fontsize=size, fontname=font)
                y += size * 1.3
            y += 28
    if outline:  # levels unlike the fonts': the outline decides
        doc.set_toc([[1, "Annual Report", 1], [2, "Revenue", 1], [1, "Costs", 2], [2, "Energy", 2]])
    doc.save(path)
    return path


def test_pdf_outline_gives_the_heading_path(tmp_path: Path, tokenizer) -> None:
    _, chunks = _chunks(_pdf(tmp_path / "outline.pdf", outline=True), tokenizer, max_tokens=48)
    assert _headings_of(chunks, "Sales grew") == ["Annual Report", "Revenue"]
    assert _headings_of(chunks, "Energy prices") == ["Costs", "Energy"]


def test_pdf_without_outline_takes_heading_levels_from_font_size_and_weight(tmp_path: Path, tokenizer) -> None:
    doc, chunks = _chunks(_pdf(tmp_path / "fonts.pdf", outline=False), tokenizer, max_tokens=48)
    levels = {e.text: e.level for e in doc.elements if e.kind == "title"}
    assert levels == {"Annual Report": 1, "Revenue": 2, "Costs": 2, "Energy": 3}
    assert _headings_of(chunks, "Sales grew") == ["Annual Report", "Revenue"]
    assert _headings_of(chunks, "Energy prices") == ["Annual Report", "Costs", "Energy"]


def test_markdown_heading_levels() -> None:
    elements = markdown_elements("# Guide\n\nIntro.\n\n## Setup\n\nSteps.\n\n### Linux\n\nApt.\n\n## Use\n\nRun.")
    assert [(e.text, e.level) for e in elements if e.kind == "title"] == [
        ("Guide", 1),
        ("Setup", 2),
        ("Linux", 3),
        ("Use", 2),
    ]


def _inventory(folder: Path) -> Path:
    path = folder / "inventory.csv"
    path.write_bytes(make_csv())
    return path


@pytest.mark.parametrize("budget", [None, 40])
def test_csv_chunks_start_at_a_row_and_overlap_whole_rows(tmp_path: Path, tokenizer, budget) -> None:
    doc, chunks = _chunks(_inventory(tmp_path), tokenizer, max_tokens=budget)
    assert len(chunks) > 1
    for item in chunks[1:]:
        records = item.text.split("\n\n")
        assert all(r.startswith("sku: SKU-") and "; quantity: " in r for r in records), item.text[:80]
        assert item.text == doc.text[item.char_start : item.char_end]


def test_csv_continuation_chunks_repeat_the_header_outside_the_span(tmp_path: Path, tokenizer) -> None:
    _, chunks = _chunks(_inventory(tmp_path), tokenizer, max_tokens=40)
    assert chunks[0].text.startswith("sku | item | warehouse | quantity") and chunks[0].context == ""
    for item in chunks[1:]:
        assert item.context == "sku | item | warehouse | quantity"
        assert "sku | item" not in item.text
        assert item.embedding_text.endswith("\n\n" + item.text)
        assert item.metadata["headings"] == []  # the CSV header heads the rows, it is no section heading


def test_xlsx_chunks_start_at_a_row_and_repeat_the_header_row(tmp_path: Path, tokenizer) -> None:
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Orders"
    sheet.append(["Order", "Customer", "Amount"])
    for n in range(1, 61):
        sheet.append([f"ORD-{n:05d}", f"Customer {n}", n * 10])
    book.save(tmp_path / "orders.xlsx")
    doc, chunks = _chunks(tmp_path / "orders.xlsx", tokenizer, max_tokens=64)
    table = [c for c in chunks if "ORD-" in c.text]
    assert len(table) > 2
    header = "| Order | Customer | Amount |"
    for item in table[1:]:
        assert item.text.startswith("| ORD-"), item.text[:40]
        assert all(line.startswith("|") and line.endswith("|") for line in item.text.split("\n"))
        assert item.context == "Sheet: Orders\n" + header
        assert item.metadata["headings"] == ["Sheet: Orders"]
        assert item.text == doc.text[item.char_start : item.char_end]
    assert table[0].context == "Sheet: Orders"  # the first chunk holds the header row itself


_SHARED = [
    "unstructured-example-docs/pdf/layout-parser-paper-fast.pdf",
    "unstructured-example-docs/stanley-cups.xlsx",
    "unstructured-example-docs/fake.docx",
    "unstructured-example-docs/example-10k-1p.html",
    "unstructured-example-docs/README.md",
    "unstructured-example-docs/semicolon-delimited.csv",
    "pdfplumber-tests/tests/pdfs/pdf_structure.pdf",
]


def test_every_chunk_is_its_exact_span_with_or_without_context(shared_corpus: Path, tmp_path: Path, tokenizer):
    root = shared_corpus.parent
    found = [root / name for name in _SHARED if (root / name).is_file()]
    assert len(found) >= 5, found
    for source in found:
        copy = tmp_path / source.name
        shutil.copy2(source, copy)
        doc = _document(copy)
        plain = chunk_document(doc, ChunkConfig(contextualize=False), tokenizer)
        framed = chunk_document(doc, ChunkConfig(), tokenizer)  # the budget leaves room for the context
        small = [chunk_document(doc, ChunkConfig(max_tokens=64, contextualize=flag), tokenizer) for flag in (0, 1)]
        assert [(c.text, c.char_start, c.char_end) for c in small[0]] == [
            (c.text, c.char_start, c.char_end) for c in small[1]
        ], "where the budget leaves room, the context changes no boundary"
        for item in [*plain, *framed, *small[0], *small[1]]:
            assert item.text == doc.text[item.char_start : item.char_end], source.name
            assert isinstance(item.metadata["headings"], list)


def test_contextualize_changes_the_embedded_text_and_cache_key_not_the_text(tmp_path: Path, tokenizer) -> None:
    doc = _document(_inventory(tmp_path))
    plain = chunk_document(doc, ChunkConfig(contextualize=False, max_tokens=40), tokenizer)
    framed = chunk_document(doc, ChunkConfig(max_tokens=40), tokenizer)
    titled(plain, "Inventory", tokenizer)
    titled(framed, "Inventory", tokenizer)
    for a, b in zip(plain, framed, strict=True):
        assert (a.text, a.char_start, a.char_end, a.chunk_id) == (b.text, b.char_start, b.char_end, b.chunk_id)
        assert a.context is None and a.embedding_text == a.text and a.cache_key == a.text_hash
        assert b.embedding_text.startswith("Inventory\n") and b.embedding_text.endswith(b.text)
        assert b.cache_key not in (b.text_hash, a.cache_key)
    assert plain[0].metadata["chunk_config"] != framed[0].metadata["chunk_config"]
    assert config_hash(ChunkConfig()) != config_hash(ChunkConfig(contextualize=False))


def test_embed_encodes_the_contextualized_text(tmp_path: Path, tokenizer, embedder) -> None:
    from docmill.config.settings import EmbedConfig
    from docmill.stages.embed import embed

    doc = _document(_inventory(tmp_path))
    runs = {}
    for flag in (False, True):
        chunks = chunk_document(doc, ChunkConfig(contextualize=flag, max_tokens=40), tokenizer)
        for item in chunks:
            item.metadata["title"] = "Inventory"
        embed(chunks, EmbedConfig(), embedder, lambda keys, model: {})
        runs[flag] = chunks
    expected = embedder.encode([runs[True][1].embedding_text])[0]
    assert abs(float(runs[True][1].vector @ expected) - 1.0) < 1e-4
    assert float(runs[True][1].vector @ runs[False][1].vector) < 0.999


def test_html_heading_tags_give_the_heading_path(tmp_path: Path, tokenizer) -> None:
    page = "<html><body><h1>Guide</h1><p>{}</p><h2>Setup</h2><p>{}</p><h3>Linux</h3><p>{}</p><h2>Use</h2><p>{}</p>"
    sentences = [f"{word} explains the steps one at a time for every reader of this guide." for word in "ABCD"]
    (tmp_path / "guide.html").write_text(page.format(*sentences) + "</body></html>")
    _, chunks = _chunks(tmp_path / "guide.html", tokenizer)
    assert _headings_of(chunks, "C explains") == ["Guide", "Setup", "Linux"]
    assert _headings_of(chunks, "D explains") == ["Guide", "Use"]


def test_enrich_roots_every_heading_path_at_the_document_title() -> None:
    from docmill.stages.enrich import rooted

    assert rooted([], "Inventory") == ["Inventory"]
    assert rooted(["Leave", "Sick leave"], "Handbook") == ["Handbook", "Leave", "Sick leave"]
    assert rooted(["Handbook", "Leave"], "Handbook") == ["Handbook", "Leave"]


def test_a_very_long_table_header_is_cut_to_a_quarter_of_the_model_limit(tmp_path: Path, tokenizer) -> None:
    columns = [f"measurement_{n}_in_millimetres" for n in range(120)]
    rows = [",".join(columns)] + [",".join(str(n * k % 97) for k in range(120)) for n in range(1, 6)]
    (tmp_path / "wide.csv").write_text("\n".join(rows) + "\n")
    _, chunks = _chunks(tmp_path / "wide.csv", tokenizer, max_tokens=64)  # the cut does not follow the budget
    continued = [c for c in chunks if c.context]
    assert continued, "the rows do not fit one chunk: later chunks carry the header"
    for item in continued:
        assert item.context is not None and item.context.startswith("measurement_0_in_millimetres | ")
        assert 64 // 4 < len(tokenizer.offsets([item.context])[0]) <= tokenizer.max_tokens // 4


def _embedded_tokens(chunks: list[Chunk], tokenizer) -> list[int]:  # type: ignore[no-untyped-def]
    return [len(offs) for offs in tokenizer.offsets([c.embedding_text for c in chunks])]


def test_the_context_never_pushes_a_chunk_tail_past_the_model_window(tmp_path: Path, tokenizer) -> None:
    """Chunks fill the model's window by default: the title and heading path embedded before a full chunk
    would make the model cut the chunk's last sentences off. The budget leaves room for them instead."""
    import docx

    document = docx.Document()
    document.add_heading("Group Policy on Procurement, Contract Management and Supplier Relationships", 0)
    document.add_heading("Part Four: Evaluation of Tenders for Framework Agreements and Dynamic Systems", 1)
    document.add_heading("Section 4.2: Weighting of Quality, Price and Social Value Criteria in Scoring", 2)
    for n in range(12):
        document.add_paragraph(f"Clause {n}: " + _BODY * 2)
    document.save(tmp_path / "policy.docx")
    _, chunks = _chunks(tmp_path / "policy.docx", tokenizer)
    titled(chunks, "Group Policy on Procurement, Contract Management and Supplier Relationships", tokenizer)
    assert len(chunks) > 3
    counts = _embedded_tokens(chunks, tokenizer)
    assert max(counts) <= tokenizer.max_tokens, (max(counts), tokenizer.max_tokens)
    body = next(c for c in chunks if "Clause 5:" in c.text)
    assert "Section 4.2" in (body.context or ""), "the context itself is kept, the chunk is shorter"
    assert body.embedding_text.endswith(body.text)


def test_a_title_longer_than_expected_is_cut_to_what_the_window_leaves(tmp_path: Path, tokenizer) -> None:
    """Enrich knows the real title only after chunking (a redacted name, a metadata title): what does not fit
    beside the chunk is cut from the context, never from the chunk text."""
    (tmp_path / "notes.txt").write_text("Every supplier invoice is checked against its purchase order. " * 60)
    _, chunks = _chunks(tmp_path / "notes.txt", tokenizer)
    title = "Minutes of the extraordinary meeting of the audit and risk committee " * 6
    titled(chunks, title.strip(), tokenizer)
    assert max(_embedded_tokens(chunks, tokenizer)) <= tokenizer.max_tokens
    for item in chunks:
        assert item.context is not None and title.startswith(item.context), "cut, title first"
        assert len(tokenizer.offsets([item.context])[0]) <= tokenizer.max_tokens // 4
