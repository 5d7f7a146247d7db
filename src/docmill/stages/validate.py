"""Validate: pandera data contracts at every stage boundary, each check named and described.

Contracts: `extracted` (documents after extract), `cleaned` (documents after clean), `chunks` and
`embeddings`. Each has a policy (`validate.<contract>.policy`): `fail` stops the run with the failed checks,
`quarantine` rejects the violating rows with the check names as reason (a failing document rejects all its
chunks), `warn` keeps them and counts the violations. A schema-level failure (a missing column: a bug, not
bad data) always stops the run. The reject-rate gate per contract stops a run whose inputs went wrong at scale.

Size: one pandera schema per contract with its named checks, and the policy that applies them.
"""

from __future__ import annotations

import logging
import re
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaErrors

from docmill.config.settings import ValidateConfig
from docmill.records import Chunk, Document, Reject, StageResult
from docmill.text.controls import CONTROL_CHARS

log = logging.getLogger(__name__)

REQUIRED_METADATA = ("source_uri", "sha256", "file_type", "title", "model")


class RejectRateExceeded(RuntimeError):
    """More rows failed a contract than its reject-rate gate allows."""


class ContractViolation(RuntimeError):
    """Rows violated a contract whose policy is `fail`."""


def _named(fn: Callable[..., Any], name: str, error: str, element_wise: bool = True) -> pa.Check:
    return pa.Check(fn, name=name, error=error, element_wise=element_wise)


_LANGUAGE = re.compile(r"^(?:[a-z]{2,3}|und)$")

EXTRACTED_SCHEMA = pa.DataFrameSchema(
    {
        "doc_id": pa.Column(str, _named(lambda v: len(v) == 64, "sha256_doc_id", "doc_id is a sha256")),
        "source_uri": pa.Column(str, _named(lambda v: bool(v), "has_source", "source URI present")),
        "file_type": pa.Column(str, _named(lambda v: bool(v), "has_file_type", "file type present")),
        "parser": pa.Column(str, _named(lambda v: bool(v), "has_parser", "the parser that read it is named")),
        "elements": pa.Column(int, _named(lambda v: v > 0, "has_elements", "at least one element")),
        "blank_elements": pa.Column(int, _named(lambda v: v == 0, "no_blank_elements", "no element is blank")),
    },
    name="extracted",
)

CLEANED_SCHEMA = pa.DataFrameSchema(
    {
        "doc_id": pa.Column(str, _named(lambda v: len(v) == 64, "sha256_doc_id", "doc_id is a sha256")),
        "text": pa.Column(
            str,
            [
                _named(lambda v: bool(v.strip()), "non_empty_text", "text is not blank"),
                _named(lambda v: not CONTROL_CHARS.search(v), "no_control_chars", "no control characters left"),
            ],
        ),
        "text_hash": pa.Column(str, _named(lambda v: len(v) == 64, "text_fingerprint", "text fingerprint set")),
        "spans_ok": pa.Column(
            bool, _named(lambda v: bool(v), "element_spans", "every element is `text[char_start:char_end]`")
        ),
        "language": pa.Column(
            str, _named(lambda v: bool(_LANGUAGE.match(v)), "language_code", "ISO 639 code or `und`"), nullable=True
        ),
    },
    name="cleaned",
)
DOCUMENT_SCHEMAS = {"extracted": EXTRACTED_SCHEMA, "cleaned": CLEANED_SCHEMA}


def _document_frame(docs: list[Document], contract: str) -> pd.DataFrame:
    if contract == "extracted":
        return pd.DataFrame(
            {
                "doc_id": [d.doc_id for d in docs],
                "source_uri": [d.source_uri for d in docs],
                "file_type": [d.file_type for d in docs],
                "parser": [d.parser for d in docs],
                "elements": [len(d.elements) for d in docs],
                "blank_elements": [sum(not e.text.strip() for e in d.elements) for d in docs],
            }
        )
    return pd.DataFrame(
        {
            "doc_id": [d.doc_id for d in docs],
            "text": [d.text for d in docs],
            "text_hash": [d.text_hash for d in docs],
            "spans_ok": [all(d.text[e.char_start : e.char_end] == e.text for e in d.elements) for d in docs],
            "language": pd.Series([d.metadata.get("language") for d in docs], dtype=object),
        }
    )


def chunk_schema(config: ValidateConfig, max_tokens: int) -> pa.DataFrameSchema:
    """Chunk contract; the token bound is the model's budget."""
    return pa.DataFrameSchema(
        {
            "chunk_id": pa.Column(str, unique=True),
            "text": pa.Column(str, _named(lambda v: bool(v.strip()), "non_empty_text", "chunk text is not blank")),
            "token_count": pa.Column(
                int,
                [
                    _named(lambda v: v >= config.min_tokens, "min_tokens", f">= {config.min_tokens} tokens"),
                    _named(lambda v: v <= max_tokens, "max_tokens", f"<= {max_tokens} tokens"),
                ],
            ),
            "span_ok": pa.Column(bool, _named(lambda v: bool(v), "char_span", "0 <= char_start < char_end")),
            "metadata_ok": pa.Column(
                bool,
                _named(lambda v: bool(v), "required_metadata", f"metadata has {', '.join(REQUIRED_METADATA)}"),
            ),
        },
        name="chunks",
    )


def _floats(vector: Any) -> np.ndarray:
    return np.asarray([] if vector is None else vector, dtype=np.float64)


def embedding_schema(config: ValidateConfig, dimension: int) -> pa.DataFrameSchema:
    """Embedding contract: model dimension, finite values, unit norm."""
    return pa.DataFrameSchema(
        {
            "vector": pa.Column(
                object,
                [
                    _named(lambda v: np.shape(v) == (dimension,), "dimension", f"vector has {dimension} dims"),
                    _named(lambda v: bool(np.isfinite(_floats(v)).all()), "finite", "no NaN or inf"),
                    _named(
                        lambda v: bool(abs(np.linalg.norm(_floats(v)) - 1) <= config.norm_tolerance),
                        "unit_norm",
                        "L2 norm is 1",
                    ),
                ],
            ),
        },
        name="embeddings",
    )


def _check_name(schema: pa.DataFrameSchema, column: object, check: object, number: object) -> str:
    """The declared name of a failed check (pandera reports the error message in `check`)."""
    if isinstance(column, str) and column in schema.columns and pd.notna(number):
        return str(schema.columns[column].checks[int(number)].name)  # type: ignore[call-overload]
    return str(check)


def failed_rows(schema: pa.DataFrameSchema, frame: pd.DataFrame) -> dict[int, list[str]]:
    """Row index -> names of failed checks.

    Raises:
        SchemaErrors: on schema-level failures (missing columns, wrong types of a whole column).
    """
    try:
        schema.validate(frame, lazy=True)
    except SchemaErrors as errors:
        cases = errors.failure_cases
        if cases["index"].isna().any():
            raise
        failed: dict[int, list[str]] = defaultdict(list)
        for index, column, check, number in zip(
            cases["index"], cases["column"], cases["check"], cases["check_number"], strict=True
        ):
            name = f"{schema.name}.{_check_name(schema, column, check, number)}"
            if name not in failed[int(index)]:
                failed[int(index)].append(name)
        return dict(failed)
    return {}


def _chunk_frame(chunks: list[Chunk]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "chunk_id": [c.chunk_id for c in chunks],
            "text": [c.text for c in chunks],
            "token_count": [c.token_count for c in chunks],
            "span_ok": [0 <= c.char_start < c.char_end for c in chunks],
            "metadata_ok": [all(c.metadata.get(k) for k in REQUIRED_METADATA) for c in chunks],
            "vector": pd.Series([c.vector for c in chunks], dtype=object),
        }
    )


def enforce(
    schema: pa.DataFrameSchema, failed: dict[int, list[str]], config: ValidateConfig, ids: list[str]
) -> dict[int, list[str]]:
    """Apply one contract's policy to the rows that failed it (`failed_rows`, validated once): the rows to reject
    (empty under `warn`); `ids` names every row checked.

    Raises:
        ContractViolation: under `fail`, naming the failed checks and the first violating rows.
    """
    if not failed:
        return {}
    policy = config.contract(str(schema.name)).policy
    checks = sorted({c for names in failed.values() for c in names})
    summary = f"{len(failed)} of {len(ids)} rows violate {', '.join(checks)} (e.g. {ids[min(failed)]})"
    if policy == "fail":
        raise ContractViolation(
            f"contract {schema.name}: {summary}; validate.{schema.name}.policy is `fail` "
            "(set it to `quarantine` to reject such rows instead)"
        )
    if policy == "warn":
        log.warning("contract %s: %s (policy warn: kept)", schema.name, summary)
        return {}
    return failed


def check_documents(docs: list[Document], contract: str, config: ValidateConfig) -> StageResult[Document]:
    """Check documents against the `extracted` or `cleaned` contract; violating documents are rejected."""
    started = time.perf_counter()
    schema = DOCUMENT_SCHEMAS[contract]
    frame = _document_frame(docs, contract)
    violations = failed_rows(schema, frame) if docs else {}
    ids = [f"document {d.doc_id[:16]}" for d in docs]  # not its name: this message may reach logs and the UI
    failed = enforce(schema, violations, config, ids)
    result: StageResult[Document] = StageResult(records=[])
    for index, doc in enumerate(docs):
        if index in failed:
            checks = failed[index]
            message = f"violates {', '.join(checks)}"
            result.rejects.append(Reject("validate", ",".join(checks), message, doc.doc_id, doc.source_uri))
        else:
            result.records.append(doc)
    return result.finish(len(docs), started, violations=len(violations))


def validate(
    docs: list[Document], chunks: list[Chunk], config: ValidateConfig, max_tokens: int, dimension: int
) -> StageResult[Chunk]:
    """Validate a batch of embedded chunks (contracts `chunks` and `embeddings`); returns the chunks that pass."""
    started = time.perf_counter()
    rejects: list[Reject] = []
    bad_chunks: dict[int, list[str]] = {}
    violations = 0
    if chunks:  # an empty frame has object columns: pandera would fail the dtype checks of the whole schema
        frame = _chunk_frame(chunks)
        ids = [c.chunk_id for c in chunks]
        for schema, columns in (
            (chunk_schema(config, max_tokens), frame),
            (embedding_schema(config, dimension), frame[["vector"]]),
        ):
            failed = failed_rows(schema, columns)
            violations += len(failed)
            for index, checks in enforce(schema, failed, config, ids).items():
                bad_chunks.setdefault(index, []).extend(checks)
    valid: list[Chunk] = []
    source = {d.doc_id: d.source_uri for d in docs}
    for index, item in enumerate(chunks):
        checks = bad_chunks.get(index) or []
        if checks:
            rejects.append(
                Reject(
                    "validate",
                    ",".join(checks),
                    f"chunk {item.index} failed: {', '.join(checks)}",
                    item.doc_id,
                    source.get(item.doc_id),
                    item.chunk_id,
                )
            )
        else:
            valid.append(item)
    kept_docs = {c.doc_id for c in valid}
    for doc in docs:
        if doc.doc_id not in kept_docs:
            rejects.append(
                Reject("validate", "no_valid_chunks", "no chunk passed validation", doc.doc_id, doc.source_uri)
            )
    return StageResult(
        valid,
        rejects,
        {
            "in": len(chunks),
            "out": len(valid),
            "rejected": len(chunks) - len(valid),
            "violations": violations,
            "seconds": time.perf_counter() - started,
        },
    )


def check_reject_rate(rejected: int, total: int, config: ValidateConfig, contract: str = "chunks") -> None:
    """Stop the run when a contract rejected too many of the rows it saw so far.

    Raises:
        RejectRateExceeded: with the measured rate and what to do.
    """
    limit = config.limit(contract)
    if total and rejected / total > limit:
        raise RejectRateExceeded(
            f"{rejected} of {total} rows ({rejected / total:.1%}) failed the {contract} contract, over the "
            f"{limit:.1%} limit (validate.{contract}.max_reject_rate or validate.max_reject_rate); "
            f"see `docmill quarantine list`"
        )
