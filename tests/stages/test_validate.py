import math
from collections import Counter
from typing import Any

import pandera.pandas as pa
import pytest
from pandera.errors import SchemaErrors

from docmill.config.settings import ValidateConfig
from docmill.records import Chunk, Document, Element, make_chunk_id
from docmill.stages.validate import (
    ContractViolation,
    RejectRateExceeded,
    check_documents,
    check_reject_rate,
    chunk_schema,
    failed_rows,
    validate,
)

DIM = 4
META = {"source_uri": "file:///a.txt", "sha256": "a" * 64, "file_type": "txt", "title": "A", "model": "m@1"}


def _doc(doc_id: str = "a" * 64, text: str = "some text") -> Document:
    return Document(doc_id, "file:///a.txt", "txt", [Element(text)], text=text)


def _chunk(
    index: int,
    text: str = "valid text",
    vector: list[float] | None = None,
    tokens: int = 3,
    meta: dict | None = None,
    doc_id: str = "a" * 64,
) -> Chunk:
    return Chunk(
        make_chunk_id(doc_id, index, text),
        doc_id,
        index,
        text,
        tokens,
        0,
        len(text),
        metadata=dict(META if meta is None else meta),
        vector=vector or [1.0, 0.0, 0.0, 0.0],
    )


def test_valid_batch_passes_untouched() -> None:
    chunks = [_chunk(0), _chunk(1, "more text", [0.0, 0.6, 0.8, 0.0])]
    result = validate([_doc()], chunks, ValidateConfig(), max_tokens=10, dimension=DIM)
    assert result.records == chunks and not result.rejects


def test_each_failing_row_is_rejected_with_the_failed_checks_name() -> None:
    chunks = [
        _chunk(0),
        _chunk(1, vector=[1.0, 0.0, 0.0]),  # wrong dimension
        _chunk(2, vector=[math.nan, 0.0, 0.0, 1.0]),  # not finite
        _chunk(3, vector=[0.5, 0.5, 0.0, 0.0]),  # not unit norm
        _chunk(4, text="   "),  # blank text
        _chunk(5, tokens=11),  # over the token budget
        _chunk(6, meta={k: v for k, v in META.items() if k != "title"}),  # missing metadata
    ]
    result = validate([_doc()], chunks, ValidateConfig(), max_tokens=10, dimension=DIM)
    assert [c.index for c in result.records] == [0]
    reasons = {r.chunk_id: r.reason for r in result.rejects}
    assert reasons[chunks[1].chunk_id] == "embeddings.dimension"
    assert "embeddings.finite" in reasons[chunks[2].chunk_id]
    assert reasons[chunks[3].chunk_id] == "embeddings.unit_norm"
    assert reasons[chunks[4].chunk_id] == "chunks.non_empty_text"
    assert reasons[chunks[5].chunk_id] == "chunks.max_tokens"
    assert reasons[chunks[6].chunk_id] == "chunks.required_metadata"
    expected = {"in": 7, "out": 1, "rejected": 6, "violations": 6, "seconds": result.stats["seconds"]}
    assert result.stats == pytest.approx(expected)


def test_a_document_without_valid_chunks_is_quarantined() -> None:
    docs = [_doc("a" * 64), _doc("b" * 64, "other")]
    chunks = [_chunk(0), _chunk(0, "bad", [0.0, 0.0, 0.0, 0.0], doc_id="b" * 64)]
    result = validate(docs, chunks, ValidateConfig(), max_tokens=10, dimension=DIM)
    doc_level = [r for r in result.rejects if r.chunk_id is None]
    assert [(r.doc_id, r.reason) for r in doc_level] == [("b" * 64, "no_valid_chunks")]


def test_schema_level_failure_stops_the_run() -> None:
    import pandas as pd

    with pytest.raises(SchemaErrors):
        failed_rows(chunk_schema(ValidateConfig(), 10), pd.DataFrame({"chunk_id": ["x"]}))


def test_reject_rate_gate() -> None:
    check_reject_rate(1, 100, ValidateConfig(max_reject_rate=0.05))
    with pytest.raises(RejectRateExceeded, match=r"6 of 100 rows \(6.0%\) failed the chunks.*max_reject_rate"):
        check_reject_rate(6, 100, ValidateConfig(max_reject_rate=0.05))
    strict = ValidateConfig.model_validate({"max_reject_rate": 0.5, "cleaned": {"max_reject_rate": 0.01}})
    check_reject_rate(6, 100, strict, "chunks")
    with pytest.raises(RejectRateExceeded, match=r"cleaned contract.*1\.0% limit"):
        check_reject_rate(2, 100, strict, "cleaned")


def test_a_batch_without_chunks_validates_without_error() -> None:
    result = validate([_doc()], [], ValidateConfig(), max_tokens=10, dimension=DIM)
    assert not result.records and [r.reason for r in result.rejects] == ["no_valid_chunks"]
    assert validate([], [], ValidateConfig(), max_tokens=10, dimension=DIM).stats["in"] == 0


def _policies(contract: str, policy: str) -> ValidateConfig:
    return ValidateConfig.model_validate({contract: {"policy": policy}})


def _bad_extracted() -> list[Document]:
    good = Document("a" * 64, "file:///a.txt", "txt", [Element("text")], parser="text")
    no_parser = Document("b" * 64, "file:///b.txt", "txt", [Element("text")], parser="")
    blank = Document("c" * 64, "file:///c.txt", "txt", [Element("text"), Element("  ")], parser="text")
    return [good, no_parser, blank]


@pytest.mark.parametrize("contract", ["extracted", "cleaned"])
def test_document_contracts_under_each_policy(contract: str) -> None:
    if contract == "extracted":
        docs = _bad_extracted()
        expected = {"b" * 64: "validate", "c" * 64: "validate"}
        checks = {"b" * 64: "extracted.has_parser", "c" * 64: "extracted.no_blank_elements"}
    else:
        docs = [_doc("a" * 64, "fine text"), _doc("b" * 64, "control\x07char"), _doc("c" * 64, "spans")]
        for doc in docs:
            doc.text_hash = "f" * 64
            doc.elements[0].char_end = len(doc.text)
        docs[2].elements[0].char_end = 2  # an element that is not text[char_start:char_end]
        docs[0].metadata["language"] = "en"
        docs[1].metadata["language"] = "english"
        expected = {"b" * 64: "validate", "c" * 64: "validate"}
        checks = {"b" * 64: "cleaned.no_control_chars,cleaned.language_code", "c" * 64: "cleaned.element_spans"}
    quarantined = check_documents(list(docs), contract, _policies(contract, "quarantine"))
    assert [d.doc_id for d in quarantined.records] == ["a" * 64]
    assert {r.doc_id: r.stage for r in quarantined.rejects} == expected
    assert {r.doc_id: r.reason for r in quarantined.rejects} == checks
    assert quarantined.stats["violations"] == 2
    warned = check_documents(list(docs), contract, _policies(contract, "warn"))
    assert len(warned.records) == 3 and not warned.rejects and warned.stats["violations"] == 2
    with pytest.raises(ContractViolation, match=f"contract {contract}: 2 of 3 rows violate .*policy is `fail`"):
        check_documents(list(docs), contract, _policies(contract, "fail"))


@pytest.mark.parametrize("contract", ["chunks", "embeddings"])
def test_chunk_and_embedding_contracts_under_each_policy(contract: str) -> None:
    bad = _chunk(1, tokens=11) if contract == "chunks" else _chunk(1, vector=[0.5, 0.5, 0.0, 0.0])
    chunks = [_chunk(0), bad]
    quarantined = validate([_doc()], chunks, _policies(contract, "quarantine"), max_tokens=10, dimension=DIM)
    assert [c.index for c in quarantined.records] == [0]
    assert quarantined.rejects[0].reason == ("chunks.max_tokens" if contract == "chunks" else "embeddings.unit_norm")
    warned = validate([_doc()], chunks, _policies(contract, "warn"), max_tokens=10, dimension=DIM)
    assert len(warned.records) == 2 and warned.stats["violations"] == 1
    with pytest.raises(ContractViolation, match=f"contract {contract}: 1 of 2 rows"):
        validate([_doc()], chunks, _policies(contract, "fail"), max_tokens=10, dimension=DIM)


@pytest.mark.parametrize("policy", ["quarantine", "warn"])
def test_pandera_validates_each_contract_once_per_batch(monkeypatch: pytest.MonkeyPatch, policy: str) -> None:
    calls: Counter[str] = Counter()
    real = pa.DataFrameSchema.validate

    def counted(self: pa.DataFrameSchema, *args: Any, **kwargs: Any) -> Any:
        calls[str(self.name)] += 1
        return real(self, *args, **kwargs)  # the real validation, only counted

    monkeypatch.setattr(pa.DataFrameSchema, "validate", counted)
    policies = ValidateConfig.model_validate({c: {"policy": policy} for c in ("extracted", "chunks", "embeddings")})
    checked = check_documents(_bad_extracted(), "extracted", policies)
    assert checked.stats["violations"] == 2 and len(checked.rejects) == (2 if policy == "quarantine" else 0)
    assert calls == {"extracted": 1}
    chunks = [_chunk(0), _chunk(1, tokens=11), _chunk(2, vector=[0.5, 0.5, 0.0, 0.0])]
    validated = validate([_doc()], chunks, policies, max_tokens=10, dimension=DIM)
    assert validated.stats["violations"] == 2 and len(validated.records) == (1 if policy == "quarantine" else 3)
    assert calls == {"extracted": 1, "chunks": 1, "embeddings": 1}
