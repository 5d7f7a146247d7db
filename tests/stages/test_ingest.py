import hashlib
import shutil
from pathlib import Path

from docmill.config.globs import glob_match
from docmill.sources.folder import FolderSource, sha256_file
from docmill.stages.ingest import ingest


def test_glob_match_handles_top_level_and_nested_paths() -> None:
    assert glob_match("a.pdf", "**/*.pdf")
    assert glob_match("x/y/a.pdf", "**/*.pdf")
    assert not glob_match("x/a.txt", "**/*.pdf")
    assert glob_match("finance/q1/a.txt", "finance/**")


def test_listing_is_sorted_and_filtered(corpus_subset: Path) -> None:
    items = list(FolderSource(corpus_subset, ["**/*"], ["**/*.jpg", "**/.*"]).list())
    relatives = [i.relative for i in items]
    assert relatives == [i.relative for i in FolderSource(corpus_subset, ["**/*"], ["**/*.jpg", "**/.*"]).list()]
    top_level = [r for r in relatives if "/" not in r]
    assert top_level == sorted(top_level)
    assert "img/example.jpg" not in relatives
    assert "pdf/fake-memo.pdf" in relatives and "fake.docx" in relatives
    assert all(i.source_uri.startswith("file://") for i in items)


def test_missing_source_folder_is_a_pipeline_error(tmp_path: Path) -> None:
    try:
        list(FolderSource(tmp_path / "nope", ["**/*"], []).list())
    except FileNotFoundError as exc:
        assert "nope" in str(exc)
    else:
        raise AssertionError("a missing source folder must fail the run")


def test_ingest_hashes_and_classifies_changes(shared_corpus: Path, tmp_path: Path) -> None:
    for name in ("fake.docx", "README.md", "stanley-cups.csv"):
        shutil.copy2(shared_corpus / name, tmp_path / name)
    items = list(FolderSource(tmp_path, ["**/*"], []).list())
    first = ingest(items, lambda uri: None, sha256_file)
    assert first.stats["new"] == 3 and not first.rejects
    for source, change in first.records:
        assert source.doc_id == hashlib.sha256(Path(source.path).read_bytes()).hexdigest()
        assert change == "new"
    known = {s.source_uri: s.doc_id for s, _ in first.records}
    (tmp_path / "README.md").write_text("# changed\n\nnew text")
    items = list(FolderSource(tmp_path, ["**/*"], []).list())
    second = ingest(items, known.get, sha256_file)
    changes = {Path(s.path).name: c for s, c in second.records}
    assert changes == {"README.md": "changed", "fake.docx": "unchanged", "stanley-cups.csv": "unchanged"}


def test_unreadable_file_becomes_a_reject(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("hello")
    items = list(FolderSource(tmp_path, ["**/*"], []).list())
    (tmp_path / "a.txt").unlink()  # vanished between listing and hashing
    result = ingest(items, lambda uri: None, sha256_file)
    assert [r.reason for r in result.rejects] == ["unreadable"]
    assert result.rejects[0].stage == "ingest"
