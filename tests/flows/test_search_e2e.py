"""`docmill search` after a real run (Prefect flow, bundled model, embedded Qdrant): an identifier that one
chunk holds comes back first, through the importable function and the command line's JSON."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from docmill.cli.main import app
from docmill.config.settings import load_settings
from docmill.run.search import search

pytestmark = pytest.mark.e2e

FILES = {
    "orders/march.txt": "Purchase orders for March\n\nOrder PO-77341-B covers six standing desks for the Bristol "
    "office, reference 4373090816. Delivery is expected in the second week of April.\n",
    "orders/april.txt": "Purchase orders for April\n\nOrder PO-77342-B covers ten office chairs for the Leeds "
    "office, reference 4373090817. Delivery is expected at the end of May.\n",
    "policy/travel.txt": "Travel policy\n\nEconomy class applies to flights under six hours. Receipts are "
    "submitted within thirty days of the trip.\n",
    "notes/meeting.txt": "Meeting notes\n\nThe quarterly review moves to the third floor. Every team lead "
    "brings the figures for their office.\n",
}


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("search")
    for name, text in FILES.items():
        (root / "inbox" / name).parent.mkdir(parents=True, exist_ok=True)
        (root / "inbox" / name).write_text(text)
    settings = {
        "paths": {"data_dir": str(root / "data")},
        "ingest": {"sources": [str(root / "inbox")]},
        "version": {"remote_url": str(root / "remote")},
    }
    (root / "docmill.yaml").write_text(yaml.safe_dump(settings))
    return root / "docmill.yaml"


def test_an_identifier_is_found_first_after_a_real_run(prefect_api: str, config: Path) -> None:
    from flows.pipeline import pipeline

    summary = pipeline(config_path=str(config))
    assert summary["documents"]["embedded"] == len(FILES)
    settings = load_settings(config)
    for query in ("PO-77341-B", "4373090816", "when do the desks of PO-77341-B arrive?"):
        for mode in ("hybrid", "sparse"):
            hits = search(settings, query, mode=mode, k=3)  # type: ignore[arg-type]
            assert hits and hits[0].source_uri.endswith("orders/march.txt"), (query, mode, hits[:1])
    first = search(settings, "PO-77341-B", k=1)[0]
    assert first.payload["sparse_model"].startswith("bm25-v1+") and first.text in FILES["orders/march.txt"]

    out = CliRunner().invoke(app, ["search", "4373090816", "--json", "-k", "2", "--config", str(config)])
    assert out.exit_code == 0, out.output
    hits = json.loads(out.output)
    assert len(hits) == 2 and hits[0]["source_uri"].endswith("orders/march.txt")
    assert {"score", "chunk_id", "doc_id", "text", "page_start", "char_start", "char_end", "headings"} <= set(hits[0])
    only = ["search", "4373090816", "--json", "--mode", "sparse", "--filter", "file_type=txt", "--config", str(config)]
    filtered = json.loads(CliRunner().invoke(app, only).output)
    assert filtered and filtered[0]["source_uri"].endswith("orders/march.txt")
    none = CliRunner().invoke(app, [*only[:-2], "--filter", "file_type=pdf", "--config", str(config)])
    assert json.loads(none.output) == []
    text = CliRunner().invoke(app, ["search", "PO-77341-B", "-k", "1", "--config", str(config)])
    # Rich folds a long source URI at any character in 80 columns, with the table's borders between the pieces
    unwrapped = re.sub(r"[\s\u2500-\u257f]", "", text.output)
    assert text.exit_code == 0 and "march.txt" in unwrapped and "score" in text.output
    bad = CliRunner().invoke(app, ["search", "x", "--mode", "fuzzy", "--config", str(config)])
    assert bad.exit_code == 2 and "hybrid" in bad.output
