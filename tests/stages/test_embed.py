import numpy as np

from docmill.config.settings import EmbedConfig
from docmill.records import Chunk, make_chunk_id
from docmill.stages.embed import embed


class CountingEncoder:
    """The real model, counting how many texts it is asked to encode."""

    def __init__(self, embedder) -> None:
        self.inner = embedder
        self.model_key = embedder.model_key
        self.model_name = embedder.model_name
        self.calls: list[int] = []

    def encode(self, texts):
        self.calls.append(len(texts))
        return self.inner.encode(texts)


def _chunks(*texts: str) -> list[Chunk]:
    return [Chunk(make_chunk_id("d" * 64, i, t), "d" * 64, i, t, 5, 0, len(t)) for i, t in enumerate(texts)]


def test_real_model_gives_normalised_384_d_vectors_that_rank_sensibly(embedder) -> None:
    chunks = _chunks(
        "Invoices are paid within thirty days.",
        "Payment terms: invoices due in 30 days.",
        "The cat sat on the warm windowsill.",
    )
    result = embed(chunks, EmbedConfig(), embedder, lambda hashes, key: {})
    vectors = np.array([c.vector for c in result.records])
    assert vectors.shape == (3, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-4)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.2
    assert all(c.metadata["model"] == embedder.model_key for c in result.records)
    assert embedder.model_key.startswith("sentence-transformers/all-MiniLM-L6-v2@")


def test_cached_texts_are_not_embedded_again(embedder) -> None:
    encoder = CountingEncoder(embedder)
    first = embed(_chunks("alpha text", "beta text", "alpha text"), EmbedConfig(), encoder, lambda h, k: {})
    assert encoder.calls == [2] and first.stats["embedded"] == 2
    cache = {c.text_hash: c.vector for c in first.records}
    second = embed(
        _chunks("alpha text", "gamma text"),
        EmbedConfig(),
        encoder,
        lambda hashes, key: {h: cache[h] for h in hashes if h in cache},
    )
    assert encoder.calls == [2, 1]
    assert second.stats["embedded"] == 1 and second.stats["cached"] == 1
    assert np.array_equal(second.records[0].vector, first.records[0].vector)
