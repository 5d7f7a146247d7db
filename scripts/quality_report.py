"""What the clean stage's quality filters, near-duplicate detection and PII detection do to a real corpus.

Extracts every file of the corpus with docmill's parsers, cleans it with the default settings (PII in `flag`
mode so that nothing is changed, near-duplicates against a fresh index) and prints: document verdicts by
reason, dropped pages, near-duplicate pairs, and every PII finding with its context, for review.

Usage: python scripts/quality_report.py [CORPUS_DIR] [--json OUT.json]   (default: the shared corpus)
"""

from __future__ import annotations

import json
import sqlite3
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CORPUS = ROOT.parent / "shared" / "corpus" / "unstructured-example-docs"


def parse_corpus(corpus: Path) -> list[Any]:
    """Every extracted file of the corpus as a Document (id: the relative path)."""
    from docmill.config.offline import apply_offline_defaults
    from docmill.config.settings import ExtractConfig
    from docmill.parsers import ParseError
    from docmill.parsers.pool import ParserPool
    from docmill.records import Document

    apply_offline_defaults()
    files = sorted(p for p in corpus.rglob("*") if p.is_file())
    jobs = [(p.relative_to(corpus).as_posix(), str(p), p.suffix.lower()) for p in files]
    config = ExtractConfig(timeout_s=300)
    docs = []
    with ParserPool(config.workers, config.timeout_s, config.max_memory_mb, config.parser_options()) as pool:
        for key, parsed in pool.parse_many(jobs):
            if not isinstance(parsed, ParseError):
                ext = Path(key).suffix.lower().lstrip(".")
                docs.append(Document(key, key, ext, parsed.elements, dict(parsed.metadata), parsed.parser))
    return docs


def report(docs: list[Any]) -> dict[str, Any]:
    """Clean the documents with the default settings; verdicts, timings and PII findings."""
    from docmill.config.settings import CleanConfig, PiiConfig
    from docmill.stages import clean
    from docmill.state.catalog.neardup import NearDupIndex
    from docmill.text.language import detect_language
    from docmill.text.pii import find_pii

    config = CleanConfig()
    texts = {d.doc_id: [e.text for e in d.elements] for d in docs}
    near = NearDupIndex(sqlite3.connect(":memory:"), config.dedup)
    started = time.perf_counter()
    prepared = clean.prepare(docs, config, language=detect_language)
    result = clean.merged(prepared, clean.deduplicate(prepared.records, config, lambda h: None, near))
    seconds = time.perf_counter() - started
    pii_config = PiiConfig()
    findings = []
    started = time.perf_counter()
    for doc_id, parts in texts.items():
        for text in parts:
            for f in find_pii(text, pii_config):
                context = text[max(0, f.start - 40) : f.end + 40].replace("\n", " ")
                findings.append({"doc": doc_id, "kind": f.kind, "value": text[f.start : f.end], "context": context})
    pii_seconds = time.perf_counter() - started
    verdicts = Counter(r.reason for r in result.rejects if r.part is None)
    return {
        "documents": len(docs),
        "kept": len(result.records),
        "clean_seconds": round(seconds, 2),
        "pii_seconds": round(pii_seconds, 2),
        "characters": sum(len(t) for parts in texts.values() for t in parts),
        "verdicts": dict(sorted(verdicts.items())),
        "rejects": [
            {"doc": r.doc_id, "reason": r.reason, "part": r.part, "message": r.message} for r in result.rejects
        ],
        "pii_by_kind": dict(Counter(f["kind"] for f in findings)),
        "pii": findings,
    }


def main() -> None:
    """Print the report (and write it as JSON with --json)."""
    args = sys.argv[1:]
    out = Path(args[args.index("--json") + 1]) if "--json" in args else None
    corpus = Path(next((a for a in args if not a.startswith("--") and Path(a).is_dir()), DEFAULT_CORPUS))
    data = report(parse_corpus(corpus))
    for reject in data["rejects"]:
        part = f" [{reject['part']}]" if reject["part"] else ""
        print(f"{reject['reason']:<34} {reject['doc']}{part}: {reject['message'][:110]}")
    for finding in data["pii"]:
        print(f"PII {finding['kind']:<12} {finding['doc']}: ...{finding['context']}...")
    summary = {k: v for k, v in data.items() if k not in ("rejects", "pii")}
    print(json.dumps(summary, indent=2))
    if out:
        out.write_text(json.dumps(data, indent=2, default=str))


if __name__ == "__main__":
    main()
