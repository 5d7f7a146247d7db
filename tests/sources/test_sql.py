"""The SQL connector against SQLite and a real PostgreSQL server: one document per row, incremental by
content hash or by an updated-at column, metadata columns, a server that goes away mid-listing."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from docmill.sources.base import SourceUnavailable
from docmill.sources.sql import SqlSource
from tests.sources.conftest import PG_PASSWORD, Postgres, ingest_run, runtime, secrets_absent

BODY = "Policy {n}\n\nEvery visitor signs in at the front desk and wears a badge in area {n}.\n"
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _table(engine: Any) -> sa.Table:
    meta = sa.MetaData()
    table = sa.Table(
        "policies",
        meta,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("body", sa.Text),
        sa.Column("dept", sa.String(20)),
        sa.Column("updated_at", sa.DateTime(timezone=True)),
    )
    meta.drop_all(engine)
    meta.create_all(engine)
    with engine.begin() as conn:
        conn.execute(
            table.insert(),
            [{"id": n, "body": BODY.format(n=n), "dept": f"d{n}", "updated_at": T0} for n in (1, 2, 3)],
        )
    return table


def _change(engine: Any, table: sa.Table) -> None:
    """Row 2 changes, row 3 goes, row 4 comes."""
    with engine.begin() as conn:
        conn.execute(
            table.update().where(table.c.id == 2).values(body="Policy 2 revised.", updated_at=T0 + timedelta(1))
        )
        conn.execute(table.delete().where(table.c.id == 3))
        conn.execute(table.insert().values(id=4, body=BODY.format(n=4), dept="d4", updated_at=T0))


def _sql(url_env: str, **extra: Any) -> dict[str, Any]:
    return {"name": "policies", "type": "sql", "url_env": url_env, "retries": 3, "retry_delay_s": 0.05, **extra}


def _check_incremental(data: Path, cfg: dict[str, Any], engine: Any, table: sa.Table) -> Any:
    rt, first = ingest_run(data, "r1", [cfg])
    assert (first["new"], first["fetched"]) == (3, 3)
    rows = {r["source_uri"]: r for r in rt.catalog.query("SELECT * FROM sources")}
    assert set(rows) == {f"sql://policies/{n}" for n in (1, 2, 3)}
    assert rows["sql://policies/1"]["path"].endswith("/1.txt")
    assert '"dept": "d1"' in rows["sql://policies/1"]["metadata"]
    _, second = ingest_run(data, "r2", [cfg])
    assert (second["unchanged"], second["fetched"]) == (3, 0)
    _change(engine, table)
    rt, third = ingest_run(data, "r3", [cfg])
    assert (third["fetched"], third["new"], third["changed"], third["unchanged"], third["sources_deleted"]) == (
        2,
        1,
        1,
        1,
        1,
    )
    return rt


def test_sqlite_query_without_updated_at(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'docs.db'}"
    monkeypatch.setenv("DOCS_DB_URL", url)
    engine = sa.create_engine(url)
    table = _table(engine)
    cfg = _sql(
        "DOCS_DB_URL", query="SELECT id, body, dept FROM policies", text_column="body", metadata_columns=["dept"]
    )
    _check_incremental(tmp_path / "data", cfg, engine, table)


def test_postgres_table_with_updated_at(
    postgres: Postgres, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("PG_URL", postgres.url)
    engine = sa.create_engine(postgres.url)
    table = _table(engine)
    cfg = _sql(
        "PG_URL", table="policies", text_column="body", updated_at_column="updated_at", metadata_columns=["dept"]
    )
    data = tmp_path / "data"
    rt = _check_incremental(data, cfg, engine, table)
    assert rt.catalog.source("sql://policies/2")["version"].startswith("2026-01-02")
    assert secrets_absent(data, PG_PASSWORD) == [] and PG_PASSWORD not in caplog.text
    engine.dispose()


def test_postgres_gone_mid_listing_then_resumed(
    postgres: Postgres, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from docmill.run.ingestion import Ingestion

    monkeypatch.setenv("PG_URL", postgres.url)
    engine = sa.create_engine(postgres.url)
    table = _table(engine)
    engine.dispose()
    cfg = _sql("PG_URL", table="policies", text_column="body", updated_at_column="updated_at")
    data = tmp_path / "data"
    ingest_run(data, "r1", [cfg])
    monkeypatch.setattr("docmill.sources.sql.PAGE", 2)  # two listing pages: the server goes after the first
    rt = runtime(data, "r2", [cfg])
    source = SqlSource(rt.settings.ingest.connectors[0])  # type: ignore[arg-type]
    sa.event.listen(source.engine, "after_cursor_execute", lambda *a: postgres.stop(), once=True)
    try:
        with pytest.raises(SourceUnavailable) as failure:
            Ingestion(rt).source(source)  # the flow's ingest of one source
    finally:
        source.close()
        postgres.start()
    message = str(failure.value)
    assert "'policies'" in message and "after 3 attempts" in message and PG_PASSWORD not in message
    assert len(rt.catalog.query("SELECT * FROM sources")) == 3
    with sa.create_engine(postgres.url).begin() as conn:
        conn.execute(table.insert().values(id=5, body=BODY.format(n=5), dept="d5", updated_at=T0))
    _, resumed = ingest_run(data, "r3", [cfg])
    assert (resumed["new"], resumed["unchanged"], resumed["fetched"], resumed["sources_deleted"]) == (1, 3, 1, 0)


def test_missing_url_and_bad_query_are_clear(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOPE_URL", raising=False)
    with pytest.raises(SourceUnavailable, match=r"source 'policies': no database URL in \$NOPE_URL"):
        ingest_run(tmp_path / "data", "r1", [_sql("NOPE_URL", table="t", text_column="b")])
    monkeypatch.setenv("DOCS_DB_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    with pytest.raises(SourceUnavailable, match="source 'policies': listing failed: no such table: missing"):
        ingest_run(tmp_path / "data", "r1", [_sql("DOCS_DB_URL", table="missing", text_column="body")])


def test_an_item_whose_staging_fails_is_quarantined_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'docs.db'}"
    monkeypatch.setenv("DOCS_DB_URL", url)
    _table(sa.create_engine(url))
    monkeypatch.setenv("DOCMILL_STEP_FAULT", "stage:policies/2")
    cfg = _sql("DOCS_DB_URL", query="SELECT id, body FROM policies", text_column="body")
    rt, stats = ingest_run(tmp_path / "data", "r1", [cfg])
    assert (stats["new"], stats["fetched"]) == (2, 2)
    assert [(r["source_uri"], r["stage"], r["reason"]) for r in rt.catalog.quarantine()] == [
        ("sql://policies/2", "ingest", "step_failed:stage:InjectedFault")
    ]


def test_a_row_that_cannot_be_listed_is_its_reject_and_the_listing_goes_on(
    postgres: Postgres, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A `timestamp without time zone` of year 1 (a placeholder some systems write) made `timestamp()` raise
    and ended the listing of every row; an exception while listing one row is now that row's reject."""
    monkeypatch.setenv("PG_URL", postgres.url)
    engine = sa.create_engine(postgres.url)
    meta = sa.MetaData()
    table = sa.Table(
        "notes", meta, sa.Column("id", sa.Integer, primary_key=True), sa.Column("body", sa.Text),
        sa.Column("changed", sa.DateTime(timezone=False)),
    )  # fmt: skip
    meta.drop_all(engine)
    meta.create_all(engine)
    with engine.begin() as conn:
        conn.execute(
            table.insert(),
            [
                {"id": 1, "body": BODY.format(n=1), "changed": datetime(1, 1, 1)},
                {"id": 2, "body": BODY.format(n=2), "changed": datetime(2026, 3, 1, 12)},
                {"id": 3, "body": BODY.format(n=3), "changed": datetime(2026, 3, 2, 12)},
            ],
        )
    engine.dispose()
    cfg = _sql("PG_URL", table="notes", text_column="body", updated_at_column="changed")
    monkeypatch.setenv("DOCMILL_STEP_FAULT", "list:policies/3")
    rt, stats = ingest_run(tmp_path / "data", "r1", [cfg])
    assert (stats["new"], stats["fetched"]) == (2, 2)
    assert rt.catalog.source("sql://policies/1")["mtime"] == datetime(1, 1, 1, tzinfo=UTC).timestamp()
    assert [(r["source_uri"], r["reason"]) for r in rt.catalog.quarantine()] == [
        ("sql://policies/3", "step_failed:list:InjectedFault")
    ]
