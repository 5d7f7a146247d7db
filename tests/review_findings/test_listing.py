"""Hostile review of a6c918c (listing isolation, `folder_unreadable`, keep-by-prefix in `record_rejects`).

Tests "Found by review" assert the behaviour a reviewer expected and failed on the reviewed code: each one is a
finding (see the review report). The others pin behaviour that was checked and found right."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from docmill.records import FileItem
from docmill.sources.folder import FolderSource
from tests.sources.conftest import as_nobody, cannot_list, ingest_run

TEXT = b"Site inspection notes: the east stairwell needs new handrails before winter.\n"


def _listing(root: Path, exclude: list[str]) -> Any:
    def run() -> list[list[str]]:
        listed = FolderSource(root, ["**/*"], exclude).list_items()
        return [["item", e.source_uri] if isinstance(e, FileItem) else [e.reason, e.source_uri] for e in listed]

    return run


needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to switch to `nobody`")


@needs_root
def test_excluded_unreadable_folder_is_not_a_reject() -> None:
    """Found by review (low): a folder the `exclude` globs leave out (here `lost+found`, root-owned 0700 at the top
    of every ext4 mount) is still walked, and its EACCES becomes a `folder_unreadable` reject on every run:
    permanent quarantine noise for something the configuration excluded. It also keeps (last_seen_run) what
    earlier runs ingested under it before it was excluded."""
    root = Path(tempfile.mkdtemp(prefix="docmill-review-"))
    try:
        root.chmod(0o755)
        (root / "open.txt").write_bytes(TEXT)
        (root / "lost+found").mkdir()
        (root / "lost+found").chmod(0o700)
        (root / "lost+found").chmod(0o000)
        result = as_nobody(_listing(root, ["lost+found/**"]))
        assert result == [["item", (root / "open.txt").as_uri()]]
    finally:
        (root / "lost+found").chmod(0o755)
        shutil.rmtree(root, ignore_errors=True)


@needs_root
def test_unreadable_root_stops_with_a_clear_message() -> None:
    """Checked, right: an unreadable source root raises (nothing is taken for deleted) with a clear message."""
    root = Path(tempfile.mkdtemp(prefix="docmill-review-"))
    try:
        (root / "a.txt").write_bytes(TEXT)
        root.chmod(0o000)
        result = as_nobody(_listing(root, []))
        assert result["raised"] == "PermissionError"
        assert "source folder cannot be listed: Permission denied" in result["message"]
        assert str(root) in result["message"]
    finally:
        root.chmod(0o755)
        shutil.rmtree(root, ignore_errors=True)


@needs_root
def test_sibling_folder_sharing_a_name_prefix_is_not_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Checked, right: `/share/a/` unreadable does not keep a deleted `/share/ab/x.txt` (the prefix ends in `/`),
    and a folder name with characters URIs encode (`%`, space, non-ASCII) is matched in the same encoding."""
    root = tmp_path / "share"
    for folder in ("a b%20é", "a b%20éx"):
        (root / folder).mkdir(parents=True)
        (root / folder / "x.txt").write_bytes(TEXT + folder.encode())
    data = tmp_path / "data"
    ingest_run(data, "r1", [], sources=[str(root)])
    (root / "a b%20éx" / "x.txt").unlink()
    cannot_list(monkeypatch, "a b%20é")
    rt, second = ingest_run(data, "r2", [], sources=[str(root)])
    assert second["sources_deleted"] == 1
    assert rt.catalog.source((root / "a b%20é" / "x.txt").as_uri()) is not None
    assert rt.catalog.source((root / "a b%20éx" / "x.txt").as_uri()) is None


def test_sql_row_with_empty_id_that_fails_keeps_the_whole_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found by review (low): a row whose id is the empty string gets the URI `sql://<name>/` (the connector's scope,
    ending in `/`). When listing that row raises (here a path with a NUL byte: `os.stat` raises ValueError, which
    `_stat` does not catch), its `step_failed:list:ValueError` reject ends in `/` and `record_rejects` keeps every
    row of the connector: a deleted row is never deleted. The same holds for an S3 object listed without a `Key`
    (`s3://<bucket>/`)."""
    files = tmp_path / "files"
    files.mkdir()
    for name in ("a", "b"):
        (files / f"{name}.txt").write_bytes(TEXT + name.encode())
    url = f"sqlite:///{tmp_path / 'docs.db'}"
    monkeypatch.setenv("DOCS_DB_URL", url)
    engine = sa.create_engine(url)
    meta = sa.MetaData()
    table = sa.Table("docs", meta, sa.Column("id", sa.Text, primary_key=True), sa.Column("path", sa.Text))
    meta.create_all(engine)
    with engine.begin() as conn:
        conn.execute(table.insert(), [{"id": n, "path": str(files / f"{n}.txt")} for n in ("a", "b")])
    cfg = {"name": "docs", "type": "sql", "url_env": "DOCS_DB_URL", "table": "docs", "path_column": "path"}
    data = tmp_path / "data"
    ingest_run(data, "r1", [cfg])
    with engine.begin() as conn:
        conn.execute(table.delete().where(table.c.id == "b"))
        conn.execute(table.insert().values(id="", path="bad\x00path"))
    engine.dispose()
    rt, second = ingest_run(data, "r2", [cfg])
    rejects = [(r["reason"], r["source_uri"]) for r in rt.catalog.quarantine()]
    assert rejects == [("fetch_failed", "sql://docs/")]  # the row's reject (its file path holds a NUL byte)
    assert second["sources_deleted"] == 1, "row b was deleted from the table but is kept"


def test_all_files_under_unreadable_folders_is_not_an_unmounted_share(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Checked, right: when every file of a source lies under folders that cannot be listed now, the empty
    listing is not taken for an unmounted share (the run goes on) and nothing is deleted."""
    root = tmp_path / "share"
    (root / "deep").mkdir(parents=True)
    (root / "deep" / "kept.txt").write_bytes(TEXT)
    data = tmp_path / "data"
    ingest_run(data, "r1", [], sources=[str(root)])
    cannot_list(monkeypatch, "deep")
    rt, second = ingest_run(data, "r2", [], sources=[str(root)])
    assert second["sources_deleted"] == 0
    assert [r["reason"] for r in rt.catalog.quarantine()] == ["folder_unreadable"]


@pytest.mark.parametrize("unreadable", [True, False])
def test_an_excluded_folder_is_removed_readable_or_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, unreadable: bool
) -> None:
    """Found by review (low): files ingested before their folder was excluded are removed by the next run; when
    that folder also could not be listed, its `folder_unreadable` reject kept them (run after run). The
    readable case is the control."""
    root = tmp_path / "share"
    (root / "private").mkdir(parents=True)
    (root / "top.txt").write_bytes(TEXT)
    (root / "private" / "salaries.txt").write_bytes(TEXT.replace(b"east", b"west"))
    data = tmp_path / "data"
    ingest_run(data, "r1", [{"name": "share", "type": "folder", "path": str(root)}])
    if unreadable:
        cannot_list(monkeypatch, "private")
    cfg = {"name": "share", "type": "folder", "path": str(root), "exclude": ["private/**"]}
    rt, _ = ingest_run(data, "r2", [cfg])
    assert rt.catalog.source((root / "private" / "salaries.txt").as_uri()) is None
