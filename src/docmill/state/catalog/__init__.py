"""The catalog: a SQLite database under `data/` recording every source, document, chunk, run and reject.

It is the source of truth for incrementality (what changed since the last run), for the embedding cache
(vectors keyed by chunk text hash and model id) and for answering "why is this document missing". It is the
only code that writes SQL for these tables, with one exception: a document's status changes only through
`docmill.state.ledger`, which holds the allowed transitions.

A package rather than one module: the queries, grouped by table, are several hundred lines. `base` holds the
connection and the document statuses, `schema` the numbered migrations, and one module per table
(`runs`, `sources`, `documents`, `chunks`, `rejects`) a mixin of that table's queries; `Catalog` joins them.
`neardup` is the near-duplicate index, which keeps its `neardup_*` tables in the same database
(`Catalog.near_duplicates`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from docmill.state.catalog.base import (
    CONTAINER,
    DUPLICATE,
    DUPLICATE_REASONS,
    EMBEDDED,
    PENDING,
    QUARANTINED,
    SUPERSEDED,
)
from docmill.state.catalog.chunks import Chunks
from docmill.state.catalog.documents import Documents
from docmill.state.catalog.rejects import Rejects
from docmill.state.catalog.runs import Runs
from docmill.state.catalog.schema import CatalogVersionError
from docmill.state.catalog.sources import Sources

if TYPE_CHECKING:
    from docmill.config.settings import DedupConfig
    from docmill.state.catalog.neardup import NearDupIndex

__all__ = [
    "CONTAINER",
    "DUPLICATE",
    "DUPLICATE_REASONS",
    "EMBEDDED",
    "PENDING",
    "QUARANTINED",
    "SUPERSEDED",
    "Catalog",
    "CatalogVersionError",
]


class Catalog(Runs, Sources, Documents, Chunks, Rejects):
    """Thin, typed access to the catalog database, its queries grouped by table. One instance per thread."""

    def near_duplicates(self, config: DedupConfig) -> NearDupIndex:
        """The near-duplicate index in this catalog's database, for `config` (opening it creates its tables, or
        empties them when `config` changed their parameters). Its `add` and `remove` write in the caller's
        `transaction()` and raise outside one."""
        from docmill.state.catalog.neardup import NearDupIndex  # lazy: numpy, only for runs that deduplicate

        return NearDupIndex(self._db, config, in_transactions=True)
