"""Acceptance over the whole shared corpus: every file ends extracted or quarantined with a specific reason,
and docs/formats.md is the table this run produces."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SPECIFIC = (
    "empty",
    "encrypted",
    "corrupt_",
    "missing_dependency:",
    "unsupported_type:",
    "no_text_found",
    "parse_failed:",
    "timeout",
    "too_large",
    "parser_crashed",
    "ocr_failed",
)


def _script():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("formats_table", ROOT / "scripts" / "formats_table.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def test_every_corpus_file_is_extracted_or_quarantined_specifically(shared_corpus: Path) -> None:
    script = _script()
    results = script.outcomes(shared_corpus)
    files = {p.relative_to(shared_corpus).as_posix() for p in shared_corpus.rglob("*") if p.is_file()}
    assert set(results) == files
    unexplained = {k: v for k, v in results.items() if v != "extracted" and not v.startswith(SPECIFIC)}
    assert unexplained == {}
    assert sum(v == "extracted" for v in results.values()) >= 220
    assert results["pdf/password.pdf"] == "encrypted" and results["password_protected.xlsx"] == "encrypted"
    assert results["empty.txt"] == "empty"
    written = script.generated_part((ROOT / "docs" / "formats.md").read_text())
    assert script.render(results) == written, "run scripts/formats_table.py"
