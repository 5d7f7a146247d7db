"""The sparse lexical encoder: identifiers stay whole, ordinary words are stemmed, BM25 weights saturate."""

from __future__ import annotations

import importlib.util

import pytest

from docmill.config.settings import Settings
from docmill.embedding.sparse import SparseEncoder, from_settings, term_id, text_of
from docmill.records import Chunk

STEMMER = importlib.util.find_spec("snowballstemmer") is not None
IDS = [
    "sku-0019",
    "4373090816",
    "123e4567-e89b-12d3-a456-426614174000",
    "inv-2024-0042",
    "2.3.59",
    "jane.doe@example.com",
]


def test_identifiers_stay_whole_and_their_parts_are_terms_too() -> None:
    text = (
        "Order SKU-0019 (ref 4373090816, id 123E4567-E89B-12D3-A456-426614174000) is billed on INV-2024-0042 "
        "under clause 2.3.59. Questions to Jane.Doe@example.com."
    )
    tokens = SparseEncoder(["en"]).tokens(text)
    assert all(i in tokens for i in IDS), tokens
    assert {"sku", "0019", "inv", "2024", "0042", "e89b"} <= set(tokens)
    assert "2.3.59." not in tokens and "is" not in tokens and "on" not in tokens  # stop words and the full stop
    assert all(t == t.lower() for t in tokens)


@pytest.mark.skipif(not STEMMER, reason="snowballstemmer is not installed: the encoder does not stem")
def test_ordinary_words_are_stemmed_in_the_configured_languages_and_words_with_digits_are_not() -> None:
    english = SparseEncoder(["en"])
    assert english.version == "bm25-v1+snowball-en"
    assert english.tokens("invoices invoiced running") == ["invoic", "invoic", "run"]
    assert english.tokens("A4-sized forms2") == ["a4-sized", "a4", "size", "forms2"]
    both = SparseEncoder(["en", "de"])
    assert both.version == "bm25-v1+snowball-en-de"
    assert "rechnung" in both.tokens("Rechnungen", language="de")
    query = both.query("Rechnungen invoices")  # the query's language is unknown: stems of both
    assert term_id("rechnung") in query.indices and term_id("invoic") in query.indices
    assert SparseEncoder(["xx"]).version == "bm25-v1+nostem"  # no stemmer for that language: none


def test_bm25_weights_saturate_with_term_frequency_and_shrink_with_length() -> None:
    encoder = SparseEncoder(["en"], k1=1.2, b=0.75, average_length=10)
    once = encoder.document("ledger alpha")
    weight = dict(zip(once.indices, once.values, strict=True))[term_id("ledger")]
    thrice = encoder.document("ledger ledger ledger alpha")
    weight3 = dict(zip(thrice.indices, thrice.values, strict=True))[term_id("ledger")]
    assert weight < weight3 < 3 * weight and weight3 < encoder.k1 + 1
    longer = encoder.document("ledger " + " ".join(f"word{i}" for i in range(30)))
    assert dict(zip(longer.indices, longer.values, strict=True))[term_id("ledger")] < weight
    assert once.indices == sorted(once.indices) and len(set(once.indices)) == len(once.indices)
    query = encoder.query("the ledger of SKU-0019")
    assert set(query.values) == {1.0} and term_id("sku-0019") in query.indices and term_id("the") not in query.indices


def test_term_ids_are_stable_32_bit_hashes() -> None:
    assert term_id("sku-0019") == term_id("sku-0019") and 0 <= term_id("sku-0019") < 2**32
    assert term_id("sku-0019") == 4197143554  # the same in every process and every version of the code


def test_the_languages_come_from_the_sparse_setting_then_the_allowed_languages_then_english() -> None:
    assert from_settings(Settings()).languages == ["en"]
    allowed = Settings.model_validate({"clean": {"quality": {"allowed_languages": ["de", "en"]}}})
    assert from_settings(allowed).languages == ["de", "en"]
    own = Settings.model_validate(
        {"clean": {"quality": {"allowed_languages": ["de"]}}, "embed": {"sparse": {"languages": ["fr"]}}}
    )
    assert from_settings(own).languages == ["fr"]


def test_a_chunk_is_encoded_from_text_of_in_its_detected_language() -> None:
    item = Chunk("c", "d", 0, "Lieferung SKU-0019", 3, 0, 18, metadata={"chunk_language": "de"})
    assert text_of(item) == item.text
    encoder = SparseEncoder(["en", "de"])
    assert encoder.chunk(item) == encoder.document(item.text, "de")


def test_identifiers_are_the_tokens_with_a_digit() -> None:
    """What makes `docmill search` count the sparse ranks twice: a code, a number, a dotted version, a UUID."""
    from docmill.embedding.sparse import identifiers

    text = "Order PO-77341-B, ref 4373090816, v2.3.59, id 3f2b1c9e-8a7d-4c21-9e0f-1a2b3c4d5e6f for the desks"
    assert identifiers(text) == ["PO-77341-B", "4373090816", "v2.3.59", "3f2b1c9e-8a7d-4c21-9e0f-1a2b3c4d5e6f"]
    assert identifiers("standing desks for the Bristol office") == []
