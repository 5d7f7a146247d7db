"""Golden files (tests/golden): each fixture's elements, cleaned text, chunks and enrichment, as the pipeline's stage
functions produce them, equal the stored JSON. A failure names the first differing fields and how to regenerate."""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import pytest

from tests.golden import capture, files
from tests.golden.fixtures import FIXTURES, missing

NAMES = [f.name for f in FIXTURES]


def mismatch(name: str, now: dict[str, Any], folder: Path = files.GOLDEN_DIR) -> str | None:
    """The failure report when `now` differs from the golden file of `name` in `folder`, else None."""
    if not files.path_of(name, folder).exists():
        return f"no golden file for {name}: create it with `{files.REGENERATE} {name}`"
    found = files.differences(files.load(name, folder), now, limit=100)
    return files.report(name, found) if found else None


@pytest.fixture(scope="module")
def captured(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """Every fixture through the stages, once: one batch ahead (parse, prepare, chunk), then each fixture's turn."""
    if missing():
        message = f"shared corpus files missing: {', '.join(missing())}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return capture.capture(FIXTURES, tmp_path_factory.mktemp("golden"))


@pytest.mark.parametrize("name", NAMES)
def test_stage_outputs_equal_the_golden_file(name: str, captured: dict[str, dict[str, Any]]) -> None:
    problem = mismatch(name, captured[name])
    assert problem is None, problem


def test_every_fixture_has_one_canonical_golden_file() -> None:
    """No golden file without a fixture, none missing, each in the form the regeneration writes (so a diff shows
    only what changed)."""
    assert files.stored_names() == set(NAMES), f"run `{files.REGENERATE}`"
    for name in NAMES:
        text = files.path_of(name).read_text(encoding="utf-8")
        assert files.dumps(files.load(name)) == text, f"{name}.json is not in canonical form: run `{files.REGENERATE}`"


def test_a_changed_boundary_or_text_in_a_golden_record_is_detected(
    captured: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    """The comparison can fail: golden files with one chunk boundary moved, one element text edited, one chunk
    removed each give a report that names the field and says how to regenerate."""
    name = "memo-cp1252.md"
    now = captured[name]
    assert len(now[capture.CHUNK]["chunks"]) > 2, "the fixture should make several chunks"
    edits = {
        "3_chunk.chunks[1].char_start": lambda r: r[capture.CHUNK]["chunks"][1].update(
            char_start=r[capture.CHUNK]["chunks"][1]["char_start"] + 1
        ),
        "2_clean.document.elements[0].text: texts differ at character 3": lambda r: r[capture.CLEAN]["document"][
            "elements"
        ][0].update(text=r[capture.CLEAN]["document"]["elements"][0]["text"][:3] + "X"),
        "3_chunk.chunks: ": lambda r: r[capture.CHUNK]["chunks"].pop(),
    }
    for expected, edit in edits.items():
        golden = copy.deepcopy(now)
        edit(golden)
        files.path_of(name, tmp_path).write_text(files.dumps(golden), encoding="utf-8")
        report = mismatch(name, now, tmp_path)
        assert report is not None, f"an edited golden record went unnoticed: {expected}"
        first = report.splitlines()[1].strip()
        assert first.startswith(expected), report
        assert files.REGENERATE in report
    assert mismatch(name, now, tmp_path.parent / "nowhere") is not None  # a missing golden file is a failure too


def test_differences_name_the_path_and_both_values() -> None:
    golden = {"a": [{"x": 1, "t": "chunk text"}], "b": 2}
    assert files.differences(golden, copy.deepcopy(golden)) == []
    assert files.differences(golden, {"a": [{"x": 2, "t": "chunk text"}], "b": 2}) == ["a[0].x: golden 1, now 2"]
    assert files.differences(golden, {"a": [], "b": 2, "c": True}) == [
        "a: 1 items in the golden file, 0 now",
        "c: new (true)",
    ]
    assert files.differences({"n": 1}, {"n": 1.0}) == ["n: golden 1, now 1.0"]  # a type change is a change
