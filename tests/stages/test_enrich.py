from pathlib import Path

from docmill.config.settings import ChunkConfig, EnrichConfig, PathRule
from docmill.stages.chunk import chunk
from docmill.stages.enrich import enrich, path_labels
from docmill.text.language import detect_language
from tests.helpers import cleaned, sources_of


def test_path_rules_first_match_wins() -> None:
    config = EnrichConfig(
        rules=[
            PathRule(pattern="**/finance/**", department="finance"),
            PathRule(pattern="**/*.csv", department="ops", category="table"),
        ]
    )
    assert path_labels("/srv/share/finance/q1.csv", config) == {"department": "finance"}
    assert path_labels("/srv/share/ops/list.csv", config) == {"department": "ops", "category": "table"}
    assert path_labels("/srv/share/misc.txt", config) == {}


def test_language_detection_on_real_documents(corpus_subset: Path, parser_pool) -> None:
    docs = {Path(d.source_uri).name: d for d in cleaned(corpus_subset, parser_pool)}
    assert detect_language(docs["fake-html-lang-de.html"].text) == "de"
    assert detect_language(docs["handbook-1p.docx"].text) == "en"
    assert detect_language("ok") == "und"


def test_chunks_carry_document_metadata(sample_corpus: Path, parser_pool, tokenizer) -> None:
    docs = cleaned(sample_corpus, parser_pool)
    chunks = chunk(docs, ChunkConfig(), tokenizer).records
    sources = {s.doc_id: s for s in sources_of(sample_corpus)}
    config = EnrichConfig(rules=[PathRule(pattern="**/finance/**", department="finance")])
    result = enrich(docs, chunks, sources, config, detect_language)
    by_file = {c.metadata["file_name"]: c.metadata for c in result.records}
    report = by_file["quarterly-report.pdf"]
    assert report["department"] == "finance" and report["title"] == "Quarterly Report"
    assert report["pages"] == 3 and report["created"] == "2025-03-01T09:00:00" and report["file_type"] == "pdf"
    assert report["sha256"] == next(s.doc_id for s in sources.values() if s.path.endswith("quarterly-report.pdf"))
    assert by_file["security-policy.docx"]["title"] == "Information Security Policy"
    assert "department" not in by_file["runbook.md"] and by_file["runbook.md"]["title"] == "Data Platform Runbook"
    assert all(m["file_mtime"] and m["language"] for m in by_file.values())
    assert {name for name, m in by_file.items() if m["language"] != "en"} == {"inventory.csv"}  # a table: und


def test_metadata_values_are_redacted_like_the_text() -> None:
    """With `clean.pii.mode: redact`, e-mail headers (`sent_from`, `sent_to`, `subject`), document properties
    (`author`, `title`) and connector metadata (SQL columns, mail thread ids) went into every chunk's payload and
    export raw: they are redacted like the text now (the catalog keeps the raw values for lineage)."""
    from docmill.config.settings import PiiConfig
    from docmill.records import Document, Element, SourceFile
    from docmill.stages.enrich import document_metadata
    from docmill.text.pii import Redactor

    names = Redactor(PiiConfig(mode="redact"), b"test-key")
    source = SourceFile(
        "mbox:///srv/mail/box.mbox/msg-1", "/tmp/staged/msg-1.eml", 10, 0.0, "d" * 64, ".eml",
        metadata={"message_id": "ann.lee@example.org", "owner_email": "bob.stone@example.com", "row": 7},
    )  # fmt: skip
    doc = Document(
        "d" * 64, source.source_uri, "eml", [Element("Body text.", "text")],
        metadata={
            "title": "Card 4111 1111 1111 1111 refund", "author": "carol.diaz@example.net",
            "sent_from": "ann.lee@example.org", "sent_to": ["bob.stone@example.com", "team"],
            "subject": "Call me on +1 415 555 0132", "created": "2024-03-01T10:00:00",
        },
    )  # fmt: skip
    meta = document_metadata(doc, source, EnrichConfig(detect_language=False), None, names)
    shown = repr(meta)
    for raw in ("ann.lee@", "bob.stone@", "carol.diaz@", "4111 1111", "555 0132"):
        assert raw not in shown, (raw, meta)
    assert meta["sent_to"][1] == "team" and meta["row"] == 7 and meta["created"] == "2024-03-01T10:00:00"
    assert meta["sent_from"] == "<EMAIL>" and meta["title"].endswith(" refund")  # a placeholder, the rest kept
    raw = document_metadata(doc, source, EnrichConfig(detect_language=False), None, None)
    assert raw["sent_from"] == "ann.lee@example.org"  # without a redactor (pii mode off) nothing changes
