"""Validate: pandera contracts for documents, chunks and embeddings; failing rows become rejects.

Row-level failures reject that row (a failing document rejects all its chunks) with the names of the failed
checks as reason. A schema-level failure (a missing column: a bug, not bad data) stops the run.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaErrors

from docmill.records import Chunk, Document, Reject, StageResult
from docmill.settings import ValidateConfig

REQUIRED_METADATA = ("source_uri", "sha256", "file_type", "title", "model")


class RejectRateExceeded(RuntimeError):
    """More chunks failed validation than `validate.max_reject_rate` allows."""


def _named(fn: Callable[..., Any], name: str, error: str, element_wise: bool = True) -> pa.Check:
    return pa.Check(fn, name=name, error=error, element_wise=element_wise)


DOCUMENT_SCHEMA = pa.DataFrameSchema(
    {
        "doc_id": pa.Column(str, _named(lambda v: len(v) == 64, "sha256_doc_id", "doc_id is a sha256")),
        "source_uri": pa.Column(str, _named(lambda v: bool(v), "has_source", "source URI present")),
        "file_type": pa.Column(str, _named(lambda v: bool(v), "has_file_type", "file type present")),
        "text": pa.Column(str, _named(lambda v: bool(v.strip()), "non_empty_text", "text is not blank")),
    },
    name="documents",
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


def validate(
    docs: list[Document], chunks: list[Chunk], config: ValidateConfig, max_tokens: int, dimension: int
) -> StageResult[Chunk]:
    """Validate a batch; returns the chunks that pass every contract."""
    started = time.perf_counter()
    rejects: list[Reject] = []
    doc_frame = pd.DataFrame(
        {
            "doc_id": [d.doc_id for d in docs],
            "source_uri": [d.source_uri for d in docs],
            "file_type": [d.file_type for d in docs],
            "text": [d.text for d in docs],
        }
    )
    bad_docs = {docs[i].doc_id: checks for i, checks in failed_rows(DOCUMENT_SCHEMA, doc_frame).items()} if docs else {}
    bad_chunks: dict[int, list[str]] = {}
    if chunks:  # an empty frame has object columns: pandera would fail the dtype checks of the whole schema
        frame = _chunk_frame(chunks)
        bad_chunks = failed_rows(chunk_schema(config, max_tokens), frame)
        for index, checks in failed_rows(embedding_schema(config, dimension), frame[["vector"]]).items():
            bad_chunks.setdefault(index, []).extend(checks)
    valid: list[Chunk] = []
    source = {d.doc_id: d.source_uri for d in docs}
    for index, item in enumerate(chunks):
        checks = bad_docs.get(item.doc_id) or bad_chunks.get(index) or []
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
            checks = bad_docs.get(doc.doc_id, [])
            rejects.append(
                Reject(
                    "validate",
                    "no_valid_chunks",
                    f"no chunk passed validation {checks or ''}".strip(),
                    doc.doc_id,
                    doc.source_uri,
                )
            )
    return StageResult(
        valid,
        rejects,
        {
            "in": len(chunks),
            "out": len(valid),
            "rejected": len(chunks) - len(valid),
            "seconds": time.perf_counter() - started,
        },
    )


def check_reject_rate(rejected: int, total: int, config: ValidateConfig) -> None:
    """Stop the run when too many chunks failed validation.

    Raises:
        RejectRateExceeded: with the measured rate and what to do.
    """
    if total and rejected / total > config.max_reject_rate:
        raise RejectRateExceeded(
            f"{rejected} of {total} chunks ({rejected / total:.1%}) failed validation, over the "
            f"{config.max_reject_rate:.1%} limit (validate.max_reject_rate); "
            "see `docmill quarantine list --stage validate`"
        )
