"""Deterministic synthetic corpus: N documents of mixed types and sizes, with duplicates and broken files.

Text comes from real prose (sentences of the shared corpus's War and Peace, shuffled per document, so two
documents share sentences but not their order: no accidental near-duplicates), else from docmill's own
sample prose. Formats are the ones docmill parses: txt, md, html, csv, json, docx (python-docx), pdf
(pymupdf). About 3 % of the files are byte copies of earlier ones under another name and 2 % are broken
(truncated PDF, DOCX that is not a ZIP, invalid JSON, empty file).

    .venv/bin/python benchmarks/synth_corpus.py OUT_DIR --documents 1000 --seed 7
"""

from __future__ import annotations

import argparse
import io
import json
import random
import re
from collections import Counter
from pathlib import Path

BOOK = Path(__file__).resolve().parents[2] / "shared/corpus/unstructured-example-docs/book-war-and-peace-1225p.txt"
KINDS = [("txt", 30), ("md", 18), ("html", 15), ("csv", 5), ("json", 5), ("docx", 12), ("pdf", 15)]
DUPLICATE_RATE = 0.03
BROKEN_RATE = 0.02


def sentence_pool(book: Path = BOOK) -> list[str]:
    """Real English sentences (30-300 characters) from the book, or generated prose when it is absent."""
    if book.exists():
        text = re.sub(r"\s+", " ", book.read_text(encoding="utf-8", errors="replace"))
        pool = [s.strip() for s in re.split(r"(?<=[.!?])\s+", text) if 30 <= len(s.strip()) <= 300]
        if len(pool) > 1000:
            return pool
    from docmill.samples import paragraphs

    return [s + "." for p in paragraphs(1, 2000, 5) for s in p.split(". ") if s]


def _paragraphs(rng: random.Random, pool: list[str], profile: str) -> list[str]:
    # short: one or two paragraphs (many documents, few chunks each: scale runs); mixed: median ~5, a long tail
    count = rng.randint(1, 2) if profile == "short" else max(1, min(60, int(rng.lognormvariate(1.6, 0.9))))
    return [" ".join(rng.choice(pool) for _ in range(rng.randint(2, 7))) for _ in range(count)]


def _docx(title: str, paras: list[str]) -> bytes:
    import datetime

    import docx

    from docmill.samples import _normalise_zip  # fixed ZIP timestamps: reproducible bytes

    document = docx.Document()
    document.core_properties.created = document.core_properties.modified = datetime.datetime(2025, 3, 1, 9, 0)
    document.add_heading(title, level=1)
    for para in paras:
        document.add_paragraph(para)
    out = io.BytesIO()
    document.save(out)
    return _normalise_zip(out.getvalue())


def _pdf(title: str, paras: list[str]) -> bytes:
    import pymupdf

    pdf = pymupdf.open()
    pdf.set_metadata({"creationDate": "D:20250301090000Z", "modDate": "D:20250301090000Z"})
    for start in range(0, len(paras), 4):  # four paragraphs per page
        page = pdf.new_page()
        body = "\n\n".join(([title] if start == 0 else []) + paras[start : start + 4])
        page.insert_textbox(pymupdf.Rect(50, 50, 545, 800), body, fontsize=9)
    return bytes(pdf.tobytes(garbage=3, no_new_id=True))


def render(kind: str, title: str, paras: list[str]) -> bytes:
    """One document of `kind` with a title and paragraphs."""
    if kind == "txt":
        return (title + "\n\n" + "\n\n".join(paras) + "\n").encode()
    if kind == "md":
        return (f"# {title}\n\n" + "\n\n".join(f"## Part {i + 1}\n\n{p}" for i, p in enumerate(paras))).encode()
    if kind == "html":
        body = "".join(f"<h2>Part {i + 1}</h2><p>{p}</p>" for i, p in enumerate(paras))
        return f"<html><head><title>{title}</title></head><body><h1>{title}</h1>{body}</body></html>".encode()
    if kind == "csv":
        rows = ["id,topic,summary"] + [f'{i},part {i},"{p[:200].replace(chr(34), "")}"' for i, p in enumerate(paras)]
        return ("\n".join(rows) + "\n").encode()
    if kind == "json":
        return json.dumps({"title": title, "sections": [{"n": i, "text": p} for i, p in enumerate(paras)]}).encode()
    if kind == "docx":
        return _docx(title, paras)
    return _pdf(title, paras)


def _broken(kind: str, rng: random.Random, good: bytes) -> bytes:
    if kind == "pdf":
        return good[: max(20, len(good) // 3)]  # truncated
    if kind == "docx":
        return b"PK\x03\x04 this is not a zip archive " * 3
    if kind == "json":
        return b'{"title": "unterminated", "sections": [1, 2'
    return b""  # an empty text file


def generate(target: Path, documents: int, seed: int = 7, profile: str = "mixed") -> Counter[str]:
    """Write `documents` files under `target` (sub-folders of 500); same bytes for the same seed, N and profile
    ("mixed": a long tail of sizes; "short": one or two paragraphs per document).

    Returns:
        Counts per kind, plus `duplicate` and `broken`.
    """
    rng = random.Random(seed)
    pool = sentence_pool()
    kinds, weights = zip(*KINDS, strict=True)
    written: list[Path] = []
    counts: Counter[str] = Counter()
    for n in range(documents):
        folder = target / f"part-{n // 500:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        if written and rng.random() < DUPLICATE_RATE:
            original = rng.choice(written)
            path = folder / f"copy-{n:06d}{original.suffix}"
            path.write_bytes(original.read_bytes())
            counts["duplicate"] += 1
            continue
        kind = rng.choices(kinds, weights)[0]
        title = f"Report {n}: " + " ".join(rng.choice(pool).split()[:6])
        data = render(kind, title, _paragraphs(rng, pool, profile))
        if rng.random() < BROKEN_RATE:
            data = _broken(kind, rng, data)
            counts["broken"] += 1
        path = folder / f"doc-{n:06d}.{kind}"
        path.write_bytes(data)
        written.append(path)
        counts[kind] += 1
    return counts


def main() -> None:
    """Command line: write the corpus and print what was written."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("target", type=Path)
    parser.add_argument("--documents", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--profile", choices=["mixed", "short"], default="mixed")
    args = parser.parse_args()
    print(json.dumps(generate(args.target, args.documents, args.seed, args.profile)))


if __name__ == "__main__":
    main()
