"""Retrieval benchmark: recall@5 and MRR@10 of dense, sparse and hybrid search, with and without
`chunk.contextualize`, on query sets built from the shared corpora.

The real pipeline flow (a temporary Prefect server, offline, local paths only) runs twice over the same inbox
(copies of the markitdown test files, the pdfplumber PDFs, the unstructured example documents and docmill's
sample corpus), once per `chunk.contextualize` value, each into its own data folder; then every query goes
through the real `docmill.run.search.search` in each mode against each run's collection. Stated
simplifications, to keep the default run near 15 minutes on 2 cores: embedding through `embed.backend: auto`
(ONNX int8 on a CPU; `--backend torch` for fp32), and the corpora without their three longest documents
(`LONG`: War and Peace, the 619- and 400-page PDFs, 6,150 of the 10,355 chunks; `--long` keeps them), since
Qdrant's local mode scores sparse vectors in Python (about half a second a query over 10k points). Query sets
(`retrieval_queries.py` says how relevance is derived from each run's chunks, and defines the metrics):

- identifiers: every id-like token (a digit inside, 5 characters or more) of markitdown's `must_include`
  strings and expected outputs, of the string constants pdfplumber's table tests assert (`test_table.py`,
  `test_nics_report.py`, `test_ca_warn_report.py`), and of the sample corpus's text files (its SKUs); each
  queried verbatim and inside a short sentence (one of three forms, drawn with the seed);
- sections: each distinct heading below a document's title (of at least three letters) in the chunks' heading
  paths, its own text as the query; at most `--per-set`, drawn with the seed;
- passages: a prose sentence (8-40 words) of a chunk, lightly reworded with the seed: two neighbouring words
  swapped, a word replaced by a synonym from a fixed table when one occurs, a word dropped; at most
  `--per-set` chunks, spread over the documents.

Queries with no relevant chunk in a run are skipped and counted. Prints a table set x mode x context ->
recall@5, MRR@10, n; the hybrid misses of the identifier set; the issue's targets as PASS/FAIL lines; the CPU.

Usage: python benchmarks/retrieval_benchmark.py [--limit N] [--per-set N] [--long] [--backend auto|torch|onnx]
           [--seed N] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

from fidelity_reference import SHARED, load_vectors  # noqa: E402
from pipeline_benchmark import write_config  # noqa: E402
from retrieval_queries import (  # noqa: E402
    Query,
    Relevance,
    asserted_identifiers,
    id_like,
    identifier_queries,
    mrr_at,
    passage_queries,
    recall_at,
    section_queries,
    vector_identifiers,
)

MARKITDOWN = SHARED / "markitdown-tests" / "tests"
PDFPLUMBER = SHARED / "pdfplumber-tests" / "tests"
TABLE_TESTS = ("test_table.py", "test_nics_report.py", "test_ca_warn_report.py")
SETS = ("identifiers", "sections", "passages")
MODES = ("dense", "sparse", "hybrid")
CONTEXTS = {"context": True, "plain": False}
# 6,150 of the 10,355 chunks of the whole corpora; Qdrant's local mode scores sparse vectors in Python, ~0.5 s
# a query over 10k points on 2 loaded cores, so with them the default run would take ~an hour (`--long`)
LONG = {"book-war-and-peace-1225p.txt", "DA-619p.pdf", "pdf2image-memory-error-test-400p.pdf"}


def _named_first(folder: Path, named: set[str], limit: int | None, long: bool) -> list[Path]:
    """A corpus's files: those the query sources name first, then the rest smallest first; `limit` of them;
    without the `LONG` documents unless `long`."""
    files = [p for p in folder.rglob("*") if p.is_file() and (long or p.name not in LONG)]
    files.sort(key=lambda p: (p.name not in named, p.stat().st_size, str(p)))
    return files[:limit] if limit else files


def build_inbox(inbox: Path, limit: int | None, long: bool = False) -> dict[str, int]:
    """Copy the corpora (or `limit` files of each) into `inbox/<corpus>/`; write the sample corpus there too."""
    from docmill.samples import write_sample_corpus

    named = {v.filename for v in load_vectors()} | {f"{p.stem}.pdf" for p in MARKITDOWN.rglob("expected_outputs/*")}
    named |= {
        word.strip("\"'),").split("/")[-1]
        for name in TABLE_TESTS
        for word in (PDFPLUMBER / name).read_text().split()
        if ".pdf" in word
    }
    corpora = {
        "markitdown": MARKITDOWN / "test_files",
        "pdfplumber": PDFPLUMBER / "pdfs",
        "unstructured": SHARED / "unstructured-example-docs",
    }
    counts = {}
    for name, folder in corpora.items():
        chosen = _named_first(folder, named, limit, long)
        for path in chosen:
            target = inbox / name / path.relative_to(folder)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
        counts[name] = len(chosen)
    counts["sample"] = len(write_sample_corpus(inbox / "sample"))
    return counts


def all_identifiers() -> list[str]:
    """The identifier query targets of every source (see the module)."""
    from docmill.samples import sample_files

    found = vector_identifiers(MARKITDOWN / "_test_vectors.py")
    found += asserted_identifiers(PDFPLUMBER / name for name in TABLE_TESTS)
    for name, make in sample_files().items():
        if name.endswith((".csv", ".txt", ".md", ".html")):
            found += id_like(make().decode("utf-8"))
    return list(dict.fromkeys(found))


def payloads(settings: Any) -> list[dict[str, Any]]:
    """Every point's payload in a run's collection."""
    from docmill.run.search import open_store

    store, out, offset = open_store(settings), [], None
    try:
        while True:
            records, offset = store.client.scroll(store.collection, limit=1000, offset=offset, with_payload=True)
            out += [dict(r.payload or {}) for r in records]
            if offset is None:
                return out
    finally:
        store.close()


def evaluate(settings: Any, queries: list[Query], chunks: list[dict[str, Any]]) -> dict[str, Any]:
    """Per set and mode: mean recall@5 and MRR@10 over the queries with a relevant chunk; the skipped count;
    the identifier queries hybrid search misses in its top 5."""
    from docmill.run.search import open_store, search

    scores: dict[str, dict[str, list[tuple[float, float]]]] = {s: {m: [] for m in MODES} for s in SETS}
    skipped = dict.fromkeys(SETS, 0)
    misses: list[dict[str, Any]] = []
    seconds = dict.fromkeys(MODES, 0.0)
    unfound: dict[str, None] = {}  # identifiers no chunk holds (an extraction gap, or not in the corpora)
    relevant = Relevance(chunks)
    store = open_store(settings)
    try:
        for query in queries:
            wanted = relevant(query)
            if not wanted:
                skipped[query.set] += 1
                if query.set == "identifiers":
                    unfound[query.target] = None
                continue
            for mode in MODES:
                started = time.perf_counter()
                ranked = [hit.chunk_id for hit in search(settings, query.text, mode, k=10, store=store)]
                seconds[mode] += time.perf_counter() - started
                recall = recall_at(ranked, wanted, 5)
                scores[query.set][mode].append((recall, mrr_at(ranked, wanted, 10)))
                if mode == "hybrid" and query.set == "identifiers" and recall < 1:
                    misses.append({"query": query.text, "relevant": len(wanted), "recall@5": recall})
    finally:
        store.close()
    figures = {s: {m: _mean(scores[s][m]) for m in MODES} for s in SETS}
    misses.sort(key=lambda miss: (miss["recall@5"], miss["query"]))
    searched = sum(len(scores[s]["dense"]) for s in SETS)
    latency = {mode: 1000 * seconds[mode] / max(searched, 1) for mode in MODES}
    return {
        "figures": figures,
        "skipped": skipped,
        "unfound_identifiers": list(unfound),
        "identifier_misses": misses,
        "ms_per_query": latency,
    }


def _mean(pairs: list[tuple[float, float]]) -> dict[str, float]:
    n = len(pairs)
    return {
        "recall@5": sum(r for r, _ in pairs) / n if n else 0.0,
        "mrr@10": sum(m for _, m in pairs) / n if n else 0.0,
        "n": n,
    }


def checks(results: dict[str, Any]) -> list[tuple[bool, str]]:
    """The issue's targets, per context where they apply: hybrid >= dense on every set (both metrics); on
    identifiers hybrid recall@5 >= 0.95 and >= dense + 0.20; contextualized >= plain on sections (each mode,
    both metrics)."""
    out = []
    for context, run in results.items():
        fig = run["figures"]
        for s in SETS:
            for metric in ("recall@5", "mrr@10"):
                h, d = fig[s]["hybrid"][metric], fig[s]["dense"][metric]
                out.append((h >= d, f"{context} {s}: hybrid {metric} {h:.3f} >= dense {d:.3f}"))
        h, d = fig["identifiers"]["hybrid"]["recall@5"], fig["identifiers"]["dense"]["recall@5"]
        out.append((h >= 0.95, f"{context} identifiers: hybrid recall@5 {h:.3f} >= 0.95"))
        out.append((h - d >= 0.20, f"{context} identifiers: hybrid recall@5 {h:.3f} >= dense {d:.3f} + 0.20"))
    for mode in MODES:
        for metric in ("recall@5", "mrr@10"):
            c = results["context"]["figures"]["sections"][mode][metric]
            p = results["plain"]["figures"]["sections"][mode][metric]
            out.append((c >= p, f"sections {mode}: contextualized {metric} {c:.3f} >= plain {p:.3f}"))
    return out


def cpu() -> str:
    """The CPU model and its vector-instruction flags (`lscpu`)."""
    try:
        text = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
    except OSError:
        return "lscpu not available"
    fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
    flags = [f for f in fields.get("Flags", "").split() if f.startswith(("avx", "amx", "fma", "f16c"))]
    return (
        f"{fields.get('Model name', '?').strip()}, {fields.get('CPU(s)', '?').strip()} CPUs; lscpu: {' '.join(flags)}"
    )


def report(results: dict[str, Any], counts: dict[str, Any]) -> None:
    """Print the table, the identifier misses and the checks."""
    print(f"{'set':<13}{'mode':<8}{'context':<9}{'recall@5':>9}{'MRR@10':>8}{'n':>6}")
    for s in SETS:
        for mode in MODES:
            for context in CONTEXTS:
                f = results[context]["figures"][s][mode]
                print(f"{s:<13}{mode:<8}{context:<9}{f['recall@5']:>9.3f}{f['mrr@10']:>8.3f}{f['n']:>6}")
    for context, run in results.items():
        print(f"{context}: queries per set {counts['queries']}, skipped (no relevant chunk) {run['skipped']}")
        misses = run["identifier_misses"]
        print(f"{context}: identifiers in no chunk: {', '.join(run['unfound_identifiers']) or 'none'}")
        latency = ", ".join(f"{mode} {ms:.0f}" for mode, ms in run["ms_per_query"].items())
        print(f"{context}: ms per search() call (Qdrant local mode): {latency}")
        print(f"{context}: identifier queries hybrid misses in its top 5: {len(misses)}")
        for miss in misses[:20]:
            print(f"  {miss['query']!r}: recall@5 {miss['recall@5']:.2f} of {miss['relevant']} relevant chunks")
    for ok, line in checks(results):
        print(f"{'PASS' if ok else 'FAIL'} {line}")


def main() -> None:
    """Run the two pipelines, build the query sets, search, print."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--limit", type=int, help="files per corpus (the files the query sources name first)")
    parser.add_argument("--per-set", type=int, default=150, help="at most this many section and passage queries")
    parser.add_argument("--long", action="store_true", help="include the three longest documents (`LONG`)")
    parser.add_argument("--backend", default="auto", help="embed.backend (auto: onnx int8 on CPU)")
    parser.add_argument("--batch-size", type=int, default=25)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args()
    from prefect.testing.utilities import prefect_test_harness

    from docmill.config.offline import apply_offline_defaults
    from docmill.config.settings import load_settings

    apply_offline_defaults()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="docmill-retrieval-") as tmp:
        base = Path(tmp)
        counts: dict[str, Any] = {"files": build_inbox(base / "inbox", args.limit, args.long)}
        configs, flows = {}, {}
        with prefect_test_harness(server_startup_timeout=180):
            from flows.pipeline import pipeline

            for context, on in CONTEXTS.items():
                work = base / context
                work.mkdir()
                configs[context] = write_config(
                    work / "bench.yaml",
                    work,
                    [base / "inbox"],
                    args.batch_size,
                    args.backend,
                    chunk={"contextualize": on},
                    embed={"models_dir": str(base / "models")},
                )
                summary = pipeline(config_path=str(configs[context]))
                flows[context] = {"seconds": summary["seconds"], "documents": summary["documents"]}
        settings = {context: load_settings(path) for context, path in configs.items()}
        chunks = {context: payloads(s) for context, s in settings.items()}
        if {c["chunk_id"] for c in chunks["context"]} != {c["chunk_id"] for c in chunks["plain"]}:
            print("note: the two runs' chunk ids differ; relevance is derived per run")
        queries = identifier_queries(all_identifiers(), args.seed)
        queries += section_queries(chunks["context"], args.per_set, args.seed)
        queries += passage_queries(chunks["context"], args.per_set, args.seed)
        counts["queries"] = {s: sum(q.set == s for q in queries) for s in SETS}
        counts["chunks"] = {context: len(c) for context, c in chunks.items()}
        searched = time.perf_counter()
        results = {context: evaluate(settings[context], queries, chunks[context]) for context in CONTEXTS}
        search_s = time.perf_counter() - searched
    print(f"files per corpus {counts['files']}; chunks {counts['chunks']}; backend {args.backend}")
    for context, flow in flows.items():
        print(f"pipeline ({context}): {flow['seconds']:.1f} s, documents {flow['documents']}")
    print(f"searching: {search_s:.1f} s; total {time.perf_counter() - started:.1f} s")
    report(results, counts)
    print(f"CPU: {cpu()}")
    if args.json:
        out = {"counts": counts, "flows": flows, "results": results, "checks": checks(results), "cpu": cpu()}
        args.json.write_text(json.dumps(out, indent=1, default=str))


if __name__ == "__main__":
    main()
