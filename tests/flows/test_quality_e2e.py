"""Dataset quality end to end: a generated corpus with planted problems through the real flow, Qdrant, DVC.

Planted: five near-duplicates of one document at known word-edit rates, a PDF with a repeated header and
page-numbered footer, a PDF with one page of OCR noise, a German document (only English allowed), and 200
valid PII values of every type in varied formats. Checked: near-duplicate precision and recall against the
true shingle Jaccard, no header/footer left in any chunk, the noise page quarantined with its signal, the
language reject, PII recall from the run's counts and no planted value in Qdrant payloads or the dataset.
"""

from __future__ import annotations

import json
import random
import sqlite3
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
import yaml

from docmill.text.neardup import shingles
from tests.helpers import qdrant_points
from tests.planted import KINDS, planted_pii

pytestmark = pytest.mark.e2e

_WORDS = [
    "account",
    "action",
    "agenda",
    "analysis",
    "annual",
    "approval",
    "archive",
    "asset",
    "audit",
    "balance",
    "board",
    "branch",
    "budget",
    "building",
    "calendar",
    "capital",
    "carrier",
    "catalogue",
    "channel",
    "client",
    "committee",
    "company",
    "contract",
    "control",
    "cost",
    "council",
    "credit",
    "customer",
    "dashboard",
    "data",
    "deadline",
    "delivery",
    "department",
    "deposit",
    "design",
    "detail",
    "device",
    "director",
    "discount",
    "district",
    "document",
    "draft",
    "employee",
    "energy",
    "engineer",
    "equipment",
    "estimate",
    "evidence",
    "expense",
    "facility",
    "factory",
    "feedback",
    "figure",
    "finance",
    "forecast",
    "freight",
    "function",
    "funding",
    "guideline",
    "handbook",
    "holiday",
    "incident",
    "income",
    "insurance",
    "inventory",
    "invoice",
    "journal",
    "kitchen",
    "label",
    "ledger",
    "licence",
    "logistics",
    "machine",
    "maintenance",
    "manager",
    "margin",
    "market",
    "meeting",
    "member",
    "method",
    "minute",
    "model",
    "network",
    "notice",
    "office",
    "operator",
    "order",
    "owner",
    "package",
    "partner",
    "payment",
    "payroll",
    "pension",
    "permit",
    "planning",
    "platform",
    "policy",
    "portfolio",
    "premium",
    "price",
    "procedure",
    "process",
    "product",
    "profit",
    "program",
    "project",
    "purchase",
    "quality",
    "quarter",
    "receipt",
    "record",
    "region",
    "register",
    "report",
    "request",
    "research",
    "reserve",
    "resource",
    "revenue",
    "review",
    "risk",
    "safety",
    "salary",
    "sample",
    "schedule",
    "sector",
    "security",
    "service",
    "shipment",
    "site",
    "software",
    "staff",
    "standard",
    "statement",
    "storage",
    "strategy",
    "supplier",
    "supply",
    "support",
    "survey",
    "system",
    "target",
    "tax",
    "team",
    "template",
    "tender",
    "terminal",
    "ticket",
    "training",
    "transfer",
    "transport",
    "travel",
    "treasury",
    "trial",
    "union",
    "update",
    "vehicle",
    "vendor",
    "venue",
    "version",
    "warehouse",
    "warranty",
    "website",
    "workshop",
]
_VERBS = [
    "approves",
    "checks",
    "sends",
    "updates",
    "reviews",
    "signs",
    "files",
    "prepares",
    "closes",
    "opens",
    "moves",
    "tracks",
]
_EDITS = {"near-dup-1.txt": 0.005, "near-dup-2.txt": 0.01, "far-1.txt": 0.06, "far-2.txt": 0.12, "far-3.txt": 0.3}
_GERMAN = (
    "Die Abteilung prüft jeden Monat die Verträge mit den Lieferanten und dokumentiert die Ergebnisse im "
    "gemeinsamen Register. Alle Mitarbeiter müssen ihre Reisekosten innerhalb von fünf Arbeitstagen einreichen. "
    "Der Sicherheitsbeauftragte genehmigt neue Zugänge erst nach einer zweiten Prüfung durch die Leitung. "
    "Im Lager werden die Bestände zweimal im Jahr gezählt, und Differenzen werden auf ein Reservekonto gebucht. "
    "Neue Kolleginnen und Kollegen absolvieren in der ersten Woche die Datenschutzschulung."
)


def _prose(rng: random.Random, sentences: int) -> list[str]:
    """English-looking sentences with a large enough vocabulary that 5-word shingles rarely repeat."""
    out = []
    for _ in range(sentences):
        words = [rng.choice(_WORDS) for _ in range(rng.randint(6, 11))]
        words.insert(2, rng.choice(_VERBS))
        out.append(" ".join(words).capitalize() + ".")
    return out


def _edit(words: list[str], rate: float, rng: random.Random) -> list[str]:
    edited = list(words)
    for position in rng.sample(range(len(words)), max(1, round(rate * len(words)))):
        edited[position] = rng.choice([w for w in _WORDS if w != words[position]]) + "x"
    return edited


def _pdf(path: Path, pages: list[list[str]], header: str | None = None, footer: str | None = None) -> None:
    import pymupdf

    doc = pymupdf.open()
    for number, lines in enumerate(pages, 1):
        page = doc.new_page(width=595, height=842)
        if header:
            page.insert_text((50, 40), header, fontsize=9)
        y = 90.0
        for line in lines:
            page.insert_textbox(pymupdf.Rect(50, y, 545, y + 60), line, fontsize=10)
            y += 62
        if footer:
            page.insert_text((270, 815), footer.format(n=number, total=len(pages)), fontsize=9)
    doc.save(path)


def _planted_corpus(inbox: Path) -> dict[str, Any]:
    rng = random.Random(7)
    inbox.mkdir(parents=True)
    base = " ".join(_prose(rng, 70)).split(" ")
    (inbox / "base.txt").write_text(" ".join(base))
    truth = {}
    base_shingles = shingles(" ".join(base), 5)
    for name, rate in _EDITS.items():
        text = " ".join(_edit(base, rate, random.Random(name)))
        (inbox / name).write_text(text)
        other = shingles(text, 5)
        truth[name] = len(base_shingles & other) / len(base_shingles | other)
    _pdf(
        inbox / "header-footer.pdf",
        [_prose(rng, 10) for _ in range(5)],
        header="Northwind Traders - Internal Use Only",
        footer="Page {n} of {total}",
    )
    noise = ["~#@ 1l|| ;;: ^^%$ ##@@ !!~~ ;;;; ,,,, ..-- :::: ==== ~~ ## @@ || ^^ %% $$" for _ in range(10)]
    _pdf(inbox / "scan-with-noise.pdf", [_prose(rng, 8), noise, _prose(rng, 8)])
    (inbox / "german.txt").write_text(_GERMAN)
    values = planted_pii(11, 200)
    for part in range(4):  # four documents of 300 values each, one value per sentence of prose
        sentences = _prose(rng, 300)
        chunk = values[part * 300 : (part + 1) * 300]
        lines = [
            f"{s[:-1]} {kind.replace('_', ' ')} {value} noted."
            for s, (kind, value) in zip(sentences, chunk, strict=True)
        ]
        (inbox / f"contacts-{part}.txt").write_text("\n".join(lines))
    return {"truth": truth, "pii": values}


@pytest.fixture(scope="module")
def planted_run(prefect_api: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from flows.pipeline import pipeline

    root = tmp_path_factory.mktemp("quality")
    planted = _planted_corpus(root / "inbox")
    config = {
        "paths": {"data_dir": str(root / "data")},
        "ingest": {"sources": [str(root / "inbox")]},
        "clean": {"quality": {"allowed_languages": ["en"]}},
        "validate": {"max_reject_rate": 0.5},
        "version": {"remote_url": str(root / "remote"), "dataset_name": "quality"},
    }
    (root / "docmill.yaml").write_text(yaml.safe_dump(config))
    summary = pipeline(config_path=str(root / "docmill.yaml"))
    db = sqlite3.connect(root / "data" / "catalog.sqlite")
    db.row_factory = sqlite3.Row
    return {**planted, "summary": summary, "db": db, "data": root / "data", "root": root}


def _status(db: sqlite3.Connection, name: str) -> sqlite3.Row:
    return db.execute(
        "SELECT d.* FROM documents d JOIN sources s ON s.doc_id = d.doc_id WHERE s.source_uri LIKE ?", (f"%/{name}",)
    ).fetchone()


def test_near_duplicates_match_the_true_jaccard(planted_run: dict[str, Any]) -> None:
    """Precision and recall 100 %: the documents at or above the threshold (true shingle Jaccard) collapse to one
    canonical document (whichever was processed first), every other one is embedded on its own."""
    db, truth = planted_run["db"], planted_run["truth"]
    for name, jaccard in truth.items():
        assert abs(jaccard - 0.8) > 0.08, f"planted variant {name} too close to the threshold ({jaccard:.2f})"
    cluster = ["base.txt"] + [name for name, jaccard in truth.items() if jaccard >= 0.8]
    assert len(cluster) == 3
    rows = {name: _status(db, name) for name in [*cluster, *truth]}
    ids = {rows[name]["doc_id"] for name in cluster}
    assert sorted(rows[name]["status"] for name in cluster) == ["duplicate", "duplicate", "embedded"]
    assert all(rows[name]["duplicate_of"] in ids for name in cluster if rows[name]["status"] == "duplicate")
    reasons = {r["doc_id"]: r["reason"] for r in db.execute("SELECT doc_id, reason FROM quarantine")}
    assert {reasons[rows[n]["doc_id"]] for n in cluster if rows[n]["status"] == "duplicate"} == {"near_duplicate"}
    for name in set(truth) - set(cluster):
        assert rows[name]["status"] == "embedded", f"{name}: true Jaccard {truth[name]:.2f}, {rows[name]['status']}"


def test_headers_and_footers_are_gone_from_every_chunk(planted_run: dict[str, Any]) -> None:
    doc = _status(planted_run["db"], "header-footer.pdf")
    texts = [r["text"] for r in planted_run["db"].execute("SELECT text FROM chunks WHERE doc_id=?", (doc["doc_id"],))]
    assert texts and doc["status"] == "embedded"
    assert not [t for t in texts if "Internal Use Only" in t or "Page 3 of 5" in t or "of 5" in t]


def test_the_noise_page_is_quarantined_with_its_signal(planted_run: dict[str, Any]) -> None:
    db = planted_run["db"]
    doc = _status(db, "scan-with-noise.pdf")
    assert doc["status"] == "embedded"  # the document goes on without the page
    rows = db.execute("SELECT * FROM quarantine WHERE doc_id=?", (doc["doc_id"],)).fetchall()
    assert [(r["part"], r["stage"]) for r in rows] == [("page 2", "clean")]
    assert rows[0]["reason"].startswith("quality.") and "page 2 dropped" in rows[0]["message"]
    signal = rows[0]["reason"].removeprefix("quality.")
    assert signal in rows[0]["message"]
    texts = " ".join(r["text"] for r in db.execute("SELECT text FROM chunks WHERE doc_id=?", (doc["doc_id"],)))
    assert "~#@" not in texts and "^^%$" not in texts


def test_a_document_in_another_language_is_quarantined(planted_run: dict[str, Any]) -> None:
    doc = _status(planted_run["db"], "german.txt")
    reject = planted_run["db"].execute("SELECT * FROM quarantine WHERE doc_id=?", (doc["doc_id"],)).fetchone()
    assert doc["status"] == "quarantined" and reject["reason"] == "language_not_allowed"
    assert "de" in reject["message"]


def _dataset_blob(data: Path) -> str:
    tables = [pq.read_table(p).to_pylist() for p in (data / "datasets").rglob("*.parquet")]
    assert tables, "no dataset files"
    return json.dumps([row | {"vector": None} for table in tables for row in table], default=str)


def test_no_planted_pii_value_reaches_qdrant_or_the_dataset(planted_run: dict[str, Any]) -> None:
    values = planted_run["pii"]
    payloads = json.dumps(list(qdrant_points(planted_run["data"]).values()))
    dataset = _dataset_blob(planted_run["data"])
    leaked = [(k, v) for k, v in values if v in payloads or v in dataset]
    assert not leaked, f"{len(leaked)} planted values leaked, e.g. {leaked[:5]}"
    assert "<EMAIL>" in payloads and "<IBAN>" in dataset


def test_pii_recall_from_the_run_counts(planted_run: dict[str, Any]) -> None:
    summary = planted_run["summary"]
    counts = summary["pii"]
    for kind in KINDS:
        assert counts.get(kind, 0) >= 0.99 * 200, f"{kind}: {counts.get(kind, 0)} of 200 found"
    manifest = json.loads(next((planted_run["data"] / "datasets").rglob("manifest.json")).read_text())
    assert manifest["pii_counts"] == {k: v for k, v in counts.items() if v}
    assert not any(v in json.dumps(manifest) for _, v in planted_run["pii"])


def test_quarantine_cli_lists_shows_and_replays(planted_run: dict[str, Any]) -> None:
    """Runs last: the replay changes the planted run's catalog."""
    from typer.testing import CliRunner

    from docmill.cli.main import app
    from flows.pipeline import pipeline

    config = str(planted_run["root"] / "docmill.yaml")
    runner = CliRunner()
    listed = runner.invoke(app, ["quarantine", "list", "--config", config, "--json"])
    assert listed.exit_code == 0, listed.output
    counts = {(c["stage"], c["reason"]): c for c in json.loads(listed.output)["counts"]}
    assert counts[("clean", "near_duplicate")]["documents"] == 2
    assert counts[("clean", "language_not_allowed")]["documents"] == 1
    assert sum(c["parts"] for c in counts.values()) == 1
    shown = runner.invoke(app, ["quarantine", "show", "german.txt", "--config", config])
    record = json.loads(shown.output)
    assert record["record"]["reason"] == "language_not_allowed" and record["document"]["status"] == "quarantined"
    assert [e["event"] for e in record["history"]][-1] == "document_quarantined"
    replayed = runner.invoke(app, ["quarantine", "replay", "--reason", "language", "--no-run", "--config", config])
    assert replayed.exit_code == 0 and "1 of 1 selected documents queued" in replayed.output
    assert _status(planted_run["db"], "german.txt")["status"] == "pending"
    summary = pipeline(config_path=config)
    assert summary["stages"]["extract"]["in"] == 1  # only the replayed document was processed again
    row = (
        planted_run["db"]
        .execute(
            "SELECT q.* FROM quarantine q JOIN sources s ON s.doc_id = q.doc_id WHERE s.source_uri LIKE '%/german.txt'"
        )
        .fetchone()
    )
    assert row["run_id"] == summary["run_id"] and row["reason"] == "language_not_allowed"
    events = [json.loads(line)["event"] for line in (planted_run["data"] / "audit" / "audit.jsonl").open()]
    assert "quarantine_replayed" in events
