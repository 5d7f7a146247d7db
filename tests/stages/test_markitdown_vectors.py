"""markitdown's test vectors against docmill (shared corpus `markitdown-tests/`), read from its
`tests/_test_vectors.py`: every `must_include` string, Markdown syntax stripped (`vector_content`: markitdown's
own headings, field labels and bare link targets are its wrapping, not the file's text; a table row's cells in
order on one line), is in docmill's text of the file (as `docmill parse` extracts it: archives expanded, the
configured parser pool); no `must_not_include` string is. A file that cannot pass today is a strict expected
failure naming its defect."""

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from benchmarks.fidelity_reference import load_vectors, present, vector_file, vector_found

SHARED = Path(os.environ.get("DOCMILL_SHARED_CORPUS", Path(__file__).resolve().parents[3] / "shared/corpus/x")).parent
ROOT = Path(__file__).resolve().parents[2]

# vector file -> the defect that keeps it from passing today (another helper of issue 19 fixes it)
EXPECTED_FAILURES: dict[str, str] = {}


def _vectors() -> list[Any]:
    if not (SHARED / "markitdown-tests").is_dir():
        return []
    return load_vectors(SHARED)


def _param(vector: Any) -> Any:
    marks = []
    if vector.filename in EXPECTED_FAILURES:
        marks.append(pytest.mark.xfail(strict=True, reason=EXPECTED_FAILURES[vector.filename]))
    return pytest.param(vector, id=vector.filename, marks=marks)


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Default settings with a private data folder; the module's parser pool is stopped at the end."""
    from docmill.config.settings import load_settings
    from docmill.run import stagework

    loaded = load_settings(ROOT / "configs" / "docmill.yaml")
    loaded.paths.data_dir = tmp_path_factory.mktemp("data")
    yield loaded
    stagework.release_workers(loaded)


def test_the_vectors_file_is_read() -> None:
    if not (SHARED / "markitdown-tests").is_dir():
        pytest.fail(f"markitdown-tests not found under {SHARED}")
    assert len(_vectors()) >= 15


@pytest.mark.parametrize("vector", [_param(v) for v in _vectors()])
def test_markitdown_vector(vector: Any, settings: Any) -> None:
    from docmill.cli.parse import extract_file

    out = extract_file(vector_file(vector, SHARED), settings, keep_pool=True)
    text = "\n\n".join(e["text"] for doc in out["documents"] for e in doc["elements"])
    assert out["documents"], f"quarantined: {out['quarantined']}"
    missing = [s for s in vector.must_include if not vector_found(s, text)]
    assert not missing, f"missing from docmill's text: {missing}"
    leaked = [s for s in vector.must_not_include if present(s, text)]
    assert not leaked, f"must not be in docmill's text: {leaked}"
