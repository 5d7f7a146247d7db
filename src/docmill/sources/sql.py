"""SQL tables and queries through SQLAlchemy: one document per row. Source URIs are
`sql://<connector name>/<row id>`; the database URL (with its password) stays in the environment."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from datetime import UTC, date, datetime
from functools import partial
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote

from docmill.config.connectors import SqlConnectorConfig
from docmill.config.globs import selected
from docmill.isolation import steps
from docmill.records import FileItem, Reject
from docmill.sources.base import ItemError, Retry, SourceUnavailable, read_secret, scrub
from docmill.sources.staging import sha256_bytes

PAGE = 1000


def transient(exc: BaseException) -> bool:
    """Lost or refused connections are retried; SQL errors (unknown table or column, syntax) are not."""
    from sqlalchemy.exc import DisconnectionError, OperationalError

    if isinstance(exc, DisconnectionError):
        return True
    return isinstance(exc, OperationalError) and "no such " not in str(exc.orig)


def _plain(value: Any) -> Any:
    """A JSON-safe metadata value."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


class SqlSource:
    """Rows of a table or query, keyset-paginated by the id column."""

    local = False

    def __init__(self, cfg: SqlConnectorConfig) -> None:
        self.cfg = cfg
        self.name = cfg.name
        self.scope = f"sql://{cfg.name}/"
        url = read_secret(cfg.url_env, cfg.secrets_file)
        if not url:
            raise SourceUnavailable(f"source {cfg.name!r}: no database URL in ${cfg.url_env} (or its secrets_file)")
        self._url = url
        from sqlalchemy.engine import make_url

        secret = make_url(url).password
        self._secrets = (str(secret),) if secret else ()
        self.retry = Retry(cfg.name, transient, cfg.retries, cfg.retry_delay_s, self._secrets)
        self._engine: Any = None
        content = cfg.text_column or cfg.blob_column or cfg.path_column
        self._content = str(content)

    @property
    def engine(self) -> Any:
        """The SQLAlchemy engine (created on first use, no SQL echo: URLs and values never reach logs)."""
        if self._engine is None:
            import sqlalchemy as sa

            self._engine = sa.create_engine(self._url, pool_pre_ping=True, hide_parameters=True)
        return self._engine

    def _selectable(self) -> Any:
        import sqlalchemy as sa

        c = self.cfg
        names = [c.id_column, self._content, c.name_column, c.updated_at_column, *c.metadata_columns]
        columns: list[Any] = [sa.column(n) for n in dict.fromkeys(n for n in names if n)]
        if c.table:
            schema, _, table = c.table.rpartition(".")
            return sa.table(table, *columns, schema=schema or None)
        return sa.text(str(c.query)).columns(*columns).subquery("docmill_rows")

    def list_items(self) -> Iterator[FileItem | Reject]:
        """Every row in scope: ids, version marker (the updated-at column, else the sha256 of the content),
        names and metadata columns; the content itself is read only when an updated-at column is missing.

        Raises:
            SourceUnavailable: unreachable after retries, or the query fails.
        """
        import sqlalchemy as sa

        c = self.cfg
        rows = self._selectable()
        wanted = [n for n in (c.name_column, c.updated_at_column, *c.metadata_columns) if n]
        if not c.updated_at_column:
            wanted.append(self._content)
        cols = [rows.c[c.id_column], *(rows.c[n] for n in dict.fromkeys(wanted) if n != c.id_column)]
        last: Any = None
        while True:
            query = sa.select(*cols).order_by(rows.c[c.id_column]).limit(PAGE)
            if last is not None:
                query = query.where(rows.c[c.id_column] > last)
            page = self._run("listing", lambda q=query: self._all(q))
            for row in page:  # one row that cannot be listed is that row's reject, never the end of the listing
                who = steps.Item(source_uri=f"{self.scope}{quote(str(row[c.id_column]), safe='')}")
                outcome = steps.attempt("ingest", "list", who, partial(self._item, row))
                if outcome is not None:
                    yield steps.reject_of(outcome) if isinstance(outcome, steps.Failure) else outcome
            if len(page) < PAGE:
                return
            last = page[-1][c.id_column]

    def _all(self, query: Any) -> list[Any]:
        with self.engine.connect() as conn:
            return [row._mapping for row in conn.execute(query)]

    def _run(self, what: str, fn: Any) -> Any:
        from sqlalchemy.exc import SQLAlchemyError

        try:
            return self.retry(what, fn)
        except SQLAlchemyError as exc:
            message = scrub(str(getattr(exc, "orig", None) or exc), self._secrets).splitlines()[0][:300]
            raise SourceUnavailable(f"source {self.name!r}: {what} failed: {message}") from None

    def _item(self, row: Any) -> FileItem | None:
        c = self.cfg
        row_id = str(row[c.id_column])
        suffix = PurePosixPath(str(row[c.name_column] or "")).suffix if c.name_column else ""
        relative = f"{row_id}{suffix or c.extension}"
        if not selected(relative, c.include, c.exclude):
            return None
        if c.updated_at_column:
            stamp = row[c.updated_at_column]
            version = _plain(stamp)
            mtime = _seconds(stamp) if isinstance(stamp, datetime) else 0.0
        elif c.path_column:  # the file's own change marker
            stat = _stat(row[self._content])
            version, mtime = (f"{stat.st_mtime_ns}-{stat.st_size}", stat.st_mtime) if stat else ("missing", 0.0)
        else:
            version, mtime = sha256_bytes(_bytes(row[self._content])), 0.0
        meta = {"sql_id": _plain(row[c.id_column]), **{n: _plain(row[n]) for n in c.metadata_columns}}
        return FileItem(f"{self.scope}{quote(row_id, safe='')}", "", relative, 0, mtime, str(version), meta)

    def fetch(self, item: FileItem, dest: Path) -> None:
        """Write one row's content to `dest` (text as UTF-8, bytes as they are, or a copy of the named file).

        Raises:
            ItemError: the row is gone or empty (`fetch_failed`), its file unreadable (`permission_denied`).
            SourceUnavailable: the database went away.
        """
        import sqlalchemy as sa

        rows = self._selectable()
        row_id = item.metadata["sql_id"]
        key = rows.c[self.cfg.id_column]
        query = sa.select(key, rows.c[self._content]).where(key == row_id)
        found = self._run(f"fetching {item.source_uri}", lambda: self._all(query))
        if not found or found[0][self._content] is None:
            raise ItemError("fetch_failed", f"{item.source_uri}: row gone or its content is NULL")
        value = found[0][self._content]
        if self.cfg.path_column:
            try:
                shutil.copyfile(str(value), dest)
            except PermissionError as exc:
                raise ItemError("permission_denied", f"{item.source_uri}: {exc}") from None
            except (OSError, ValueError) as exc:  # ValueError: a path with a NUL byte
                raise ItemError("fetch_failed", f"{item.source_uri}: {type(exc).__name__}") from None
            return
        dest.write_bytes(_bytes(value))

    def close(self) -> None:
        """Dispose of the connection pool."""
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None


def _seconds(stamp: datetime) -> float:
    """A timestamp's POSIX seconds; a naive one is read as UTC (`timestamp()` would read it in local time, and
    raises for year 1, which a `timestamp without time zone` column may hold)."""
    return (stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)).timestamp()


def _stat(path: Any) -> os.stat_result | None:
    try:
        return os.stat(str(path)) if path else None
    except (OSError, ValueError):  # ValueError: a path with a NUL byte
        return None


def _bytes(value: Any) -> bytes:
    if value is None:
        return b""
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    if isinstance(value, str):
        return value.encode("utf-8")
    return json.dumps(value, default=str).encode("utf-8")
