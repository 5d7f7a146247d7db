"""The pipeline declared as data: what happens to a batch of documents, as two lists of steps.

`AHEAD` runs on the task runner before the batch's turn, so that several batches are parsed and prepared
while one is embedded; it needs no catalog. Each step fills fields of the `Batch`.

`AT_TURN` runs when the batch's turn comes, batches in order. Each step returns one stage's `StageResult`,
which the flow takes in one way (`take`): its counters and the gates' counts into `RunStats`, its rejects into
the catalog (`Bookkeeping.record_rejects`), its records into the batch. A step `on_runner` is stateless and
runs on the task runner (threads of the flow process, or Dask workers) with the fields it `reads`; the others
run in the flow process with the `Turn` (the catalog's view through `Bookkeeping`, and the batches validated
but not yet recorded). A step with `when` runs only when its setting enables it (`turn_steps`): the semantic
near-duplicate chunks after `validate`. Then the flow hands the batch to publishing (`flows/publishing.py`).

Per-item failures are captured inside each step by the per-item step runner (`docmill.isolation.steps`): one
bad document becomes its reject, never the end of the batch. A step's own failure stops the run.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from docmill.config.settings import Settings
from docmill.isolation.faults import POINTS, checkpoint
from docmill.records import Chunk, Document, SourceFile, StageResult
from docmill.run import stagework
from docmill.run.runstats import RunStats
from docmill.stages import chunk, semantic_duplicates, validate

if TYPE_CHECKING:  # bookkeeping is the flow's: a runner process never needs the catalog
    from docmill.run.bookkeeping import Bookkeeping, CanonicalLookup


@dataclass
class Batch:
    """One batch of documents on its way through the steps (each field says which step fills it)."""

    n: int  # its number in the run
    sources: list[SourceFile]
    pii_key: str | None = None  # the flow's PII key fingerprint (the redactor's key on every worker)
    extracted: StageResult[Document] | None = None  # AHEAD extract: parsed, `extracted` contract checked
    prepared: StageResult[Document] | None = None  # AHEAD prepare: cleaned up to deduplication
    chunked: StageResult[Chunk] | None = None  # AHEAD prepare: the prepared documents' chunks, with language
    docs: list[Document] = field(default_factory=list)  # AT_TURN: the documents still in the batch
    chunks: list[Chunk] = field(default_factory=list)  # AT_TURN: their chunks
    known: dict[str, np.ndarray] = field(default_factory=dict)  # AT_TURN: cached vectors of its chunk texts

    def only(self, names: tuple[str, ...]) -> Batch:
        """A copy holding only the fields `names` (and its number): what a step on the runner is sent."""
        empty = Batch(self.n, [])
        return dataclasses.replace(empty, **{name: getattr(self, name) for name in names})


@dataclass
class Turn:
    """What the steps that run in the flow process may use at a batch's turn."""

    settings: Settings
    book: Bookkeeping
    canonical_for_text: CanonicalLookup | None  # the published texts, with the batches not yet recorded
    known_vectors: Callable[[list[str]], dict[str, np.ndarray]]  # the embedding cache, the same way
    # the run's embedder: its model key and dimension are read when a step needs them (the dimension loads the
    # model, on a data folder's first run with the ONNX export: the embed step is the first to need it, so its
    # seconds hold the load, wherever it happens)
    embedder: Any
    max_tokens: int
    # the collection and the batches not yet recorded: for `embed.semantic_duplicates`
    semantic_matches: semantic_duplicates.Outside | None = None


@dataclass(frozen=True)
class Step:
    """One step: a function of the batch (and `Settings` ahead or on the runner, the `Turn` in the flow).

    Ahead of the turn, its value fills the `writes` fields (a tuple of values for several). At the turn, it returns a
    `StageResult` of the stage `name` whose records replace the field `writes` (none: only counted and recorded).
    """

    name: str
    work: Callable[..., Any]
    writes: tuple[str, ...] = ()
    on_runner: bool = False
    reads: tuple[str, ...] = ()  # on the runner: the batch fields it is sent
    gather: Callable[[Batch, Turn], None] | None = None  # in the flow, before the step: what it reads there
    check: Callable[[Turn, StageResult[Any]], None] | None = None  # in the flow, after the step
    when: Callable[[Settings], bool] | None = None  # an optional step: runs only when this is true


# ahead -----------------------------------------------------------------------------------------------------
def _extract(batch: Batch, settings: Settings) -> StageResult[Document]:
    return stagework.extract_batch(settings, batch.sources)


def _prepare(batch: Batch, settings: Settings) -> tuple[StageResult[Document], StageResult[Chunk]]:
    assert batch.extracted is not None
    return stagework.prepare_batch(settings, batch.extracted.records, batch.pii_key)


AHEAD: tuple[Step, ...] = (
    Step("extract", _extract, writes=("extracted",)),  # in the parser pool
    Step("prepare", _prepare, writes=("prepared", "chunked")),  # clean.prepare, chunk and language, per document
)


def run_ahead(settings: Settings, batch: Batch) -> Batch:
    """Run the `AHEAD` steps on `batch` (on the task runner); returns it filled."""
    for step in AHEAD:
        value = step.work(batch, settings)
        values = value if len(step.writes) > 1 else (value,)
        for name, item in zip(step.writes, values, strict=True):
            setattr(batch, name, item)
    return batch


# at the turn -----------------------------------------------------------------------------------------------
def _extracted(batch: Batch, turn: Turn) -> StageResult[Document]:
    assert batch.extracted is not None
    return batch.extracted  # counted and recorded at the turn: the catalog is the flow's


def _deduplicate(batch: Batch, turn: Turn) -> StageResult[Document]:
    assert batch.prepared is not None
    result = turn.book.deduplicate(batch.prepared, turn.canonical_for_text)
    return stagework.contract(result, "cleaned", turn.settings.validate_)


def _chunks(batch: Batch, turn: Turn) -> StageResult[Chunk]:
    assert batch.chunked is not None
    return chunk.for_documents(batch.chunked, batch.docs)


def _enrich(batch: Batch, settings: Settings) -> StageResult[Chunk]:
    return stagework.enrich_batch(settings, batch.docs, batch.chunks, batch.sources, batch.pii_key)


def _cached_vectors(batch: Batch, turn: Turn) -> None:
    batch.known = turn.known_vectors(sorted({c.cache_key for c in batch.chunks}))


def _embed(batch: Batch, settings: Settings) -> StageResult[Chunk]:
    return stagework.embed_batch(settings, batch.chunks, batch.known)


def _same_model(turn: Turn, result: StageResult[Any]) -> None:
    """Vectors made on a worker must come from the model, backend and precision the flow records (a Dask
    worker with a GPU, or another model folder, would otherwise mix vectors under one cache key).

    Raises:
        RuntimeError: naming both model keys.
    """
    keys = {c.metadata.get("model") for c in result.records} - {turn.embedder.model_key}
    if keys:
        raise RuntimeError(
            f"a worker embedded with {sorted(map(str, keys))} but this run records {turn.embedder.model_key}: give "
            "every machine the same model folder and set embed.device and embed.backend explicitly (not auto)"
        )


def _validate(batch: Batch, turn: Turn) -> StageResult[Chunk]:
    cfg = turn.settings.validate_
    return validate.validate(batch.docs, batch.chunks, cfg, turn.max_tokens, turn.embedder.dimension)


def _semantic_duplicates(batch: Batch, turn: Turn) -> StageResult[Chunk]:
    assert turn.semantic_matches is not None, "the flow gives the turn the semantic lookup"
    config = turn.settings.embed.semantic_duplicates
    return semantic_duplicates.apply(batch.docs, batch.chunks, config, turn.semantic_matches)


def _semantic_enabled(settings: Settings) -> bool:
    return settings.embed.semantic_duplicates.enabled


AT_TURN: tuple[Step, ...] = (
    Step("extract", _extracted),
    Step("clean", _deduplicate, writes=("docs",)),  # exact and near duplicates, the `cleaned` contract
    Step("chunk", _chunks, writes=("chunks",)),  # the chunks of the documents cleaning kept
    Step("enrich", _enrich, writes=("chunks",), on_runner=True, reads=("docs", "chunks", "sources", "pii_key")),
    Step(
        "embed",
        _embed,
        writes=("chunks",),
        on_runner=True,
        reads=("chunks", "known"),
        gather=_cached_vectors,
        check=_same_model,
    ),
    Step("validate", _validate, writes=("chunks",)),  # the `chunks` and `embeddings` contracts
    # optional: near-duplicate chunks by their validated dense vectors (keep, flag or drop)
    Step("semantic_duplicates", _semantic_duplicates, writes=("chunks",), when=_semantic_enabled),
)


def turn_steps(settings: Settings) -> tuple[Step, ...]:
    """The `AT_TURN` steps that run under `settings` (the optional ones only when enabled)."""
    return tuple(step for step in AT_TURN if step.when is None or step.when(settings))


def take(step: Step, batch: Batch, result: StageResult[Any], stats: RunStats, book: Bookkeeping) -> None:
    """Take a turn step's result, the one way every stage's result is taken: counters (and the gates' counts)
    into `stats`, rejects into the catalog, records into the batch (a document left without chunks leaves it).
    A fault-injection point of the same name (`docmill.isolation.faults`) comes first: the step has run, nothing
    of its result is recorded."""
    if step.name in POINTS:
        checkpoint(step.name)
    stats.add(step.name, result)
    book.record_rejects(result.rejects)
    if step.writes == ("docs",):
        batch.docs = result.records
    elif step.writes == ("chunks",):
        batch.chunks = result.records
        kept = {c.doc_id for c in batch.chunks}
        batch.docs = [d for d in batch.docs if d.doc_id in kept]  # a stage rejected the others, with their chunks
