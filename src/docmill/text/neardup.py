"""Near-duplicate documents: MinHash signatures and an LSH index persisted in the SQLite catalog.

A document's text becomes a set of word shingles (`shingles`), the set a MinHash signature of `num_perm`
uint32 values (datasketch, permutation scheme `affine32`, fixed seed). The signature is cut into `b` bands of
`r` rows; each band is hashed to a 64-bit key stored in `neardup_bands`. Documents sharing a band key with a
query are candidates, verified with the Jaccard estimate of the stored signatures (share of equal values).
Everything lives in SQLite, so the index spans runs and a query reads only its candidates through indexes.

`b` and `r` minimise the weighted integrals of the false-positive and false-negative probability of the
S-curve `1 - (1 - s**r)**b` below and above the threshold (Leskovec et al., *Mining of Massive Datasets*,
ch. 3; datasketch's `MinHashLSH`). False negatives weigh 0.9 and false positives 0.1: a banding false
positive only costs one signature comparison, a false negative loses a duplicate for good.

A text without any word has no shingles; datasketch would give it the all-max "empty" signature, which is
equal for every such text. Such a document is never a near-duplicate and is never indexed.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import re
import sqlite3
from collections import deque
from collections.abc import Iterable, Iterator
from itertools import islice
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from docmill.config.settings import DedupConfig

if TYPE_CHECKING:
    from datasketch import MinHash

log = logging.getLogger(__name__)

SEED = 1
SCHEME = "affine32"  # datasketch permutation scheme: uint32 hash values, bijective permutations
HASH_NAME = "sha1_32"  # datasketch.hashfunc.sha1_hash32, the hash of one shingle
SHINGLING = "casefold-w+-v1"  # bump when `shingles` changes: stored signatures become stale
FP_WEIGHT, FN_WEIGHT = 0.1, 0.9
EMPTY_VALUE = np.uint32(0xFFFFFFFF)  # every value of the signature of an empty shingle set

_WORD = re.compile(r"\w+")
_HASH_BATCH = 16_384  # shingles per update_batch call: bounds the (shingles x num_perm) matrix
_SQL_BATCH = 500  # doc_ids per IN (...) list
_FETCH = 1_024  # candidate signatures verified per numpy step
_GRID = 2_001  # Simpson points per integral (odd)

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS neardup_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS neardup_signatures "
    "(id INTEGER PRIMARY KEY, doc_id TEXT NOT NULL UNIQUE, signature BLOB NOT NULL)",
    "CREATE TABLE IF NOT EXISTS neardup_bands "
    "(band INTEGER NOT NULL, key INTEGER NOT NULL, doc INTEGER NOT NULL, PRIMARY KEY (band, key, doc)) WITHOUT ROWID",
    "CREATE INDEX IF NOT EXISTS neardup_bands_doc ON neardup_bands (doc)",
)

T = TypeVar("T")


def shingles(text: str, size: int) -> set[bytes]:
    r"""Word shingles of a text.

    Args:
        text: Any text; it is case-folded and cut into words (`\w+` runs), so whitespace and punctuation
            do not matter.
        size: Words per shingle.

    Returns:
        The UTF-8 encoded shingles (words joined by one space). A text shorter than `size` words gives one
        shingle of all its words; a text without words gives the empty set.
    """
    return set(_iter_shingles(text, size))


def _iter_shingles(text: str, size: int) -> Iterator[bytes]:
    """Shingles in text order (with repeats), holding only `size` words at a time."""
    window: deque[str] = deque(maxlen=size)
    emitted = False
    for match in _WORD.finditer(text.casefold()):
        window.append(match.group())
        if len(window) == size:
            emitted = True
            yield " ".join(window).encode()
    if window and not emitted:
        yield " ".join(window).encode()


def _batched(items: Iterable[T], size: int) -> Iterator[list[T]]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


def _simpson_weights(n: int) -> np.ndarray:
    weights = np.ones(n)
    weights[1:-1:2], weights[2:-1:2] = 4.0, 2.0
    return weights / 3.0


@functools.lru_cache(maxsize=64)
def _optimal_bands(threshold: float, num_perm: int) -> tuple[int, int]:
    """Bands and rows (b * r <= num_perm) minimising the weighted false-positive + false-negative area."""
    low, high = np.linspace(0.0, threshold, _GRID), np.linspace(threshold, 1.0, _GRID)
    weights = _simpson_weights(_GRID)
    best, best_error = (1, 1), float("inf")
    for b in range(1, num_perm + 1):
        r = np.arange(1, num_perm // b + 1, dtype=float)[:, None]
        false_pos = (1.0 - (1.0 - low**r) ** b) @ weights * (low[1] - low[0])
        false_neg = ((1.0 - high**r) ** b) @ weights * (high[1] - high[0])
        error = FP_WEIGHT * false_pos + FN_WEIGHT * false_neg
        i = int(np.argmin(error))
        if error[i] < best_error:
            best, best_error = (b, i + 1), float(error[i])
    return best


def _is_empty(signature: np.ndarray) -> bool:
    return bool(np.all(signature == EMPTY_VALUE))


class NearDupIndex:
    """MinHash LSH index of documents, persisted in `neardup_*` tables of a SQLite connection.

    `add` and `remove` never commit: run them in the caller's transaction. The constructor creates the
    tables and, when the stored parameters differ from the config's, empties the index (uncommitted too
    on a connection that is in a transaction).

    Attributes:
        params: The parameters key (threshold, shingle size, num_perm, b, r, seed, hashing scheme).
        bands: Number of LSH bands `b`.
        rows: Signature values per band `r`.
        stale: True when the index may lack documents the catalog holds: it was just created, or it was
            emptied because its parameters changed. The caller should then re-add its documents.
    """

    def __init__(self, conn: sqlite3.Connection, config: DedupConfig) -> None:
        """Open (create or reset) the index on `conn` for `config`."""
        self._conn = conn
        self.config = config
        self.bands, self.rows = _optimal_bands(config.threshold, config.num_perm)
        self.params: dict[str, Any] = {
            "threshold": config.threshold,
            "shingle_size": config.shingle_size,
            "num_perm": config.num_perm,
            "b": self.bands,
            "r": self.rows,
            "seed": SEED,
            "scheme": SCHEME,
            "hash": HASH_NAME,
            "shingling": SHINGLING,
        }
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

    @functools.cached_property
    def _template(self) -> MinHash:
        from datasketch import MinHash  # lazy: datasketch imports scipy

        return MinHash(num_perm=self.config.num_perm, seed=SEED, scheme=SCHEME)

    def signature(self, text: str) -> np.ndarray:
        """MinHash signature of the text's shingle set.

        Returns:
            A uint32 array of `num_perm` values; all `EMPTY_VALUE` when the text has no words.
        """
        from datasketch import MinHash
        from datasketch.hashfunc import sha1_hash32

        template = self._template
        minhash = MinHash(
            num_perm=template.num_perm,
            seed=SEED,
            hashfunc=sha1_hash32,
            permutations=template.permutations,
            scheme=SCHEME,
        )
        for batch in _batched(_iter_shingles(text, self.config.shingle_size), _HASH_BATCH):
            minhash.update_batch(batch)
        return np.asarray(minhash.hashvalues, dtype=np.uint32)

    def _checked(self, signature: np.ndarray) -> np.ndarray:
        values = np.asarray(signature)
        if values.shape != (self.config.num_perm,):
            raise ValueError(f"signature must have shape ({self.config.num_perm},), got {values.shape}")
        return values.astype(np.uint32, copy=False)

    def _band_keys(self, signature: np.ndarray) -> list[int]:
        """64-bit key (signed, for SQLite INTEGER) of each band's values."""
        cells = signature[: self.bands * self.rows].astype("<u4").reshape(self.bands, self.rows)
        return [
            int.from_bytes(hashlib.blake2b(band.tobytes(), digest_size=8).digest(), "little", signed=True)
            for band in cells
        ]

    def query(self, signature: np.ndarray) -> list[tuple[str, float]]:
        """Indexed documents whose estimated Jaccard similarity is at least the threshold.

        A document indexed under the same doc_id as the query is returned like any other.

        Args:
            signature: A signature from `signature`.

        Returns:
            (doc_id, estimated Jaccard) pairs, best first (ties by doc_id); empty for an empty signature.
        """
        values = self._checked(signature)
        if _is_empty(values):
            return []
        keys = self._band_keys(values)
        terms = " OR ".join(["(band = ? AND key = ?)"] * len(keys))
        cursor = self._conn.execute(
            "SELECT doc_id, signature FROM neardup_signatures "
            f"WHERE id IN (SELECT doc FROM neardup_bands WHERE {terms})",
            [value for band, key in enumerate(keys) for value in (band, key)],
        )
        found: list[tuple[str, float]] = []
        while rows := cursor.fetchmany(_FETCH):
            stored = np.frombuffer(b"".join(row[1] for row in rows), dtype="<u4").reshape(len(rows), -1)
            estimates = (stored == values).mean(axis=1)
            found += [(row[0], float(e)) for row, e in zip(rows, estimates, strict=True) if e >= self.config.threshold]
        return sorted(found, key=lambda item: (-item[1], item[0]))

    def add(self, doc_id: str, signature: np.ndarray) -> None:
        """Index a document, replacing what was indexed under its doc_id.

        A document with an empty signature is not indexed (an earlier entry of its doc_id is removed).
        """
        self.add_many([(doc_id, signature)])

    def add_many(self, items: Iterable[tuple[str, np.ndarray]]) -> None:
        """Index many (doc_id, signature) pairs like `add`, in batches (the last of a repeated doc_id wins)."""
        for batch in _batched(items, _SQL_BATCH):
            latest = {doc_id: self._checked(signature) for doc_id, signature in batch}
            self.remove(latest)
            band_rows: list[tuple[int, int, int]] = []
            for doc_id, values in latest.items():
                if _is_empty(values):
                    continue
                cursor = self._conn.execute(
                    "INSERT INTO neardup_signatures (doc_id, signature) VALUES (?, ?)",
                    (doc_id, values.astype("<u4").tobytes()),
                )
                doc = cursor.lastrowid
                assert doc is not None  # set by every INSERT into a rowid table
                band_rows += [(band, key, doc) for band, key in enumerate(self._band_keys(values))]
            self._conn.executemany("INSERT INTO neardup_bands (band, key, doc) VALUES (?, ?, ?)", band_rows)

    def remove(self, doc_ids: Iterable[str]) -> int:
        """Forget documents (e.g. deleted files).

        Returns:
            The number of indexed documents removed (unknown and never-indexed doc_ids count 0).
        """
        removed = 0
        for batch in _batched(doc_ids, _SQL_BATCH):
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
