"""Archives at ingest: members become documents, bombs and escaping paths are refused (real files)."""

import io
import tarfile
import zipfile
from pathlib import Path

import pytest

from docmill.config.settings import IngestConfig, PathsConfig, Settings
from docmill.run.context import RunContext
from docmill.run.ingestion import Ingestion
from docmill.sources.folder import FolderSource

TEXT = b"Quarterly archive notes: every contract is reviewed twice before signature.\n"


def _zip(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _run(tmp_path: Path, run: str, **ingest: object) -> tuple[RunContext, dict[str, float]]:
    settings = Settings(
        paths=PathsConfig(data_dir=tmp_path / "data"), ingest=IngestConfig(sources=[tmp_path / "in"], **ingest)
    )  # type: ignore[arg-type]
    rt = RunContext(settings, run)
    Ingestion(rt).start()
    stats = dict(Ingestion(rt).items(list(FolderSource(tmp_path / "in", ["**/*"], []).list()), depth=0))
    stats.update(Ingestion(rt).remove_vanished([tmp_path / "in"]))
    return rt, stats


def _reasons(rt: RunContext) -> dict[str, str]:
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
    damaged = bytearray(_zip({"b.txt": bytes(range(256)) * 64}))
    damaged[60:70] = b"\xff" * 10  # inside the member's deflate stream: zlib fails while streaming it
    (tmp_path / "in" / "damaged.zip").write_bytes(bytes(damaged))
    rt, _ = _run(tmp_path, "r1", archive_max_members=20, archive_max_depth=2)
    reasons = _reasons(rt)
    assert reasons["zeros.zip"] == "archive_bomb"
    assert reasons["many.zip"] == "archive_too_many_members"
    assert reasons["l3.zip"] == "archive_too_deep"
    assert reasons["broken.zip"] == reasons["damaged.zip"] == "corrupt_archive"
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


def iwork_zip(text: bytes = TEXT) -> bytes:
    """A ZIP shaped like an Apple iWork file: its `Index/` members use compression method 25451 (IWA, which
    Python cannot read), beside a readable preview text."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("Index/Document.iwa", b"\x00iwa-snappy-frames" * 40)
        archive.writestr("preview.txt", text)
    data = bytearray(buffer.getvalue())
    local, central = data.index(b"PK\x03\x04"), data.index(b"PK\x01\x02")  # the first member's two headers
    data[local + 8 : local + 10] = data[central + 10 : central + 12] = (25451).to_bytes(2, "little")
    return bytes(data)


def test_a_member_python_cannot_decompress_is_refused_alone(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "report.pages").write_bytes(iwork_zip(TEXT * 2))
    (tmp_path / "in" / "plain.txt").write_bytes(TEXT)
    rt, _ = _run(tmp_path, "r1")
    assert _reasons(rt) == {"Document.iwa": "unsupported_compression"}
    uris = {r["source_uri"].rsplit("/in/", 1)[1] for r in rt.catalog.query("SELECT source_uri FROM sources")}
    assert uris == {"report.pages", "report.pages!/preview.txt", "plain.txt"}
    assert rt.catalog.counts()["pending"] == 2 and rt.catalog.counts()["container"] == 1


def _nested_bomb() -> bytes:
    """10 archives of 50 archives of 1 MB of zeros: each one alone is under every per-archive limit."""
    leaf = _zip({"zeros.bin": b"\0" * (1024**2 - 1)})
    middle = _zip({f"leaf{i}.zip": leaf for i in range(50)})
    return _zip({f"middle{i}.zip": middle for i in range(10)})


def test_limits_hold_for_the_whole_tree_and_an_aborted_tree_leaves_nothing(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "bomb.zip").write_bytes(_nested_bomb())
    (tmp_path / "in" / "fine.zip").write_bytes(_zip({"a.txt": TEXT, "b.zip": _zip({"c.txt": TEXT * 2})}))
    wide = {f"n{i}.zip": _zip({f"x{j}.txt": TEXT * (i + j) for j in range(1, 21)}) for i in range(12)}
    (tmp_path / "in" / "wide.zip").write_bytes(_zip(wide))  # 12 archives of 20: 252 members
    rt, _ = _run(tmp_path, "r1", archive_max_members=200)
    reasons = _reasons(rt)
    assert reasons == {"bomb.zip": "archive_bomb", "wide.zip": "archive_too_many_members"}, reasons
    derived = tmp_path / "data" / "derived"
    written = sum(p.stat().st_size for p in derived.rglob("*") if p.is_file())
    assert written < 10_000, f"{written} bytes left in the data folder"
    members = {r["source_uri"].rsplit("/in/", 1)[1] for r in rt.catalog.query("SELECT source_uri FROM sources")}
    fine = {"fine.zip", "fine.zip!/a.txt", "fine.zip!/b.zip", "fine.zip!/b.zip!/c.txt"}
    assert members == {"bomb.zip", "wide.zip", *fine}


def test_the_ratio_is_checked_while_streaming_every_compressed_format(tmp_path: Path) -> None:
    import bz2
    import gzip
    import lzma

    (tmp_path / "in").mkdir()
    text = b"".join(b"line %d of a very repetitive log file\n" % (i % 7) for i in range(200_000))  # 7.4 MB, 228:1
    (tmp_path / "in" / "log.txt.gz").write_bytes(gzip.compress(text))
    (tmp_path / "in" / "log.txt.bz2").write_bytes(bz2.compress(text[: 3 * 1024**2]))  # bzip2 is slow to write
    (tmp_path / "in" / "log.txt.xz").write_bytes(lzma.compress(text))
    with tarfile.open(tmp_path / "in" / "logs.tar.xz", "w:xz") as archive:
        info = tarfile.TarInfo("log.txt")
        info.size = len(text)
        archive.addfile(info, io.BytesIO(text))
    (tmp_path / "in" / "notes.txt.bz2").write_bytes(bz2.compress(TEXT * 3))
    (tmp_path / "in" / "notes.tar.bz2").write_bytes(b"")
    with tarfile.open(tmp_path / "in" / "notes.tar.bz2", "w:bz2") as archive:
        info = tarfile.TarInfo("n/notes.txt")
        info.size = len(TEXT)
        archive.addfile(info, io.BytesIO(TEXT))
    rt, _ = _run(tmp_path, "r1")
    reasons = _reasons(rt)
    assert reasons == {n: "archive_bomb" for n in ("log.txt.gz", "log.txt.bz2", "log.txt.xz", "logs.tar.xz")}
    written = sum(p.stat().st_size for p in (tmp_path / "data" / "derived").rglob("*") if p.is_file())
    assert written < 10_000
    uris = {r["source_uri"].rsplit("/in/", 1)[1] for r in rt.catalog.query("SELECT source_uri FROM sources")}
    assert {"notes.txt.bz2!/notes.txt", "notes.tar.bz2!/n/notes.txt"} <= uris


def test_an_unexpected_error_in_one_expansion_quarantines_that_archive_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.zip").write_bytes(_zip({"x.txt": TEXT, "inner.zip": _zip({"y.txt": TEXT * 2})}))
    (tmp_path / "in" / "b.zip").write_bytes(_zip({"z.txt": TEXT * 3}))
    monkeypatch.setenv("DOCMILL_STEP_FAULT", "expand:a.zip")
    rt, _ = _run(tmp_path, "r1")
    row = rt.catalog.quarantine()[0]
    assert _reasons(rt) == {"a.zip": "step_failed:expand:InjectedFault"} and "expand raised" in row["message"]
    uris = {r["source_uri"].rsplit("/in/", 1)[1] for r in rt.catalog.query("SELECT source_uri FROM sources")}
    assert uris == {"a.zip", "b.zip", "b.zip!/z.txt"}
