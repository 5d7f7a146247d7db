"""Near-duplicate detection: MinHash LSH (text.neardup) persisted in SQLite (state.catalog.neardup), on generated
documents with known edit rates."""

import logging
import random
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from docmill.config.settings import DedupConfig
from docmill.state.catalog import Catalog
from docmill.state.catalog.neardup import NearDupIndex
from docmill.text.neardup import EMPTY_VALUE, FN_WEIGHT, FP_WEIGHT, MinHasher, _optimal_bands, estimates, shingles

CONFIG = DedupConfig()  # threshold 0.8, shingle_size 5, num_perm 128
_ONSETS = ["b", "c", "d", "f", "g", "h", "l", "m", "n", "p", "r", "s", "t", "v", "w", "br", "st", "tr", "pl", "ch"]
_VOWELS = ["a", "e", "i", "o", "u", "ea", "ou"]
_CODAS = ["", "n", "r", "s", "t", "nd", "ll", "ck"]
VOCABULARY = sorted({o + v + c for o in _ONSETS for v in _VOWELS for c in _CODAS})[::3]  # ~370 words


def _document(rng: random.Random, words: int = 400) -> list[str]:
    """English-like text: words drawn from the vocabulary, a capital and a full stop every ~12 words."""
    return [rng.choice(VOCABULARY) for _ in range(words)]


def _text(words: list[str]) -> str:
    sentences = [" ".join(words[i : i + 12]) for i in range(0, len(words), 12)]
    return " ".join(s.capitalize() + "." for s in sentences)


def _edit(words: list[str], rate: float, rng: random.Random) -> list[str]:
    """Replace `rate` of the words, at random positions, by other vocabulary words."""
    edited = list(words)
    for position in rng.sample(range(len(words)), round(rate * len(words))):
        edited[position] = rng.choice([w for w in VOCABULARY if w != words[position]])
    return edited


def _jaccard(a: str, b: str, size: int = CONFIG.shingle_size) -> float:
    sa, sb = shingles(a, size), shingles(b, size)
    return len(sa & sb) / len(sa | sb)


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    connection = sqlite3.connect(tmp_path / "catalog.sqlite")
    yield connection
    connection.close()


def test_shingles_normalise_case_whitespace_and_punctuation() -> None:
    assert shingles("The  QUICK,\nbrown-fox!", 2) == {b"the quick", b"quick brown", b"brown fox"}
    assert shingles("The quick brown fox", 2) == shingles("the... Quick\tbrown (fox)", 2)
    assert shingles("two words", 5) == {b"two words"}
    assert shingles("Été à Zürich", 1) == {"été".encode(), "à".encode(), "zürich".encode()}
    assert shingles("", 5) == set()
    assert shingles(" -- !? ", 5) == set()


def test_bands_and_rows_minimise_the_weighted_error() -> None:
    index = NearDupIndex(sqlite3.connect(":memory:"), CONFIG)
    assert (index.bands, index.rows) == (14, 9)
    assert index.bands * index.rows <= CONFIG.num_perm
    lsh = pytest.importorskip("datasketch.lsh")
    if not hasattr(lsh, "_optimal_param"):
        pytest.skip("datasketch no longer has _optimal_param")
    for threshold, num_perm in [(0.8, 128), (0.5, 256), (0.9, 64), (0.7, 200)]:
        expected = lsh._optimal_param(threshold, num_perm, FP_WEIGHT, FN_WEIGHT)
        assert _optimal_bands(threshold, num_perm) == expected


def test_signature_is_seeded_and_estimates_jaccard(conn: sqlite3.Connection) -> None:
    rng = random.Random(7)
    base = _document(rng)
    first, other = NearDupIndex(conn, CONFIG), NearDupIndex(sqlite3.connect(":memory:"), CONFIG)
    signature = first.signature(_text(base))
    assert signature.dtype == np.uint32 and signature.shape == (CONFIG.num_perm,)
    assert np.array_equal(signature, other.signature(_text(base)))
    variant = _text(_edit(base, 0.03, rng))
    estimate = float(np.mean(signature == first.signature(variant)))
    assert abs(estimate - _jaccard(_text(base), variant)) < 0.15


def test_planted_near_duplicates_are_found_with_full_precision_and_recall(conn: sqlite3.Connection) -> None:
    rng = random.Random(42)
    index = NearDupIndex(conn, CONFIG)
    bases = {f"base{i}": _text(_document(rng)) for i in range(25)}
    for doc_id, text in bases.items():
        index.add(doc_id, index.signature(text))
    conn.commit()
    rates = [0.0025, 0.005, 0.01, 0.03, 0.05, 0.1, 0.3, 1.0]
    true_pos = false_pos = false_neg = clear = 0
    for base_id, base in bases.items():
        words = base.replace(".", "").lower().split()
        for rate in rates:
            variant = _text(_edit(words, rate, rng))
            found = dict(index.query(index.signature(variant)))
            for doc_id, text in bases.items():
                truth = _jaccard(variant, text) if doc_id == base_id else 0.0
                if abs(truth - CONFIG.threshold) < 0.1:
                    continue
                clear += 1
                expected, detected = truth >= CONFIG.threshold, doc_id in found
                true_pos += expected and detected
                false_pos += detected and not expected
                false_neg += expected and not detected
    assert clear >= 25 * 25 * len(rates) - 25 * 2  # nearly every pair has a clear margin
    assert true_pos >= 25 * 3  # the 0.25 %, 0.5 % and 1 % edits are above 0.9
    assert (false_pos, false_neg) == (0, 0)


@pytest.mark.parametrize(
    ("rate", "expected"), [(0.0025, True), (0.005, True), (0.01, True), (0.05, False), (0.1, False), (0.3, False)]
)
def test_edit_rate_detection_agrees_with_true_jaccard(conn: sqlite3.Connection, rate: float, expected: bool) -> None:
    # With 5-word shingles one replaced word changes up to 5 shingles: 1 % edits give a true Jaccard of ~0.9,
    # 3 % ~0.75 (too close to 0.8 to assert), 5 % ~0.63.
    rng = random.Random(round(rate * 10_000))
    index = NearDupIndex(conn, CONFIG)
    base = _document(rng)
    index.add("base", index.signature(_text(base)))
    variant = _text(_edit(base, rate, rng))
    truth = _jaccard(variant, _text(base))
    assert abs(truth - CONFIG.threshold) >= 0.1 and (truth >= CONFIG.threshold) == expected, truth
    found = index.query(index.signature(variant))
    assert [doc_id for doc_id, _ in found] == (["base"] if expected else [])


def test_unrelated_documents_do_not_match(conn: sqlite3.Connection) -> None:
    rng = random.Random(11)
    index = NearDupIndex(conn, CONFIG)
    for i in range(200):
        index.add(f"doc{i}", index.signature(_text(_document(rng))))
    for _ in range(50):
        assert index.query(index.signature(_text(_document(rng)))) == []


def test_query_returns_best_first_with_estimates(conn: sqlite3.Connection) -> None:
    rng = random.Random(5)
    index = NearDupIndex(conn, CONFIG)
    base = _document(rng)
    index.add("exact", index.signature(_text(base)))
    index.add("close", index.signature(_text(_edit(base, 0.005, rng))))
    found = index.query(index.signature(_text(base)))
    assert [doc_id for doc_id, _ in found] == ["exact", "close"]
    assert found[0][1] == 1.0 and CONFIG.threshold <= found[1][1] < 1.0


def test_index_persists_across_connections(tmp_path: Path) -> None:
    path, text = tmp_path / "catalog.sqlite", _text(_document(random.Random(1)))
    first = sqlite3.connect(path)
    index = NearDupIndex(first, CONFIG)
    assert index.stale  # new index: the caller may have documents to add
    index.add("doc", index.signature(text))
    first.commit()
    first.close()
    second = sqlite3.connect(path)
    reopened = NearDupIndex(second, CONFIG)
    assert not reopened.stale and len(reopened) == 1
    assert [doc_id for doc_id, _ in reopened.query(reopened.signature(text))] == ["doc"]
    second.close()


def test_parameter_change_empties_the_index(conn: sqlite3.Connection, caplog: pytest.LogCaptureFixture) -> None:
    index = NearDupIndex(conn, CONFIG)
    index.add("doc", index.signature(_text(_document(random.Random(2)))))
    conn.commit()
    assert len(NearDupIndex(conn, CONFIG)) == 1
    with caplog.at_level(logging.WARNING, logger="docmill.state.catalog.neardup"):
        changed = NearDupIndex(conn, CONFIG.model_copy(update={"shingle_size": 3}))
    assert changed.stale and len(changed) == 0
    assert "index emptied" in caplog.text
    assert conn.execute("SELECT COUNT(*) FROM neardup_bands").fetchone()[0] == 0


def test_add_is_idempotent_and_replaces(conn: sqlite3.Connection) -> None:
    rng = random.Random(9)
    index = NearDupIndex(conn, CONFIG)
    old, new = _text(_document(rng)), _text(_document(rng))
    index.add("doc", index.signature(old))
    index.add("doc", index.signature(old))
    assert len(index) == 1
    assert conn.execute("SELECT COUNT(*) FROM neardup_bands").fetchone()[0] == index.bands
    index.add("doc", index.signature(new))
    assert len(index) == 1
    assert index.query(index.signature(old)) == []
    assert [doc_id for doc_id, _ in index.query(index.signature(new))] == ["doc"]


def test_remove_forgets_documents(conn: sqlite3.Connection) -> None:
    rng = random.Random(4)
    index = NearDupIndex(conn, CONFIG)
    texts = {f"doc{i}": _text(_document(rng)) for i in range(3)}
    index.add_many((doc_id, index.signature(text)) for doc_id, text in texts.items())
    assert index.remove(iter(["doc0", "doc1", "unknown"])) == 2
    assert len(index) == 1
    assert index.query(index.signature(texts["doc0"])) == []
    assert [doc_id for doc_id, _ in index.query(index.signature(texts["doc2"]))] == ["doc2"]
    assert conn.execute("SELECT COUNT(*) FROM neardup_bands").fetchone()[0] == index.bands


def test_add_and_remove_leave_the_transaction_to_the_caller(conn: sqlite3.Connection) -> None:
    index = NearDupIndex(conn, CONFIG)
    conn.commit()
    index.add("doc", index.signature(_text(_document(random.Random(6)))))
    assert conn.in_transaction
    conn.rollback()
    assert len(index) == 0


def test_document_without_words_is_never_indexed_nor_matched(conn: sqlite3.Connection) -> None:
    index = NearDupIndex(conn, CONFIG)
    empty = index.signature(" ... -- !!")
    assert np.all(empty == EMPTY_VALUE) and np.array_equal(empty, index.signature(""))
    index.add("blank", empty)
    assert len(index) == 0 and index.query(empty) == []
    text = _text(_document(random.Random(8)))
    index.add("doc", index.signature(text))
    index.add("doc", empty)  # the document lost its text: it leaves the index
    assert len(index) == 0 and index.query(index.signature(text)) == []


def test_short_documents_compare_as_one_shingle(conn: sqlite3.Connection) -> None:
    index = NearDupIndex(conn, CONFIG)
    index.add("memo", index.signature("Quarterly report"))
    assert index.query(index.signature("QUARTERLY  report!")) == [("memo", 1.0)]
    assert index.query(index.signature("Quarterly reports")) == []


def test_signature_of_wrong_length_is_refused(conn: sqlite3.Connection) -> None:
    index = NearDupIndex(conn, CONFIG)
    with pytest.raises(ValueError, match="shape"):
        index.add("doc", np.zeros(64, dtype=np.uint32))


def test_the_minhash_scheme_needs_no_storage_and_its_band_keys_are_stable() -> None:
    rng = random.Random(3)
    hasher, text, other = MinHasher(CONFIG), _text(_document(rng)), _text(_document(rng))
    signature = hasher.signature(text)
    keys = hasher.band_keys(signature)
    assert len(keys) == hasher.bands and keys == MinHasher(CONFIG).band_keys(MinHasher(CONFIG).signature(text))
    assert all(-(2**63) <= key < 2**63 for key in keys)  # a SQLite INTEGER
    assert hasher.band_keys(hasher.signature(other)) != keys
    found = estimates(np.stack([signature, hasher.signature(other)]), signature)
    assert list(found) == [1.0, pytest.approx(0.0, abs=0.05)]


def test_the_catalogs_index_writes_only_in_the_catalogs_transaction(tmp_path: Path) -> None:
    path, text = tmp_path / "catalog.sqlite", _text(_document(random.Random(12)))
    catalog = Catalog(path)
    assert not hasattr(catalog, "connection")  # the raw connection is never handed out
    index = catalog.near_duplicates(CONFIG)
    assert index.stale
    with pytest.raises(RuntimeError, match="batch failed"), catalog.transaction():
        index.add("doc", index.signature(text))
        raise RuntimeError("batch failed")
    assert len(index) == 0
    with catalog.transaction():
        index.add("doc", index.signature(text))
    catalog.close()
    reopened = Catalog(path)
    index = reopened.near_duplicates(CONFIG)
    assert not index.stale and [doc_id for doc_id, _ in index.query(index.signature(text))] == ["doc"]
    reopened.close()
