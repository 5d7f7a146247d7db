"""The retrieval benchmark's query sets and metrics on small hand-made inputs (the benchmark itself runs the
pipeline twice: benchmarks/retrieval_benchmark.py)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from benchmarks.retrieval_queries import (
    Query,
    Relevance,
    asserted_identifiers,
    id_like,
    identifier_queries,
    mrr_at,
    passage_queries,
    recall_at,
    reword,
    section_queries,
    sentences,
    vector_identifiers,
)

PROSE = "The finance department reviews supplier contracts before the end of each month in the register."
CHUNKS = [
    {"chunk_id": "a", "doc_id": "d1", "text": "Order SKU-0019 shipped.", "headings": ["Handbook", "Leave"]},
    {"chunk_id": "b", "doc_id": "d1", "text": "Restock sku-0019 and SKU-00190.", "headings": ["Handbook"]},
    {"chunk_id": "c", "doc_id": "d2", "text": PROSE, "headings": ["Report", "Leave"]},
    {"chunk_id": "d", "doc_id": "d2", "text": "| a | b |\n| 1 | 2 |", "headings": []},
]


def test_recall_at_k_counts_hits_over_the_relevant_that_fit_in_k() -> None:
    assert recall_at(["x", "a", "y"], {"a"}, 5) == 1.0
    assert recall_at(["x", "a", "y", "b", "z", "c"], {"a", "b", "c"}, 5) == pytest.approx(2 / 3)  # c is 6th
    # 8 relevant ids: the top 5 can hold 5 of them at best, 3 are there
    assert recall_at(["r1", "x", "r2", "y", "r3"], {f"r{i}" for i in range(1, 9)}, 5) == pytest.approx(3 / 5)
    assert recall_at(["x", "y"], {"a"}, 5) == 0.0
    assert recall_at(["a"], set(), 5) == 0.0


def test_mrr_is_the_reciprocal_rank_of_the_first_relevant_within_k() -> None:
    assert mrr_at(["a", "b"], {"a"}) == 1.0
    assert mrr_at(["x", "y", "b", "a"], {"a", "b"}) == pytest.approx(1 / 3)
    assert mrr_at([f"x{i}" for i in range(10)] + ["a"], {"a"}, 10) == 0.0  # 11th: outside the top 10
    assert mrr_at([], {"a"}) == 0.0


def test_identifiers_are_digit_tokens_of_five_characters_or_more_normalised() -> None:
    assert id_like("## 09060124-b5e7 SKU-0019, 2003 and WH-1 at 11/23/2024") == [
        "09060124-b5e7",
        "sku-0019",
        "11/23/2024",
    ]


def test_relevance_is_derived_from_the_chunks() -> None:
    relevant = Relevance(CHUNKS)
    assert relevant(Query("identifiers", "SKU-0019", "sku-0019")) == {"a", "b"}  # not SKU-00190: another code
    assert relevant(Query("sections", "leave", "Leave")) == {"a", "c"}
    sentence = "reviews supplier  contracts before"
    assert relevant(Query("passages", "whatever", sentence)) == {"c"}
    assert relevant(Query("identifiers", "INV-404", "inv-404")) == set()


def test_identifier_queries_are_verbatim_and_in_a_sentence() -> None:
    queries = identifier_queries(["sku-0019", "sku-0019", "ro-20221108"], seed=1)
    assert [q.target for q in queries] == ["sku-0019", "sku-0019", "ro-20221108", "ro-20221108"]
    assert queries[0].text == "sku-0019"
    assert queries[1].text != "sku-0019" and "sku-0019" in queries[1].text
    assert identifier_queries(["sku-0019"], seed=1) == identifier_queries(["sku-0019"], seed=1)


def test_section_queries_take_each_distinct_heading_below_the_title_once() -> None:
    chunks = [*CHUNKS, {"chunk_id": "e", "doc_id": "d3", "text": "x", "headings": ["Manual", "Setup", "Wi-Fi 6"]}]
    queries = section_queries(chunks, limit=10)
    assert sorted(q.text for q in queries) == ["Leave", "Setup", "Wi-Fi 6"]
    assert len(section_queries(chunks, limit=2)) == 2


def test_passages_are_prose_sentences_reworded_deterministically() -> None:
    assert sentences("| a | b | c | d | e | f | g | h |\nToo short.\n" + PROSE) == [PROSE]
    # "supplier contracts" swapped, "end" -> "finish" (a synonym), "before" dropped
    once = "The finance department reviews contracts supplier the finish of each month in the register."
    assert reword(PROSE, random.Random(3)) == once
    queries = passage_queries(CHUNKS, limit=5)
    assert [(q.set, q.target) for q in queries] == [("passages", PROSE)]
    assert Relevance(CHUNKS)(queries[0]) == {"c"}


def test_synonym_rewording_keeps_a_capital() -> None:
    sentence = "Each team will use the shared register for every new supplier contract this year"
    # "for every" swapped, "new" -> "novel", "team" dropped
    assert (
        reword(sentence, random.Random(0))
        == "Each will use the shared register every for novel supplier contract this year"
    )
    assert reword("Each of them will start the work on the same day", random.Random(2)).startswith("Every them")


def test_identifier_sources_are_read_from_the_test_files(tmp_path: Path) -> None:
    vectors = tmp_path / "_test_vectors.py"
    vectors.write_text(
        'V = [dict(must_include=["## 314b0a30-5b04", "2003", "Abstract"], must_not_include=["X-99999"])]'
    )
    (tmp_path / "test_files" / "expected_outputs").mkdir(parents=True)
    (tmp_path / "test_files" / "expected_outputs" / "a.md").write_text("Repair Order # RO-20221108\n")
    assert vector_identifiers(vectors) == ["314b0a30-5b04", "ro-20221108"]
    test = tmp_path / "test_table.py"
    test.write_text('x = "NOT-12345"\nassert t[-1] == ["", "DHAW20190070", "$ 253.15"]\n')
    assert asserted_identifiers([test]) == ["dhaw20190070", "253.15"]
