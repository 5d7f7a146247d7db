"""A run's statistics (docmill.run.runstats.RunStats) filled from real stage results: the counters the summary
shows and the counts the reject-rate gates judge."""

from __future__ import annotations

from pathlib import Path

import pytest

from docmill.config.settings import CleanConfig, PathsConfig, Settings
from docmill.records import Chunk, make_chunk_id
from docmill.run import stagework
from docmill.run.runstats import GateCount, RunStats
from docmill.stages import validate
from tests.helpers import clean_batch, sources_of

META = {"source_uri": "file:///a.txt", "sha256": "a" * 64, "file_type": "txt", "title": "A", "model": "m@1"}


def _chunk(doc_id: str, index: int, vector: list[float]) -> Chunk:
    text = f"chunk {index} of the document"
    return Chunk(make_chunk_id(doc_id, index, text), doc_id, index, text, 5, 0, len(text), 1, 1, dict(META), vector)


def test_run_stats_add_stage_results_and_own_the_gates_counts(tmp_path: Path) -> None:
    folder = tmp_path / "share"
    folder.mkdir()
    (folder / "alpha.txt").write_text("Alpha is the first document of this share, with a sentence or two.\n")
    (folder / "beta.txt").write_text("Beta is the second document; it says something else entirely.\n")
    (folder / "empty.txt").write_text("")
    settings = Settings(paths=PathsConfig(data_dir=tmp_path / "data"))
    try:
        extracted = stagework.extract_batch(settings, sources_of(folder))
    finally:
        stagework.release_workers(settings)
    assert len(extracted.records) == 2 and [r.reason for r in extracted.rejects] == ["empty"]

    stats = RunStats()
    stats.add("extract", extracted)
    assert stats.extracted == GateCount(rejected=0, seen=2), "the contract saw what extraction put out"
    assert stats.workers == {f"extract {extracted.worker}": 1} and extracted.worker

    cleaned = clean_batch(extracted.records, CleanConfig())
    cleaned.records[1].text_hash = ""  # a cleaning bug the `cleaned` contract catches
    checked = stagework.contract(cleaned, "cleaned", settings.validate_)
    stats.add("clean", checked)
    assert stats.cleaned == GateCount(rejected=1, seen=2)

    doc = checked.records[0]
    chunks = [_chunk(doc.doc_id, 0, [1.0, 0.0, 0.0]), _chunk(doc.doc_id, 1, [0.5, 0.5, 0.0])]  # the 2nd: not unit
    validated = validate.validate([doc], chunks, settings.validate_, max_tokens=50, dimension=3)
    stats.add("validate", validated)
    stats.count("validate", {"documents_published": 1, "note": "not a number"})
    assert stats.chunks == GateCount(rejected=1, seen=2)

    assert stats.gates() == {"extracted": stats.extracted, "cleaned": stats.cleaned, "chunks": stats.chunks}
    assert stats.reject_rates() == {"extracted": 0.0, "cleaned": 0.5, "chunks": 0.5}
    stages = stats.by_stage()
    assert list(stages) == ["extract", "clean", "validate"]
    assert stages["extract"]["contract_extracted_rejected"] == 0 and stages["extract"]["in"] == 3
    assert stages["clean"]["contract_cleaned_rejected"] == 1 and stages["clean"]["contract_cleaned_violations"] == 1
    assert stages["validate"]["documents_published"] == 1 and "note" not in stages["validate"]
    assert stats.stage("embed") == {} and "embed" not in stats.by_stage(), "reading a stage never adds it"
    assert stats.throughput(2.0) == {
        "documents": 3,
        "chunks": 0,
        "documents_per_second": 1.5,
        "chunks_per_second": 0.0,
    }
    with pytest.raises(validate.RejectRateExceeded, match="cleaned contract"):
        for contract, count in stats.gates().items():
            validate.check_reject_rate(count.rejected, count.seen, settings.validate_, contract)
