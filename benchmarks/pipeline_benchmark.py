"""Pipeline benchmark over a real corpus (default: ../shared/corpus/unstructured-example-docs).

Prints, from one run on the same inputs:
  - per-stage wall time and share of the flow's total (through the real Prefect flow, a temporary server),
  - extract pages/s over the corpus's PDFs next to a raw pymupdf `get_text()` loop on the same files (ratio),
  - embed chunks/s with the bundled model,
  - a rerun with no source change and one with 1 % of the documents changed, as shares of the full run,
  - the sparse vectors' cost: their encoding (timed by the embed stage) and their indexing (the run's points
    written again with and without them).

Extraction of the next batch overlaps the current batch's embedding, so stage seconds can add up to more than
the wall time; the figure that matters is the non-embedding share: wall time minus embed time, over wall time.

Usage: python benchmarks/pipeline_benchmark.py [CORPUS_DIR] [--batch-size N] [--backend torch|onnx|auto]
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CORPUS = ROOT.parent / "shared" / "corpus" / "unstructured-example-docs"


def raw_pymupdf(pdfs: list[Path]) -> tuple[int, float]:
    """Pages and seconds of a bare `get_text()` loop (the anchor)."""
    import pymupdf

    pages, started = 0, time.perf_counter()
    for path in pdfs:
        try:
            doc = pymupdf.open(path)
        except Exception:
            continue
        if doc.needs_pass:
            continue
        for page in doc:
            page.get_text()
            pages += 1
    return pages, time.perf_counter() - started


def docmill_extract(pdfs: list[Path], workdir: Path, ocr: bool = False) -> tuple[int, float]:
    """Pages and seconds of docmill's extract stage (worker pool) on the same PDFs.

    OCR is off by default here: the comparison with the raw loop is about born-digital text extraction
    (the raw loop does not OCR either); the flow's figures below include OCR. PDF table detection is on (the
    default). Workers are warmed with one small PDF each first, as in a run where the pool lives across
    batches: the raw loop's process has pymupdf imported too.
    """
    from docmill.config.settings import ExtractConfig
    from docmill.parsers.pool import ParserPool
    from docmill.sources.folder import FolderSource, sha256_file
    from docmill.stages.extract import extract
    from docmill.stages.ingest import ingest

    folder = workdir / ("pdfs-ocr" if ocr else "pdfs")
    folder.mkdir()
    for index, path in enumerate(pdfs):
        shutil.copy2(path, folder / f"{index:03d}-{path.name}")
    sources = [s for s, _ in ingest(FolderSource(folder, ["**/*"], []).list(), lambda u: None, sha256_file).records]
    config = ExtractConfig(ocr=ocr)
    with ParserPool(config.workers, config.timeout_s, config.max_memory_mb, config.parser_options()) as pool:
        smallest = min(pdfs, key=lambda p: p.stat().st_size)
        list(pool.parse_many([(str(i), str(smallest), ".pdf") for i in range(config.workers)]))  # warm workers
        started = time.perf_counter()
        result = extract(sources, config, pool)
        seconds = time.perf_counter() - started
    return int(result.stats["pages"]), seconds


def write_config(
    target: Path, workdir: Path, sources: list[Path], batch_size: int, backend: str, **sections: dict
) -> Path:
    """A benchmark run's config file: data and DVC remote under `workdir`, the given sources, batch size and
    embedding backend, plus `sections` (setting section -> keys, merged over those)."""
    config: dict[str, dict] = {
        "paths": {"data_dir": str(workdir / "data")},
        "pipeline": {"batch_size": batch_size},
        "ingest": {"sources": [str(source) for source in sources]},
        "embed": {"backend": backend},
        "version": {"remote_url": str(workdir / "remote")},
    }
    for name, keys in sections.items():
        config[name] = {**config.get(name, {}), **keys}
    target.write_text(yaml.safe_dump(config))
    return target


def run_flow(corpus: Path, workdir: Path, batch_size: int, backend: str, spans: Path | None = None) -> dict:
    """The real pipeline flow over a copy of the corpus, against a temporary Prefect server."""
    from prefect.testing.utilities import prefect_test_harness

    from docmill.config.offline import apply_offline_defaults

    apply_offline_defaults()
    inbox = workdir / "inbox"
    shutil.copytree(corpus, inbox)
    write_config(workdir / "bench.yaml", workdir, [inbox], batch_size, backend)
    with prefect_test_harness(server_startup_timeout=120):
        from flows.pipeline import pipeline

        full = pipeline(config_path=str(workdir / "bench.yaml"))
        idle = embedder_idle(full["run_id"], spans)
        unchanged = pipeline(config_path=str(workdir / "bench.yaml"))
        edited = change_one_percent(inbox, full["documents"]["embedded"])
        changed = pipeline(config_path=str(workdir / "bench.yaml"))
    return {"full": full, "unchanged": unchanged, "changed": changed, "edited": edited, "idle": idle}


def embedder_idle(flow_run_id: str, spans_file: Path | None = None) -> dict[str, float]:
    """Where the flow's wall time outside the embed tasks went, from the Prefect task runs: seconds of each task
    kind running while no embed task ran (kinds overlap, so they may add up to more than `idle`), and `nothing`
    for idle time with no task running (the flow process between tasks: catalog reads, Prefect calls)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    with get_client(sync_client=True) as client:
        ids = FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
        run = client.read_flow_runs(flow_run_filter=ids)[0]
        tasks: list = []
        while page := client.read_task_runs(flow_run_filter=ids, limit=200, offset=len(tasks)):  # the API's maximum
            tasks.extend(page)
    spans = [
        (_kind(t.name), t.start_time.timestamp(), t.end_time.timestamp()) for t in tasks if t.start_time and t.end_time
    ]
    if spans_file:  # the timeline, seconds from the flow run's start: to see where the gaps fall
        origin = run.start_time.timestamp()
        rows = sorted(
            (a - origin, b - origin, t.name)
            for t in tasks
            if t.start_time and t.end_time
            for a, b in [(t.start_time.timestamp(), t.end_time.timestamp())]
        )
        spans_file.write_text(json.dumps(rows, indent=0))
    embeds = sorted((a, b) for kind, a, b in spans if kind == "embed")
    gaps, cursor = [], run.start_time.timestamp()
    for a, b in [*embeds, (run.end_time.timestamp(), run.end_time.timestamp())]:
        if a > cursor:
            gaps.append((cursor, a))
        cursor = max(cursor, b)
    out: dict[str, float] = {"idle": sum(b - a for a, b in gaps)}
    for a, b in gaps:
        covered = []
        for kind, start, end in spans:
            overlap = min(b, end) - max(a, start)
            if kind != "embed" and overlap > 0:
                out[kind] = out.get(kind, 0.0) + overlap
                covered.append((max(a, start), min(b, end)))
        out["nothing"] = out.get("nothing", 0.0) + (b - a) - _union(covered)
    return out


def _kind(task_run_name: str) -> str:
    """`embed-batch-0003` -> embed; `ingest-7ce` (Prefect's default run name) -> ingest."""
    return task_run_name.split("-batch-")[0] if "-batch-" in task_run_name else task_run_name.rsplit("-", 1)[0]


def _union(intervals: list[tuple[float, float]]) -> float:
    total, end = 0.0, float("-inf")
    for a, b in sorted(intervals):
        total += max(0.0, b - max(a, end))
        end = max(end, b)
    return total


def sparse_indexing(data_dir: Path, collection: str = "docmill", write_batch: int = 128) -> tuple[int, float, float]:
    """The sparse vectors' indexing cost: the run's points written again, as the pipeline writes them (batches of
    `write_batch`), into two new collections of the same local store, one with the dense vectors only, one with
    the sparse vectors too. Returns (points, seconds dense only, seconds with sparse)."""
    from qdrant_client import QdrantClient, models

    client = QdrantClient(path=str(data_dir / "qdrant"))
    try:
        points, offset = [], None
        while True:
            page, offset = client.scroll(collection, limit=1000, offset=offset, with_vectors=True, with_payload=True)
            points.extend(page)
            if offset is None:
                break
        dimension = len(points[0].vector["dense"])
        seconds = []
        for name, sparse in (("bench-dense-only", False), ("bench-with-sparse", True)):
            client.create_collection(
                name,
                vectors_config={"dense": models.VectorParams(size=dimension, distance=models.Distance.COSINE)},
                sparse_vectors_config={"sparse": models.SparseVectorParams(modifier=models.Modifier.IDF)}
                if sparse
                else None,
            )
            started = time.perf_counter()
            for first in range(0, len(points), write_batch):
                batch = [
                    models.PointStruct(
                        id=p.id, vector=p.vector if sparse else {"dense": p.vector["dense"]}, payload=p.payload
                    )
                    for p in points[first : first + write_batch]
                ]
                client.upsert(name, batch, wait=True)
            seconds.append(time.perf_counter() - started)
            client.delete_collection(name)
        return len(points), seconds[0], seconds[1]
    finally:
        client.close()


def change_one_percent(inbox: Path, documents: int) -> list[str]:
    """Append a paragraph to 1 % of the documents (at least one): plain-text files, first in path order."""
    count = max(1, round(documents / 100))
    texts = sorted(p for p in inbox.rglob("*") if p.suffix in {".txt", ".md"} and p.stat().st_size > 200)[:count]
    for path in texts:
        with path.open("a", encoding="utf-8") as handle:
            handle.write("\n\nAddendum: this paragraph was added to measure an incremental run.\n")
    return [p.name for p in texts]


def main() -> None:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser()
    parser.add_argument("corpus", nargs="?", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--batch-size", type=int, default=25, help="documents per batch (overlap granularity)")
    parser.add_argument("--backend", default="torch", help="embed.backend (torch = the fp32 reference)")
    parser.add_argument("--spans", type=Path, help="write the full run's task runs (start, end, name) as JSON here")
    args = parser.parse_args()
    corpus = args.corpus
    pdfs = sorted(corpus.rglob("*.pdf"))
    with tempfile.TemporaryDirectory(prefix="docmill-bench-") as tmp:
        workdir = Path(tmp)
        raw_pages, raw_s = raw_pymupdf(pdfs)
        ours_pages, ours_s = docmill_extract(pdfs, workdir)
        ocr_pages, ocr_s = docmill_extract(pdfs, workdir, ocr=True)
        runs = run_flow(corpus, workdir, args.batch_size, args.backend, args.spans)
        indexing = sparse_indexing(workdir / "data")
    summary = runs["full"]
    stages = summary["stages"]
    total = summary["seconds"]
    print(f"corpus: {corpus} ({sum(1 for p in corpus.rglob('*') if p.is_file())} files)")
    print(f"flow wall time: {total:.1f} s; documents {summary['documents']}")
    print(f"{'stage':<10}{'seconds':>10}{'share':>9}")
    accounted = 0.0
    for name in ("ingest", "extract", "clean", "chunk", "enrich", "embed", "validate", "version"):
        seconds = float(stages.get(name, {}).get("seconds", 0.0))
        accounted += seconds
        print(f"{name:<10}{seconds:>10.2f}{seconds / total:>9.1%}")
    other = total - accounted
    print(f"{'other':<10}{other:>10.2f}{other / total:>9.1%}  (Prefect tasks, catalog, Qdrant writes; < 0: overlap)")
    embed_s = float(stages.get("embed", {}).get("seconds", 0.0))
    print(
        f"non-embedding share of wall time: {(total - embed_s) / total:.1%} (target <= 15%), batch size "
        f"{args.batch_size}, backend {args.backend}"
    )
    idle = runs["idle"]
    print(
        f"embedder idle {idle.pop('idle'):.1f} s (Prefect task runs); running meanwhile: "
        + ", ".join(f"{k} {v:.1f} s" for k, v in sorted(idle.items(), key=lambda kv: -kv[1]))
    )
    clean_s = float(stages.get("clean", {}).get("seconds", 0.0))
    print(
        f"clean stage (boilerplate, PII, quality, language, near-duplicates): {clean_s:.1f} s = "
        f"{clean_s / total:.1%} of the flow (target <= 10%); PII found: {summary.get('pii') or 'none'}"
    )
    raw_rate, ours_rate = raw_pages / raw_s, ours_pages / ours_s
    print(
        f"PDF extract: docmill {ours_pages} pages in {ours_s:.2f} s = {ours_rate:.0f} pages/s; raw pymupdf "
        f"get_text() {raw_pages} pages in {raw_s:.2f} s = {raw_rate:.0f} pages/s; ratio {ours_rate / raw_rate:.2f}"
    )
    print(f"PDF extract with OCR of pages without a text layer: {ocr_pages} pages in {ocr_s:.2f} s")
    embed = stages.get("embed", {})
    embedded, embed_s = embed.get("embedded", 0), embed.get("seconds", 0.0)
    print(f"embed: {embedded:.0f} chunks in {embed_s:.1f} s = {embedded / embed_s if embed_s else 0:.1f} chunks/s")
    sparse_s = float(embed.get("sparse_seconds", 0.0))
    points, dense_only, with_sparse = indexing
    extra = max(with_sparse - dense_only, 0.0)
    print(
        f"sparse vectors: encoding (part of embed) {sparse_s:.2f} s = {sparse_s / total:.1%} of the flow's wall "
        f"time; indexing: {points} points written in {dense_only:.2f} s with dense vectors only, {with_sparse:.2f} s "
        f"with sparse too (+{extra:.2f} s = {extra / total:.1%}); together {(sparse_s + extra) / total:.1%} "
        "(target <= 5 %)"
    )
    for name, label in (("unchanged", "rerun, no source change"), ("changed", "rerun, 1 % of documents changed")):
        rerun = runs[name]
        print(
            f"{label}: {rerun['seconds']:.1f} s = {rerun['seconds'] / total:.1%} of the full run; "
            f"chunks embedded {rerun['chunks_embedded']}, reused {rerun['chunks_cached']}"
        )
    print(f"changed files: {', '.join(runs['edited'])}")


if __name__ == "__main__":
    main()
