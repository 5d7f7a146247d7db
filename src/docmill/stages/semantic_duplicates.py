"""Semantic near-duplicate chunks, from the dense vectors the embed stage already computed (optional:
`embed.semantic_duplicates`).

A chunk is a near-duplicate of a *canonical* chunk (one that is no near-duplicate itself) when the cosine of
their dense vectors reaches `threshold`. A batch's chunks are judged in (doc_id, chunk_index) order, one after
the other: each against the canonical chunks outside the batch (`outside`: the collection and the batches not
yet recorded, a lookup the flow injects) and the canonical chunks earlier in the batch; the highest cosine
names the canonical chunk (outside first on a tie, then the earlier chunk). The same chunks against the same
collection always give the same answer, and a chunk's canonical chunk is never a near-duplicate itself.

The policy decides what becomes of a near-duplicate: `keep` counts it, `flag` publishes it with
`semantic_duplicate_of` / `semantic_duplicate_doc` / `semantic_duplicate_cosine` in its metadata, `drop`
quarantines it as `semantic_duplicate` (its reject names the canonical document in `duplicate_of`, the message
the canonical chunk and the cosine). A document whose every chunk is dropped becomes a duplicate of the
canonical document of its first chunk, as a near-duplicate document does in cleaning.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from docmill.config.settings import SemanticDuplicatesConfig
from docmill.records import Chunk, Document, Reject, SemanticMatch, StageResult

STAGE = "semantic_duplicates"
REASON = "semantic_duplicate"
FLAGS = ("semantic_duplicate_of", "semantic_duplicate_doc", "semantic_duplicate_cosine")
# chunks (in judging order) -> the best canonical chunk outside the batch at or above the threshold, per chunk
Outside = Callable[[list[Chunk], float], list[SemanticMatch | None]]
_BLOCK = 512  # rows of the batch's similarity matrix computed at a time (memory: _BLOCK x batch chunks)
_EPSILON = 1e-6  # float32 rounding: identical vectors may score 0.9999999


def unit_rows(vectors: Any) -> np.ndarray:
    """The vectors as rows of a float32 matrix of unit length (a zero vector stays zero)."""
    matrix = np.asarray(vectors, dtype=np.float32)
    if matrix.size == 0:
        return matrix.reshape(0, 0)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return np.divide(matrix, norms, out=np.zeros_like(matrix), where=norms > 0)


def closer(
    found: list[SemanticMatch | None],
    mine: np.ndarray,
    candidates: list[tuple[str, str]],
    vectors: Any,
    threshold: float,
) -> None:
    """Replace `found[i]` by the candidate (chunk_id, doc_id; its vector a row of `vectors`) closest to `mine[i]`
    (unit rows) when their cosine reaches `threshold` and beats `found[i]`'s (a tie keeps `found[i]`, then the
    first candidate): how a lookup over several sources of canonical chunks keeps the closest one."""
    if not candidates or not len(mine):
        return
    theirs = unit_rows(vectors)
    for start in range(0, len(mine), _BLOCK):
        sims = mine[start : start + _BLOCK] @ theirs.T
        best = sims.argmax(axis=1)
        for offset in np.nonzero(sims[np.arange(len(best)), best] >= threshold - _EPSILON)[0]:
            i, j = start + int(offset), int(best[offset])
            cosine = min(1.0, float(sims[offset, j]))
            current = found[i]
            if current is None or cosine > current.cosine:
                found[i] = SemanticMatch(candidates[j][0], candidates[j][1], cosine)


def _earlier_matches(vectors: np.ndarray, threshold: float) -> list[list[tuple[int, float]]]:
    """For each row i, the earlier rows j < i whose cosine reaches `threshold`, best first (then earliest)."""
    n = len(vectors)
    out: list[list[tuple[int, float]]] = [[] for _ in range(n)]
    for start in range(0, n, _BLOCK):
        end = min(n, start + _BLOCK)
        sims = vectors[start:end] @ vectors[:end].T
        for i in range(start, end):
            row = sims[i - start, :i]
            hits = np.nonzero(row >= threshold - _EPSILON)[0]
            out[i] = sorted(((int(j), min(1.0, float(row[j]))) for j in hits), key=lambda hit: (-hit[1], hit[0]))
    return out


def find(chunks: list[Chunk], threshold: float, outside: Outside) -> list[SemanticMatch | None]:
    """Each chunk's canonical chunk (None: it is canonical itself), judging `chunks` in the order given."""
    if not chunks:
        return []
    beyond = outside(chunks, threshold)
    earlier = _earlier_matches(unit_rows([c.vector for c in chunks]), threshold)
    canonical = [False] * len(chunks)
    found: list[SemanticMatch | None] = []
    for i, best in enumerate(beyond):
        for j, cosine in earlier[i]:
            if canonical[j]:  # the best earlier chunk that is canonical
                if best is None or cosine > best.cosine:
                    best = SemanticMatch(chunks[j].chunk_id, chunks[j].doc_id, cosine)
                break
        canonical[i] = best is None
        found.append(best)
    return found


def _message(match: SemanticMatch) -> str:
    return f"cosine {match.cosine:.4f} with chunk {match.chunk_id} of document {match.doc_id}"


def apply(
    docs: list[Document], chunks: list[Chunk], config: SemanticDuplicatesConfig, outside: Outside
) -> StageResult[Chunk]:
    """Find the batch's near-duplicate chunks and apply `config.policy` (see the module docstring). Counters:
    `found` (and `found_in_batch`, `found_outside`), `flagged`, `dropped`, `documents_dropped`."""
    started = time.perf_counter()
    ordered = sorted(chunks, key=lambda c: (c.doc_id, c.index))
    matches = find(ordered, config.threshold, outside)
    sources = {d.doc_id: d.source_uri for d in docs}
    in_batch = {c.chunk_id for c in ordered}
    dropped: set[str] = set()
    rejects: list[Reject] = []
    first_dropped: dict[str, SemanticMatch] = {}
    for item, match in zip(ordered, matches, strict=True):
        if match is None or config.policy == "keep":
            continue
        if config.policy == "flag":
            item.metadata.update(dict(zip(FLAGS, (match.chunk_id, match.doc_id, round(match.cosine, 4)), strict=True)))
        else:
            dropped.add(item.chunk_id)
            source = sources.get(item.doc_id)
            rejects.append(
                Reject(STAGE, REASON, _message(match), item.doc_id, source, item.chunk_id, duplicate_of=match.doc_id)
            )
            first_dropped.setdefault(item.doc_id, match)
    records = [c for c in chunks if c.chunk_id not in dropped]  # in the batch's order
    kept = {c.doc_id for c in records}
    for doc_id, match in first_dropped.items():
        if doc_id not in kept:
            message = f"every chunk is a semantic near-duplicate; the first: {_message(match)}"
            rejects.append(Reject(STAGE, REASON, message, doc_id, sources.get(doc_id), duplicate_of=match.doc_id))
    found = [m for m in matches if m is not None]
    counters = {
        "found": len(found),
        "found_in_batch": sum(m.chunk_id in in_batch for m in found),
        "found_outside": sum(m.chunk_id not in in_batch for m in found),
        "flagged": len(found) if config.policy == "flag" else 0,
        "dropped": len(found) if config.policy == "drop" else 0,
        "documents_dropped": len(first_dropped.keys() - kept),
    }
    result = StageResult(records, rejects).finish(len(chunks), started, **counters)
    result.stats["rejected"] = counters["dropped"]  # chunks: a whole-document reject adds no chunk
    return result
