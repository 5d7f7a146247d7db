"""`docmill parse FILE`: one file through ingest, the configured parser pool and the `extracted` contract."""

import json
import zipfile
from pathlib import Path

from typer.testing import CliRunner

from docmill.cli.main import app
from docmill.samples import make_pdf

TABLE = [["Asset", "Owner", "Cost"], ["Laptop", "IT", "1200"], ["Badge", "Facilities", "15"]]


def _config(folder: Path) -> str:
    """A config of its own (data folder, one parser worker, a time limit): `parse` uses it, as a run does."""
    path = folder / "docmill.yaml"
    path.write_text(f"paths:\n  data_dir: {folder / 'data'}\nextract:\n  workers: 1\n  timeout_s: 60\n")
    return str(path)


def test_parse_prints_elements_with_kind_page_and_table_markdown(tmp_path: Path) -> None:
    (tmp_path / "assets.pdf").write_bytes(make_pdf("Assets", 5, 2, TABLE))
    archive = tmp_path / "bundle.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.write(tmp_path / "assets.pdf", "inner/assets.pdf")
        bundle.writestr("empty.txt", b"")
    runner = CliRunner()
    shown = runner.invoke(app, ["parse", str(tmp_path / "assets.pdf"), "--config", _config(tmp_path)])
    assert shown.exit_code == 0, shown.output
    assert "p2 table" in shown.output and "|Laptop|IT|1200|" in shown.output
    listed = runner.invoke(app, ["parse", str(archive), "--json", "--config", _config(tmp_path)])
    assert listed.exit_code == 0, listed.output
    result = json.loads(listed.output)
    [doc] = result["documents"]
    assert doc["source_uri"].endswith("bundle.zip!/inner/assets.pdf") and doc["format"] == "pdf"
    tables = [e for e in doc["elements"] if e["kind"] == "table"]
    assert [(t["page"], t["text"].splitlines()[2]) for t in tables] == [(2, "|Laptop|IT|1200|")]
    assert [(q["source_uri"].rsplit("!/", 1)[1], q["reason"]) for q in result["quarantined"]] == [
        ("empty.txt", "empty")
    ]


def test_parse_of_a_quarantined_file_prints_reason_and_exits_1(tmp_path: Path) -> None:
    (tmp_path / "broken.pdf").write_bytes(b"%PDF-1.7\n garbage without objects")
    result = CliRunner().invoke(app, ["parse", str(tmp_path / "broken.pdf"), "--json", "--config", _config(tmp_path)])
    assert result.exit_code == 1
    [reject] = json.loads(result.output)["quarantined"]
    assert reject["stage"] == "extract" and reject["reason"] == "corrupt_pdf" and reject["message"]


def test_parse_of_an_e_mail_shows_its_attachments_as_a_run_does(tmp_path: Path) -> None:
    """A run makes each attachment (each forwarded message of a digest) a document of its own; `parse` showed
    only the message, so a digest looked like a header with nothing in it."""
    from email.message import EmailMessage

    digest = EmailMessage()
    digest["From"], digest["To"], digest["Subject"] = "editor@example.org", "team@example.org", "Harbour digest"
    digest.make_mixed()
    digest.replace_header("Content-Type", "multipart/digest")
    for town in ("Kirkwall", "Lerwick"):
        inner = EmailMessage()
        inner["From"], inner["Subject"] = "writer@example.org", f"{town} news"
        inner.set_content(f"The {town} ferry sails at dawn.")
        part = EmailMessage()
        part.set_content(inner)
        digest.attach(part)
    (tmp_path / "digest.eml").write_bytes(bytes(digest))
    shown = CliRunner().invoke(app, ["parse", str(tmp_path / "digest.eml"), "--json", "--config", _config(tmp_path)])
    assert shown.exit_code == 0, shown.output
    docs = {
        d["source_uri"].rsplit("/", 1)[1]: "\n".join(e["text"] for e in d["elements"])
        for d in json.loads(shown.output)["documents"]
    }
    assert "Subject: Harbour digest" in docs["digest.eml"]
    bodies = sorted(text for name, text in docs.items() if name != "digest.eml")
    assert [("Kirkwall ferry" in bodies[0]), ("Lerwick ferry" in bodies[1])] == [True, True]
