"""The catalog's connection: opening (with the schema migrations), transactions, queries, and the statuses a
document goes through. The tables' queries are mixins over `CatalogBase` (runs, sources, documents, chunks,
rejects), joined into `Catalog`."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from itertools import islice
from pathlib import Path
from typing import Any, TypeVar

from docmill.state.catalog import schema

PENDING, EMBEDDED, QUARANTINED, DUPLICATE = "pending", "embedded", "quarantined", "duplicate"
# rejects that make a document a duplicate of another (`semantic_duplicate`: when every chunk of it is one)
DUPLICATE_REASONS = ("duplicate", "near_duplicate", "semantic_duplicate")
CONTAINER = "container"  # an archive: its members are documents of their own
SUPERSEDED = "superseded"  # a changed file's previous content: served until its successor is processed
UNDER = "substr(source_uri, 1, ?) = ?"  # a source URI under a prefix (a folder, a connector's scope)
_PAGE = 500  # values per IN (...) list: well under SQLite's parameter limit

T = TypeVar("T")


def pages(values: Iterable[T]) -> Iterator[list[T]]:
    """`values` in lists of at most one `IN (...)` list's worth (500), in order."""
    iterator = iter(values)
    while page := list(islice(iterator, _PAGE)):
        yield page


def text(value: str | None) -> str | None:
    """A text column's value: a file name that is not UTF-8 (bytes kept by Python as surrogates) is written
    with those bytes as `\\xNN` escapes instead of failing the insert."""
    if value is None or value.isascii():
        return value
    try:
        return value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # a surrogate that is no escaped byte
        return value.encode("utf-8", "backslashreplace").decode("utf-8")


class CatalogBase:
    """The connection to the catalog database. One instance per thread."""

    def __init__(self, path: Path, read_only: bool = False) -> None:
        """Open (and create) the catalog at `path`, applying the schema migrations it lacks (see `schema`).

        Args:
            path: the database file.
            read_only: open an existing catalog without writing anything, not even a migration (the dry run).

        Raises:
            CatalogVersionError: when the catalog was written by a newer docmill.
            FileNotFoundError: in read-only mode, when there is no catalog at `path`.
        """
        self.path = path
        if read_only:
            if not path.exists():
                raise FileNotFoundError(f"no catalog at {path}")
            self._db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=60)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, timeout=60, isolation_level=None, check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        try:
            if read_only:
                schema.check(self._db, path)
                return
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            schema.migrate(self._db, path)
        except BaseException:
            self._db.close()
            raise

    def close(self) -> None:
        """Close the connection."""
        self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One atomic write: every write method called inside commits together or not at all. The connection is
        never handed out: the catalog's write methods (and `docmill.state.ledger`) run on it."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def _execute(self, sql: str, params: Iterable[Any] = ()) -> sqlite3.Cursor:
        """A statement of the current transaction.

        Raises:
            RuntimeError: outside `transaction()` (a write outside one would commit on its own, half a change).
        """
        if not self._db.in_transaction:
            raise RuntimeError("catalog write outside a transaction: wrap it in `with catalog.transaction():`")
        return self._db.execute(sql, tuple(params))

    def _execute_many(self, sql: str, rows: Iterable[Sequence[Any]]) -> sqlite3.Cursor:
        """`_execute` for many rows of parameters."""
        if not self._db.in_transaction:
            raise RuntimeError("catalog write outside a transaction: wrap it in `with catalog.transaction():`")
        return self._db.executemany(sql, rows)

    def query(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        """Run a read query."""
        return list(self._db.execute(sql, tuple(params)))

    def _in_pages(self, sql: str, values: Sequence[Any], params: Sequence[Any] = ()) -> Iterator[sqlite3.Row]:
        """The rows of `sql` for every value of `values`: `sql` holds `{marks}` inside an `IN (...)`, and is run
        once per page of values after `params`."""
        for part in pages(values):
            yield from self.query(sql.format(marks=",".join("?" * len(part))), (*params, *part))
