"""Archives at ingest: members become documents, bombs and escaping paths are refused (real files)."""

import io
import tarfile
import zipfile
from pathlib import Path

from docmill.runtime import Runtime
from docmill.settings import IngestConfig, PathsConfig, Settings
from docmill.sources.folder import FolderSource
from flows.pipeline import _ingest_items

TEXT = b"Quarterly archive notes: every contract is reviewed twice before signature.\n"


def _zip(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _run(tmp_path: Path, run: str, **ingest: object) -> tuple[Runtime, dict[str, float]]:
    settings = Settings(
        paths=PathsConfig(data_dir=tmp_path / "data"), ingest=IngestConfig(sources=[tmp_path / "in"], **ingest)
    )  # type: ignore[arg-type]
    rt = Runtime(settings, run)
    rt.start_ingest()
    stats = dict(_ingest_items(rt, list(FolderSource(tmp_path / "in", ["**/*"], []).list()), depth=0))
    stats.update(rt.remove_vanished([tmp_path / "in"]))
    return rt, stats


def _reasons(rt: Runtime) -> dict[str, str]:
    return {r["source_uri"].rsplit("/", 1)[-1]: r["reason"] for r in rt.catalog.quarantine()}


def test_members_become_documents_and_unsafe_paths_are_refused(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    nested = _zip({"inner.md": b"# Inner\n\n" + TEXT})
    (tmp_path / "in" / "bundle.zip").write_bytes(
        _zip({"docs/a.txt": TEXT, "nested.zip": nested, "../evil.txt": b"escape", "/abs.txt": b"escape"})
    )
    rt, _ = _run(tmp_path, "r1")
    uris = {
        r["source_uri"].split("bundle.zip", 1)[1]
        for r in rt.catalog.query("SELECT source_uri FROM sources")
        if "bundle.zip" in r["source_uri"]
    }
    assert uris == {"", "!/docs/a.txt", "!/nested.zip", "!/nested.zip!/inner.md"}
    statuses = {r["status"] for r in rt.catalog.query("SELECT status FROM documents")}
    assert rt.catalog.counts()["container"] == 2 and rt.catalog.counts()["pending"] == 2 and statuses
    assert _reasons(rt) == {"evil.txt": "unsafe_archive_path", "abs.txt": "unsafe_archive_path"}
    assert not any(p.name in {"evil.txt", "abs.txt"} for p in tmp_path.rglob("*"))
    rt2, stats = _run(tmp_path, "r2")  # unchanged: members are seen again, nothing deleted
    assert stats["sources_deleted"] == 0 and rt2.catalog.counts()["sources"] == 4


def test_bombs_depth_and_corrupt_archives_are_quarantined(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "zeros.zip").write_bytes(_zip({"zeros.bin": b"\0" * 50 * 1024**2}))
    (tmp_path / "in" / "many.zip").write_bytes(_zip({f"m{i}.txt": TEXT for i in range(30)}))
    (tmp_path / "in" / "deep.zip").write_bytes(_zip({"l2.zip": _zip({"l3.zip": _zip({"x.txt": TEXT})})}))
    (tmp_path / "in" / "broken.zip").write_bytes(_zip({"a.txt": TEXT * 50})[:-40])
    rt, _ = _run(tmp_path, "r1", archive_max_members=20, archive_max_depth=2)
    reasons = _reasons(rt)
    assert reasons["zeros.zip"] == "archive_bomb"
    assert reasons["many.zip"] == "archive_too_many_members"
    assert reasons["l3.zip"] == "archive_too_deep"
    assert reasons["broken.zip"] == "corrupt_archive"
    assert not list((tmp_path / "data" / "derived").glob("*/zeros.bin"))


def test_tar_links_are_refused_and_files_kept(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    with tarfile.open(tmp_path / "in" / "set.tar.gz", "w:gz") as archive:
        info = tarfile.TarInfo("notes/a.txt")
        info.size = len(TEXT)
        archive.addfile(info, io.BytesIO(TEXT))
        link = tarfile.TarInfo("notes/passwd")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        archive.addfile(link)
    rt, _ = _run(tmp_path, "r1")
    assert _reasons(rt) == {"passwd": "archive_link"}
    assert [
        r["source_uri"].rsplit("!/", 1)[1]
        for r in rt.catalog.query("SELECT source_uri FROM sources WHERE source_uri LIKE '%!/%'")
    ] == ["notes/a.txt"]


def test_e_mail_attachments_become_child_documents(shared_corpus: Path, tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    for name in ("eml/fake-email-attachment.eml", "fake-email-attachment.msg"):
        (tmp_path / "in" / Path(name).name).write_bytes((shared_corpus / name).read_bytes())
    rt, _ = _run(tmp_path, "r1")
    rows = {r["source_uri"].rsplit("/in/", 1)[1]: r["doc_id"] for r in rt.catalog.query("SELECT * FROM sources")}
    assert "fake-email-attachment.msg!/fake-attachment.txt" in rows
    assert any(k.startswith("fake-email-attachment.eml!/") for k in rows)
    statuses = {r["status"] for r in rt.catalog.query("SELECT status FROM documents")}
    assert statuses == {"pending"}, "messages stay documents (their body); attachments are documents too"
    child = next(v for k, v in rows.items() if k.endswith("fake-attachment.txt"))
    path = next(r["path"] for r in rt.catalog.query("SELECT path FROM sources WHERE doc_id=?", (child,)))
    assert Path(path).read_bytes().strip()
