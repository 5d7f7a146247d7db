"""The folder connector on the contract: symlinks that leave the root are refused, unreadable files are
`permission_denied` (checked as an unprivileged user: root reads everything)."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from docmill.records import FileItem
from docmill.sources.base import Connector
from docmill.sources.folder import FolderSource
from tests.sources.conftest import as_nobody, cannot_list, ingest_run

TEXT = b"Site inspection notes: the east stairwell needs new handrails before winter.\n"


def test_symlink_escaping_the_root_is_refused(tmp_path: Path) -> None:
    root, outside = tmp_path / "share", tmp_path / "outside"
    (root / "sub").mkdir(parents=True)
    outside.mkdir()
    (outside / "secret.txt").write_bytes(b"not part of the share")
    (root / "notes.txt").write_bytes(TEXT)
    (root / "escape.txt").symlink_to(outside / "secret.txt")
    (root / "sub" / "inside.txt").symlink_to(root / "notes.txt")  # stays inside: fine
    source = FolderSource(root, ["**/*"], [], name="share")
    assert isinstance(source, Connector)
    listed = list(source.list_items())
    assert [i.relative for i in listed if isinstance(i, FileItem)] == ["notes.txt", "sub/inside.txt"]
    assert [(r.reason, r.source_uri) for r in listed if not isinstance(r, FileItem)] == [
        ("symlink_escape", (root / "escape.txt").as_uri())
    ]
    rt, stats = ingest_run(tmp_path / "data", "r1", [{"name": "share", "type": "folder", "path": str(root)}])
    assert stats["new"] == 2
    assert [(q["reason"], q["source_uri"]) for q in rt.catalog.quarantine()] == [
        ("symlink_escape", (root / "escape.txt").as_uri())
    ]


def _as_nobody(root: Path) -> dict[str, list]:  # type: ignore[type-arg]
    """List and hash `root` as `nobody` (see `as_nobody`): the items ingested and the rejects."""
    from docmill.sources.folder import sha256_file
    from docmill.stages.ingest import ingest

    def listing() -> dict[str, list]:  # type: ignore[type-arg]
        listed = list(FolderSource(root, ["**/*"], []).list_items())
        result = ingest([e for e in listed if isinstance(e, FileItem)], lambda uri: None, sha256_file)
        refused = [e for e in listed if not isinstance(e, FileItem)] + result.rejects
        return {
            "ok": [s.source_uri for s, _ in result.records],
            "rejects": [[r.reason, r.source_uri] for r in refused],
        }

    return as_nobody(listing)  # type: ignore[no-any-return]


def test_a_folder_that_cannot_be_listed_is_a_reject_not_silence() -> None:
    """os.walk skipped a folder it could not read without a word (its files simply were not there, and earlier
    runs' documents under it were taken for deleted); it is a `folder_unreadable` reject of the folder now."""
    root = Path(tempfile.mkdtemp(prefix="docmill-perm-"))
    try:
        root.chmod(0o755)
        (root / "open.txt").write_bytes(TEXT)
        (root / "locked").mkdir()
        (root / "locked" / "inside.txt").write_bytes(TEXT)
        (root / "locked").chmod(0o000)
        result = _as_nobody(root)
        assert result["ok"] == [(root / "open.txt").as_uri()]
        assert result["rejects"] == [["folder_unreadable", (root / "locked").as_uri() + "/"]]
    finally:
        (root / "locked").chmod(0o755)
        shutil.rmtree(root, ignore_errors=True)


def test_files_under_a_folder_that_cannot_be_listed_are_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What an earlier run found under a folder that cannot be listed now stays (not `sources_deleted`)."""
    root = tmp_path / "share"
    (root / "deep").mkdir(parents=True)
    (root / "top.txt").write_bytes(TEXT)
    (root / "deep" / "kept.txt").write_bytes(TEXT.replace(b"east", b"west"))
    data = tmp_path / "data"
    ingest_run(data, "r1", [], sources=[str(root)])
    cannot_list(monkeypatch, "deep")
    rt, second = ingest_run(data, "r2", [], sources=[str(root)])
    assert second["sources_deleted"] == 0
    assert rt.catalog.source((root / "deep" / "kept.txt").as_uri()) is not None
    assert [(r["reason"], r["source_uri"]) for r in rt.catalog.quarantine()] == [
        ("folder_unreadable", (root / "deep").as_uri() + "/")
    ]


def test_hard_links_follow_the_policy(tmp_path: Path) -> None:
    """`ingest.hardlinks: refuse` quarantines a file with several links; `allow` (the default) ingests it."""
    root, elsewhere = tmp_path / "share", tmp_path / "elsewhere"
    root.mkdir()
    elsewhere.mkdir()
    (elsewhere / "contract.txt").write_bytes(TEXT)
    os.link(elsewhere / "contract.txt", root / "contract.txt")
    share = [{"name": "share", "type": "folder", "path": str(root)}]
    rt, stats = ingest_run(tmp_path / "refuse", "r1", share, hardlinks="refuse")
    assert stats.get("new", 0) == 0
    assert [(q["reason"], q["source_uri"]) for q in rt.catalog.quarantine()] == [
        ("hardlink_refused", (root / "contract.txt").as_uri())
    ]
    rt, stats = ingest_run(tmp_path / "allow", "r1", share)
    assert stats["new"] == 1 and not rt.catalog.quarantine()


def test_a_folder_swapped_for_a_link_after_listing_is_not_walked_through(tmp_path: Path) -> None:
    """The fd walk refuses a link anywhere on the path, not only as the last part."""
    from docmill.sources import staging

    root, outside = tmp_path / "share", tmp_path / "outside"
    (root / "hr").mkdir(parents=True)
    outside.mkdir()
    (root / "hr" / "memo.txt").write_bytes(TEXT)
    (outside / "memo.txt").write_bytes(b"outside the share")
    source = FolderSource(root, ["**/*"], [])
    items = list(source.list())
    shutil.rmtree(root / "hr")
    (root / "hr").symlink_to(outside, target_is_directory=True)
    staged = staging.stage(source, items, {}, tmp_path / "fetched")
    assert not staged.items and [r.reason for r in staged.rejects] == ["symlink_escape"]
    assert not (tmp_path / "fetched").exists() or not any((tmp_path / "fetched").rglob("memo.txt"))


def test_dry_run_never_blocks_on_a_fifo_swapped_in_after_listing(tmp_path: Path) -> None:
    import threading

    from docmill.config.settings import IngestConfig, PathsConfig, Settings
    from docmill.run import dryrun

    root = tmp_path / "share"
    root.mkdir()
    (root / "notes.txt").write_bytes(TEXT)
    settings = Settings(paths=PathsConfig(data_dir=tmp_path / "data"), ingest=IngestConfig(sources=[root]))
    listing = FolderSource.list_items

    def swapping(self: FolderSource):  # type: ignore[no-untyped-def]
        for entry in listing(self):
            (root / "notes.txt").unlink()
            os.mkfifo(root / "notes.txt")  # a reader that opens it blocks until a writer comes
            yield entry

    out: dict[str, object] = {}
    FolderSource.list_items = swapping  # type: ignore[method-assign]
    try:
        worker = threading.Thread(target=lambda: out.update(dryrun.plan(settings)), daemon=True)
        worker.start()
        worker.join(30)
    finally:
        FolderSource.list_items = listing  # type: ignore[method-assign]
    assert not worker.is_alive(), "the dry run blocked opening a FIFO"
    assert out["counts"]["unreadable"] == 1  # type: ignore[index]


def test_private_copies_keep_the_extension_of_long_and_undecodable_names(tmp_path: Path) -> None:
    from docmill.sources import staging
    from docmill.stages.ingest import ingest

    root = tmp_path / "share"
    root.mkdir()
    names = [b"m" * 240 + b".txt", b"bad\xff\xfename.txt"]
    for name in names:
        Path(os.fsdecode(bytes(root) + b"/" + name)).write_bytes(TEXT)
    source = FolderSource(root, ["**/*"], [])
    staged = staging.stage(source, list(source.list()), {}, tmp_path / "fetched")
    records = ingest(staged.items, lambda uri: None, staged.hasher).records
    assert sorted(s.extension for s, _ in records) == [".txt", ".txt"]
    assert all(Path(s.path).read_bytes() == TEXT and str(tmp_path / "fetched") in s.path for s, _ in records)
    assert root.as_uri() + "/bad%FF%FEname.txt" in {s.source_uri for s, _ in records}
