"""The near-duplicate index: MinHash LSH (`docmill.text.neardup`) kept in the catalog's `neardup_*` tables.

`neardup_signatures` holds each indexed document's signature (`num_perm` little-endian uint32 values),
`neardup_bands` its band keys, and `neardup_meta` the parameters key they were made with. The index spans
runs, and a query reads only its candidates through indexes. The tables are created by the index itself
(on the catalog's connection through `Catalog.near_duplicates`, or on any SQLite connection, such as an
in-memory one for a batch checked on its own); a change of parameters empties them.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Iterable
from typing import Any

import numpy as np

from docmill.config.settings import DedupConfig
from docmill.state.catalog.base import pages
from docmill.text.neardup import MinHasher, estimates, is_empty

log = logging.getLogger(__name__)

_FETCH = 1_024  # candidate signatures verified per numpy step

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS neardup_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS neardup_signatures "
    "(id INTEGER PRIMARY KEY, doc_id TEXT NOT NULL UNIQUE, signature BLOB NOT NULL)",
    "CREATE TABLE IF NOT EXISTS neardup_bands "
    "(band INTEGER NOT NULL, key INTEGER NOT NULL, doc INTEGER NOT NULL, PRIMARY KEY (band, key, doc)) WITHOUT ROWID",
    "CREATE INDEX IF NOT EXISTS neardup_bands_doc ON neardup_bands (doc)",
)


class NearDupIndex:
    """MinHash LSH index of documents, persisted in `neardup_*` tables of a SQLite connection.

    `add` and `remove` never commit: run them in the caller's transaction (`Catalog.transaction`). The
    constructor creates the tables and, when the stored parameters differ from the config's, empties the
    index (uncommitted too on a connection that is in a transaction).

    Attributes:
        hasher: The MinHash scheme (signatures and band keys) of the config.
        config: The dedup settings.
        params: The parameters key (threshold, shingle size, num_perm, b, r, seed, hashing scheme).
        bands: Number of LSH bands `b`.
        rows: Signature values per band `r`.
        stale: True when the index may lack documents the catalog holds: it was just created, or it was
            emptied because its parameters changed. The caller should then re-add its documents.
    """

    def __init__(self, conn: sqlite3.Connection, config: DedupConfig, in_transactions: bool = False) -> None:
        """Open (create or reset) the index on `conn` for `config`; with `in_transactions` (the catalog's index)
        `add` and `remove` raise outside a transaction instead of committing statement by statement."""
        self._conn = conn
        self._in_transactions = in_transactions
        self.hasher = MinHasher(config)
        self.config = config
        self.params: dict[str, Any] = self.hasher.params
        self.bands, self.rows = self.hasher.bands, self.hasher.rows
        for statement in _SCHEMA:
            conn.execute(statement)
        stored = self._stored_params()
        self.stale = stored != self.params
        if self.stale:
            self._reset(stored)

    def _stored_params(self) -> dict[str, Any] | None:
        row = self._conn.execute("SELECT value FROM neardup_meta WHERE name = 'params'").fetchone()
        return json.loads(row[0]) if row else None

    def _reset(self, stored: dict[str, Any] | None) -> None:
        if stored is not None:
            log.warning("near-duplicate index parameters changed (%s -> %s): index emptied", stored, self.params)
        self._conn.execute("DELETE FROM neardup_bands")
        self._conn.execute("DELETE FROM neardup_signatures")
        self._conn.execute(
            "INSERT OR REPLACE INTO neardup_meta (name, value) VALUES ('params', ?)",
            (json.dumps(self.params, sort_keys=True),),
        )

    def signature(self, text: str) -> np.ndarray:
        """MinHash signature of the text's shingle set (see `MinHasher.signature`)."""
        return self.hasher.signature(text)

    def query(self, signature: np.ndarray) -> list[tuple[str, float]]:
        """Indexed documents whose estimated Jaccard similarity is at least the threshold.

        A document indexed under the same doc_id as the query is returned like any other.

        Args:
            signature: A signature from `signature`.

        Returns:
            (doc_id, estimated Jaccard) pairs, best first (ties by doc_id); empty for an empty signature.

        Raises:
            ValueError: for a signature that does not hold `num_perm` values.
        """
        values = self.hasher.checked(signature)
        if is_empty(values):
            return []
        keys = self.hasher.band_keys(values)
        terms = " OR ".join(["(band = ? AND key = ?)"] * len(keys))
        cursor = self._conn.execute(
            "SELECT doc_id, signature FROM neardup_signatures "
            f"WHERE id IN (SELECT doc FROM neardup_bands WHERE {terms})",
            [value for band, key in enumerate(keys) for value in (band, key)],
        )
        found: list[tuple[str, float]] = []
        while rows := cursor.fetchmany(_FETCH):
            stored = np.frombuffer(b"".join(row[1] for row in rows), dtype="<u4").reshape(len(rows), -1)
            found += [
                (row[0], float(e))
                for row, e in zip(rows, estimates(stored, values), strict=True)
                if e >= self.config.threshold
            ]
        return sorted(found, key=lambda item: (-item[1], item[0]))

    def add(self, doc_id: str, signature: np.ndarray) -> None:
        """Index a document, replacing what was indexed under its doc_id.

        A document with an empty signature is not indexed (an earlier entry of its doc_id is removed).

        Raises:
            ValueError: for a signature that does not hold `num_perm` values.
        """
        self.add_many([(doc_id, signature)])

    def _writable(self) -> None:
        if self._in_transactions and not self._conn.in_transaction:
            raise RuntimeError("near-duplicate index write outside a transaction: wrap it in `catalog.transaction()`")

    def add_many(self, items: Iterable[tuple[str, np.ndarray]]) -> None:
        """Index many (doc_id, signature) pairs like `add`, in batches (the last of a repeated doc_id wins)."""
        self._writable()
        for batch in pages(items):
            latest = {doc_id: self.hasher.checked(signature) for doc_id, signature in batch}
            self.remove(latest)
            band_rows: list[tuple[int, int, int]] = []
            for doc_id, values in latest.items():
                if is_empty(values):
                    continue
                cursor = self._conn.execute(
                    "INSERT INTO neardup_signatures (doc_id, signature) VALUES (?, ?)",
                    (doc_id, values.astype("<u4").tobytes()),
                )
                doc = cursor.lastrowid
                assert doc is not None  # set by every INSERT into a rowid table
                band_rows += [(band, key, doc) for band, key in enumerate(self.hasher.band_keys(values))]
            self._conn.executemany("INSERT INTO neardup_bands (band, key, doc) VALUES (?, ?, ?)", band_rows)

    def remove(self, doc_ids: Iterable[str]) -> int:
        """Forget documents (e.g. deleted files).

        Returns:
            The number of indexed documents removed (unknown and never-indexed doc_ids count 0).
        """
        self._writable()
        removed = 0
        for batch in pages(doc_ids):
            marks = ",".join("?" * len(batch))
            self._conn.execute(
                f"DELETE FROM neardup_bands WHERE doc IN (SELECT id FROM neardup_signatures WHERE doc_id IN ({marks}))",
                batch,
            )
            removed += self._conn.execute(f"DELETE FROM neardup_signatures WHERE doc_id IN ({marks})", batch).rowcount
        return removed

    def __len__(self) -> int:
        """Number of indexed documents."""
        return int(self._conn.execute("SELECT COUNT(*) FROM neardup_signatures").fetchone()[0])
