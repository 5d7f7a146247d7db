"""Embedding backends: ONNX Runtime (fp32 / int8) agrees with torch fp32 on real corpus chunks, the fp16 path
runs on CPU too, and the backend is part of the model key (no vector of one backend is reused by another)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from docmill.config.settings import ChunkConfig, EmbedConfig
from docmill.embedding import onnx as embedding_onnx
from docmill.embedding.encoder import Embedder, memory_batch_size, resolve_plan
from docmill.embedding.onnx import cache_folder, ensure_export, read_pipeline
from docmill.records import Chunk
from docmill.stages.chunk import chunk
from docmill.stages.embed import embed
from tests.helpers import cleaned

NAME = "sentence-transformers/all-MiniLM-L6-v2"
CORPUS_FILES = [
    "book-war-and-peace-1p.txt",
    "handbook-1p.docx",
    "pdf/layout-parser-paper-fast.pdf",
    "pdf/reliance.pdf",
    "pdf/multi-column.pdf",
    "pdf/a1977-backus-p21.pdf",
    "README.md",
]


@pytest.fixture(scope="session")
def corpus_chunks(shared_corpus: Path, tmp_path_factory: pytest.TempPathFactory, parser_pool, tokenizer) -> list[Chunk]:
    """Full-budget chunks (>= 200 tokens) of real corpus files, through the real extract/clean/chunk stages."""
    folder = tmp_path_factory.mktemp("embed-corpus")
    for name in CORPUS_FILES:
        shutil.copy2(shared_corpus / name, folder / Path(name).name)
    chunks = chunk(cleaned(folder, parser_pool), ChunkConfig(), tokenizer).records
    long = sorted((c for c in chunks if c.token_count >= 200), key=lambda c: c.chunk_id)[:32]
    assert len(long) >= 24
    return long


@pytest.fixture(scope="session")
def fp32_vectors(embedder: Embedder, corpus_chunks: list[Chunk]) -> np.ndarray:
    return embedder.encode([c.text for c in corpus_chunks])


@pytest.mark.parametrize("precision", ["int8", "fp32"])
def test_onnx_vectors_agree_with_torch_fp32_on_real_chunks(
    precision: str, model_folder: Path, models_dir: Path, corpus_chunks: list[Chunk], fp32_vectors: np.ndarray
) -> None:
    onnx = Embedder(model_folder, NAME, "cpu", 16, "onnx", precision, models_dir)
    vectors = onnx.encode([c.text for c in corpus_chunks])
    assert vectors.shape == fp32_vectors.shape and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-4)
    cosine = np.sum(vectors * fp32_vectors, axis=1)
    assert cosine.mean() >= 0.99 and cosine.min() >= 0.97, (cosine.mean(), cosine.min())
    if precision == "fp32":
        assert cosine.min() > 0.9999  # the same computation: only float rounding differs
    # batch composition (length-sorted) does not change a text's vector beyond rounding
    alone = onnx.encode([corpus_chunks[0].text])[0]
    assert float(alone @ vectors[0]) > 0.9999


def test_export_fuses_attention_once_checked_against_the_traced_graph(model_folder: Path, models_dir: Path) -> None:
    revision = Embedder(model_folder, NAME).revision
    for precision in ("fp32", "int8"):
        info = json.loads((cache_folder(models_dir, NAME, revision, precision) / "export.json").read_text())
        # six encoder layers: one Attention op each, and embedding + LayerNorm in one op
        assert info["fused"]["Attention"] == 6 and info["fused"]["EmbedLayerNormalization"] == 1, info


def test_an_int8_vector_depends_on_its_text_alone(model_folder: Path, models_dir: Path, corpus_chunks: list[Chunk]):
    texts = [c.text for c in corpus_chunks[:8]]
    parallel = Embedder(model_folder, NAME, "cpu", 16, "onnx", "int8", models_dir, threads=2).encode(texts)
    serial = Embedder(model_folder, NAME, "cpu", 16, "onnx", "int8", models_dir, threads=1)
    assert np.array_equal(parallel, serial.encode(texts))  # bit for bit, whatever the threads
    assert np.array_equal(parallel[3], serial.encode([texts[3]])[0])  # and whatever its batch mates
    assert np.array_equal(parallel[::-1], serial.encode(texts[::-1]))


@pytest.mark.parametrize("failure", ["outputs differ", "fusion raises"])
def test_a_fusion_that_differs_or_fails_leaves_the_traced_graph(
    failure: str, model_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
    corpus_chunks: list[Chunk], fp32_vectors: np.ndarray,
) -> None:  # fmt: skip
    import onnx
    from onnxruntime.transformers import optimizer

    if failure == "outputs differ":
        monkeypatch.setattr(embedding_onnx, "FUSION_TOLERANCE", -1.0)  # the measured gap (>= 0) is now too big
        expected = "differs by"
    else:

        def broken(*args: object, **kwargs: object) -> None:
            raise RuntimeError("unknown architecture")

        monkeypatch.setattr(optimizer, "optimize_model", broken)
        expected = "fusion failed"
    target = tmp_path / "m-rev-fp32"
    with caplog.at_level("WARNING", logger="docmill.embedding.onnx"):
        ensure_export(model_folder, target, "fp32")
    assert expected in caplog.text
    assert json.loads((target / "export.json").read_text())["fused"] == {}
    assert {p.name for p in target.iterdir()} == {"model.onnx", "export.json"}  # the traced graph, renamed
    ops = {node.op_type for node in onnx.load(str(target / "model.onnx")).graph.node}
    assert "Attention" not in ops and "MatMul" in ops
    encoder = embedding_onnx.OnnxEncoder(model_folder, target / "model.onnx")
    vectors = encoder.encode([c.text for c in corpus_chunks[:4]], 4)
    assert np.sum(vectors * fp32_vectors[:4], axis=1).min() > 0.9999


def test_fp16_path_runs_on_cpu_and_agrees(model_folder: Path, corpus_chunks: list[Chunk], fp32_vectors: np.ndarray):
    half = Embedder(model_folder, NAME, "cpu", 16, "torch", "fp16")
    vectors = half.encode([c.text for c in corpus_chunks[:8]])
    assert np.sum(vectors * fp32_vectors[:8], axis=1).min() > 0.99
    assert half.model_key.endswith("+torch-fp16")


def test_backend_and_precision_are_part_of_the_model_key(model_folder: Path, embedder: Embedder) -> None:
    keys = {
        Embedder(model_folder, NAME, "cpu", 8, backend, precision).model_key
        for backend, precision in (("torch", "fp32"), ("torch", "fp16"), ("onnx", "fp32"), ("onnx", "int8"))
    }
    assert len(keys) == 4 and embedder.model_key in keys
    assert all(k.startswith(f"{NAME}@{embedder.revision}+") for k in keys)


def test_switching_backend_misses_the_cache_and_re_embeds(
    model_folder: Path, models_dir: Path, embedder: Embedder, corpus_chunks: list[Chunk]
) -> None:
    cache: dict[tuple[str, str], np.ndarray] = {}

    def cached(hashes: list[str], key: str) -> dict[str, np.ndarray]:
        return {h: cache[(h, key)] for h in hashes if (h, key) in cache}

    def run(encoder: Embedder) -> list[Chunk]:
        fresh = [Chunk(c.chunk_id, c.doc_id, c.index, c.text, c.token_count, 0, 1) for c in corpus_chunks[:6]]
        result = embed(fresh, EmbedConfig(), encoder, cached)
        cache.update({(c.text_hash, encoder.model_key): c.vector for c in result.records})
        return result.records

    torch_chunks = run(embedder)
    onnx = Embedder(model_folder, NAME, "cpu", 8, "onnx", "int8", models_dir)
    onnx_chunks = run(onnx)
    assert all(c.metadata["model"] == onnx.model_key for c in onnx_chunks)
    assert not any(np.array_equal(a.vector, b.vector) for a, b in zip(torch_chunks, onnx_chunks, strict=True))
    again = run(onnx)  # same backend again: served from the cache
    assert all(np.array_equal(a.vector, b.vector) for a, b in zip(onnx_chunks, again, strict=True))


def test_export_cache_is_reused_and_a_leftover_temp_folder_is_harmless(model_folder: Path, tmp_path: Path) -> None:
    target = tmp_path / "cache" / "m-rev-fp32"
    target.parent.mkdir()
    (target.parent / f".{target.name}.abandoned").mkdir()  # what a killed export leaves behind
    model = ensure_export(model_folder, target, "fp32")
    assert model.exists() and (target / "export.json").exists()
    stamp = model.stat().st_mtime_ns
    assert ensure_export(model_folder, target, "fp32") == model and model.stat().st_mtime_ns == stamp


def test_pipeline_is_read_from_the_model_files(model_folder: Path, tmp_path: Path) -> None:
    pipe = read_pipeline(model_folder)
    assert (pipe.pooling, pipe.normalize, pipe.max_seq_length) == ("mean", True, 256)
    copy = tmp_path / "model"
    shutil.copytree(model_folder, copy)
    (copy / "modules.json").write_text('[{"idx": 0, "name": "0", "path": "", "type": "x.Transformer"}]')
    with pytest.raises(ValueError, match="Transformer\\+Pooling"):
        read_pipeline(copy)


def test_plan_resolution_and_memory_batch_size() -> None:
    assert resolve_plan("auto", "auto", "auto", cuda_available=False) == ("onnx", "cpu", "int8")
    assert resolve_plan("auto", "auto", "auto", cuda_available=True) == ("torch", "cuda", "fp16")
    assert resolve_plan("torch", "cpu", "auto", cuda_available=False) == ("torch", "cpu", "fp32")
    for bad in (("onnx", "cuda", "auto"), ("torch", "cpu", "int8"), ("onnx", "cpu", "fp16")):
        with pytest.raises(ValueError):
            resolve_plan(*bad, cuda_available=True)
    gib = 1 << 30
    small, large = memory_batch_size(2 * gib, 256, 384, 12, 2), memory_batch_size(16 * gib, 256, 384, 12, 2)
    assert 8 <= small < large <= 1024
    assert memory_batch_size(1, 256, 384, 12, 2) == 8
