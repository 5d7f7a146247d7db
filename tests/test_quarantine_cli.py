"""`docmill quarantine list` on a share-sized quarantine, through the real command line at 100 columns: totals
first, a bounded page of rows showing file names whole, filters, full URIs in --json and --csv."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path, PurePosixPath

import pytest
import yaml

from docmill.records import Reject
from docmill.state.catalog import Catalog

DEPARTMENTS = ("finance", "human-resources", "legal")
NAMES = ("Q3 Überblick Vertrag Nr 4711 endgültig.pdf", "supplier-framework-agreement-2024-signed.docx", "notes.txt")


@pytest.fixture(scope="module")
def share(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A catalog holding 3,000 rejects of 1,000 files deep in a share (documents, chunks and pages)."""
    root = tmp_path_factory.mktemp("quarantine")
    catalog = Catalog(root / "data" / "catalog.sqlite")
    rejects = []
    for n in range(1000):
        name = NAMES[n % 3]
        path = PurePosixPath("/srv/share/departments") / DEPARTMENTS[n % 3] / f"{2020 + n % 5}" / f"{n:04d} {name}"
        uri, doc = Path(path).as_uri(), f"{n:064x}"
        rejects.append(Reject("extract", "corrupt_pdf" if n % 2 else "timeout", "parser gave up on it", doc, uri))
        rejects.append(Reject("clean", "quality.damaged_char_share", "62% damaged", doc, uri, part="page 3"))
        rejects.append(Reject("validate", "token_overflow", "300 tokens > 256", doc, uri, chunk_id=f"c{n:063x}"))
    with catalog.transaction():
        catalog.add_rejects(rejects, "run-1")
    catalog.close()
    (root / "c.yaml").write_text(yaml.safe_dump({"paths": {"data_dir": str(root / "data")}}))
    return root / "c.yaml"


def _list(config: Path, *args: str) -> str:
    docmill = str(Path(sys.executable).with_name("docmill"))
    env = {**os.environ, "COLUMNS": "100"}
    done = subprocess.run(
        [docmill, "quarantine", "list", "-c", str(config), *args], capture_output=True, text=True, env=env
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def _row_ids(output: str) -> list[int]:
    return [int(m) for m in re.findall(r"^│ *(\d+) *│", output, re.MULTILINE)]


def test_totals_first_then_a_bounded_page_of_file_names(share: Path) -> None:
    out = _list(share)
    totals = out[: out.index("3000 rows")]
    assert re.search(r"extract *│ *corrupt_pdf *│ *500 *│ *0 *│ *0", totals)
    assert re.search(r"validate *│ *token_overflow *│ *0 *│ *1000 *│ *0", totals)
    assert re.search(r"clean *│ *quality\.damaged_char_share *│ *0 *│ *0 *│ *1000", totals)
    assert len(_row_ids(out)) == 50 and "3000 rows; 50 shown, 2950 more" in out
    assert len(out.splitlines()) < 200 and max(map(len, out.splitlines())) <= 100
    assert "file://" not in out and "/srv/share" not in out  # the name, not the first characters of a URI
    for name, kind in zip(NAMES, ("pdf", "docx", "txt"), strict=True):  # whole, on one line, decoded
        lines = _list(share, "--type", kind).splitlines()
        assert any(name in line for line in lines), name
    assert len(_row_ids(_list(share, "--limit", "7"))) == 7
    assert len(_row_ids(_list(share, "--limit", "0", "--stage", "extract"))) == 1000


def test_filters_by_stage_reason_type_and_path(share: Path) -> None:
    def rows(*args: str) -> list[dict[str, object]]:
        found = json.loads(_list(share, "--json", *args))
        assert found["total"] == len(found["rows"])
        return list(found["rows"])

    everything = rows()
    assert len(everything) == 3000 and all(str(r["source_uri"]).startswith("file:///srv/share/") for r in everything)
    pdfs = rows("--type", ".PDF", "--stage", "extract")
    assert len(pdfs) == 334 and all(str(r["file"]).endswith(".pdf") for r in pdfs)
    timeouts = rows("--reason", "time", "--path", "*/finance/*")
    assert timeouts and all("/finance/" in str(r["source_uri"]) and r["reason"] == "timeout" for r in timeouts)
    assert len(rows("--path", "*/2021/* Überblick*")) == 3 * len([n for n in range(1000) if n % 5 == 1 and n % 3 == 0])
    table = list(csv.DictReader(io.StringIO(_list(share, "--csv", "--type", "docx", "--stage", "validate"))))
    assert len(table) == 333 and all(r["chunk_id"] and r["source_uri"].endswith(".docx") for r in table)
    narrowed = _list(share, "--type", "txt", "--stage", "clean", "--limit", "5")
    assert "333 rows; 5 shown, 328 more" in narrowed and "supplier" not in narrowed


def test_names_and_messages_are_shown_as_written_never_as_markup(tmp_path: Path) -> None:
    """A file name with `[draft]` and a parser message quoting PDF syntax (`[/Type /XRef]`) are data: shown
    whole, never read as Rich markup (which dropped the brackets, or failed the command)."""
    catalog = Catalog(tmp_path / "data" / "catalog.sqlite")
    uri = Path("/srv/share/[draft] notes [b]v2.pdf").as_uri()
    with catalog.transaction():
        catalog.add_rejects([Reject("extract", "corrupt_pdf", "bad object [/Type /XRef] at 12", "d" * 64, uri)], "r")
    catalog.close()
    (tmp_path / "c.yaml").write_text(yaml.safe_dump({"paths": {"data_dir": str(tmp_path / "data")}}))
    out = _list(tmp_path / "c.yaml")
    assert "[draft] notes [b]v2.pdf" in out and "[/Type /XRef]" in out, out
