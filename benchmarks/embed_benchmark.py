"""Embedding backends on the same real corpus chunks: torch fp32 vs ONNX Runtime fp32 / int8.

Chunks come from docmill's own extract -> clean -> chunk stages over text-rich files of the shared corpus
(full-budget chunks of up to 254 tokens + [CLS]/[SEP]). Prints chunks/s per backend, the speed-up over torch
fp32, cosine similarity to the torch fp32 vectors (mean / min), the one-off export time, and where the ONNX
path's time goes (tokenise, pre-process, inference, pooling + normalisation). Backends alternate for several
rounds and the median speed-up is printed, because these CPUs are shared.

Usage: python benchmarks/embed_benchmark.py [--chunks 512] [--rounds 3] [CORPUS_DIR]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CORPUS = ROOT.parent / "shared" / "corpus" / "unstructured-example-docs"
FILES = ["pdf/*.pdf", "*.md", "*.html", "book-war-and-peace-1p.txt", "handbook-1p.docx"]
MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"


def corpus_chunks(corpus: Path, workdir: Path, limit: int, min_tokens: int = 200) -> list[str]:
    """Texts of the first `limit` chunks with at least `min_tokens` tokens (chunk-id order) from the corpus."""
    from docmill.config.settings import ChunkConfig, CleanConfig, ExtractConfig
    from docmill.embedding.encoder import ModelTokenizer, default_model_path
    from docmill.parsers.pool import ParserPool
    from docmill.sources.folder import FolderSource, sha256_file
    from docmill.stages import clean
    from docmill.stages.chunk import chunk
    from docmill.stages.extract import extract
    from docmill.stages.ingest import ingest

    folder = workdir / "texts"
    folder.mkdir()
    for pattern in FILES:
        for path in sorted(corpus.glob(pattern)):
            shutil.copy2(path, folder / path.name)
    sources = [s for s, _ in ingest(FolderSource(folder, ["**/*"], []).list(), lambda u: None, sha256_file).records]
    config = ExtractConfig(ocr=False)
    with ParserPool(config.workers, config.timeout_s, config.max_memory_mb, config.parser_options()) as pool:
        docs = extract(sources, config, pool).records
    docs = clean.deduplicate(clean.prepare(docs, CleanConfig()).records, CleanConfig(), lambda h: None).records
    chunks = chunk(docs, ChunkConfig(), ModelTokenizer(default_model_path())).records
    long = sorted((c for c in chunks if c.token_count >= min_tokens), key=lambda c: c.chunk_id)
    return [c.text for c in long[:limit]]


def timed(embedder: object, texts: list[str]) -> tuple[np.ndarray, float]:
    """Vectors and chunks/s (after a warm-up call that loads the model)."""
    embedder.encode(texts[:8])  # type: ignore[attr-defined]
    timings = getattr(getattr(embedder, "_model", None), "timings", None)
    if timings is not None:
        timings.clear()
    started = time.perf_counter()
    vectors = embedder.encode(texts)  # type: ignore[attr-defined]
    return vectors, len(texts) / (time.perf_counter() - started)


def main() -> None:
    """Run every backend on the same chunks, alternating them for `--rounds` rounds, and print the figures."""
    from docmill.embedding.encoder import Embedder, default_model_path

    parser = argparse.ArgumentParser()
    parser.add_argument("corpus", nargs="?", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--chunks", type=int, default=512)
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (shared CPUs are noisy)")
    args = parser.parse_args()
    folder = default_model_path()
    with tempfile.TemporaryDirectory(prefix="docmill-embed-bench-") as tmp:
        texts = corpus_chunks(args.corpus, Path(tmp), args.chunks)
        print(f"{len(texts)} real corpus chunks (>= 200 tokens) from {args.corpus}")
        torch = Embedder(folder, MODEL_NAME, "cpu", 64, "torch", "fp32")
        onnx, export_s = {}, {}
        for precision in ("fp32", "int8"):
            onnx[precision] = Embedder(folder, MODEL_NAME, "cpu", 64, "onnx", precision, Path(tmp) / "models")
            t0 = time.perf_counter()
            onnx[precision].encode(texts[:1])  # export (and quantise) into the empty cache
            export_s[precision] = time.perf_counter() - t0
        ratios: dict[str, list[float]] = {p: [] for p in onnx}
        print(f"{'round':<7}{'backend':<14}{'chunks/s':>10}{'speed-up':>10}{'cos mean':>10}{'cos min':>10}")
        for round_no in range(1, args.rounds + 1):
            reference, torch_rate = timed(torch, texts)
            print(f"{round_no:<7}{'torch fp32':<14}{torch_rate:>10.1f}{1.0:>10.2f}{1.0:>10.4f}{1.0:>10.4f}")
            for precision, embedder in onnx.items():
                vectors, rate = timed(embedder, texts)
                cos = np.sum(vectors * reference, axis=1)
                ratios[precision].append(rate / torch_rate)
                print(
                    f"{round_no:<7}{'onnx ' + precision:<14}{rate:>10.1f}{rate / torch_rate:>10.2f}"
                    f"{cos.mean():>10.4f}{cos.min():>10.4f}"
                )
        for precision, embedder in onnx.items():
            spent = embedder._model.timings
            total = sum(spent.values())
            shares = ", ".join(f"{k.removesuffix('_s')} {v / total:.1%}" for k, v in sorted(spent.items()))
            print(
                f"onnx {precision}: median speed-up {float(np.median(ratios[precision])):.2f}x over {args.rounds} "
                f"rounds (min {min(ratios[precision]):.2f}, max {max(ratios[precision]):.2f}); export "
                f"{export_s[precision]:.1f} s; {embedder._model.threads} threads; time split of the last call: "
                f"{shares}"
            )


if __name__ == "__main__":
    main()
