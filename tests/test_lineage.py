"""`docmill lineage` on a real catalog: the heading path is part of a chunk's lineage, in text and JSON."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from typer.testing import CliRunner

from docmill.cli.main import app
from tests.snapshot_catalog import fill_catalog


def test_lineage_shows_the_heading_path(tmp_path: Path) -> None:
    catalog = fill_catalog(tmp_path / "data" / "catalog.sqlite", documents=1, chunks_per_doc=1)
    [row] = catalog.query("SELECT doc_id, chunk_id FROM chunks")
    with catalog.transaction():
        catalog.update_chunk_metadata(row["doc_id"], {"headings": ["Handbook", "Leave", "Sick leave"]})
    chunk_id = row["chunk_id"]
    catalog.close()
    config = tmp_path / "docmill.yaml"
    config.write_text(yaml.safe_dump({"paths": {"data_dir": str(tmp_path / "data")}}))
    shown = CliRunner().invoke(app, ["lineage", chunk_id, "--no-reread", "--json", "-c", str(config)])
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.output)["lineage"]["headings"] == ["Handbook", "Leave", "Sick leave"]
    text = CliRunner().invoke(app, ["lineage", chunk_id, "--no-reread", "-c", str(config)], terminal_width=200)
    assert text.exit_code == 0, text.output
    assert "Handbook > Leave > Sick leave" in text.output
