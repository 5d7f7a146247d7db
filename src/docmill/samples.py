"""A small, deterministic sample corpus written by docmill itself (no third-party documents).

It covers what the demo must show: multi-page born-digital PDFs with a table, a DOCX with headings, a PPTX,
an HTML page, Markdown, an e-mail with an attachment, a CSV, a near-empty file, a corrupt PDF, two identical
files under different names, and text with e-mail addresses and phone numbers. Same bytes on every call.
"""

from __future__ import annotations

import io
import random
import zipfile
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path
from typing import Any

_SUBJECTS = [
    "The procurement team",
    "Every employee",
    "The data platform group",
    "Our regional office",
    "The security officer",
    "Each project lead",
    "The finance department",
    "The support desk",
]
_VERBS = ["reviews", "documents", "approves", "archives", "publishes", "audits", "reconciles", "schedules"]
_OBJECTS = [
    "supplier contracts",
    "quarterly budgets",
    "access requests",
    "incident reports",
    "training records",
    "travel expenses",
    "retention policies",
    "customer escalations",
]
_TAILS = [
    "before the end of each month.",
    "within five working days.",
    "according to the handbook.",
    "in the shared register.",
    "after a second review.",
    "with the compliance checklist.",
    "and keeps the evidence for seven years.",
    "so that auditors can trace every decision.",
]
FIXED_DATE = "D:20250301090000Z"
ZIP_TIME = (2025, 3, 1, 9, 0, 0)


def paragraphs(seed: int, count: int, sentences: int = 5) -> list[str]:
    """Deterministic realistic prose."""
    rng = random.Random(seed)
    return [
        " ".join(
            f"{rng.choice(_SUBJECTS)} {rng.choice(_VERBS)} {rng.choice(_OBJECTS)} {rng.choice(_TAILS)}"
            for _ in range(sentences)
        )
        for _ in range(count)
    ]


def _normalise_zip(data: bytes) -> bytes:
    """Rewrite a ZIP (DOCX/PPTX) with fixed timestamps so that its bytes are reproducible."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in sorted(src.infolist(), key=lambda i: i.filename != "[Content_Types].xml"):
            entry = zipfile.ZipInfo(info.filename, ZIP_TIME)
            entry.compress_type = zipfile.ZIP_DEFLATED
            dst.writestr(entry, src.read(info.filename))
    return out.getvalue()


def make_pdf(title: str, seed: int, pages: int, table: list[list[str]] | None = None) -> bytes:
    """A born-digital PDF with a heading and prose per page and, optionally, a ruled table on page 2."""
    import pymupdf

    doc = pymupdf.open()
    for number in range(1, pages + 1):
        page = doc.new_page()
        body = "".join(f"<p>{p}</p>" for p in paragraphs(seed * 100 + number, 3))
        page.insert_htmlbox(pymupdf.Rect(50, 50, 545, 560), f"<h1>{title}</h1><h2>Section {number}</h2>{body}")
        if table and number == 2:
            _draw_table(page, table, top=580)
    doc.set_metadata(
        {
            "title": title,
            "author": "docmill sample generator",
            "creationDate": FIXED_DATE,
            "modDate": FIXED_DATE,
            "producer": "docmill",
        }
    )
    return bytes(doc.tobytes(garbage=3, deflate=True, no_new_id=True))


def _draw_table(page: Any, rows: list[list[str]], top: float) -> None:
    """Cells with ruled borders (a grid of rectangles) and their text, as office suites print tables."""
    import pymupdf

    width = 495 / max(len(row) for row in rows)
    for r, row in enumerate(rows):
        for c, cell in enumerate(row):
            rect = pymupdf.Rect(50 + c * width, top + r * 22, 50 + (c + 1) * width, top + (r + 1) * 22)
            page.draw_rect(rect, color=(0, 0, 0), width=0.7)
            page.insert_text((rect.x0 + 4, rect.y1 - 7), cell, fontsize=10)


def make_docx(seed: int) -> bytes:
    """A DOCX with headings, paragraphs, a list and a table."""
    import datetime

    from docx import Document

    doc = Document()
    doc.core_properties.title = "Information Security Policy"
    doc.core_properties.created = doc.core_properties.modified = datetime.datetime(2025, 3, 1, 9, 0)
    doc.add_heading("Information Security Policy", 0)
    for number, text in enumerate(paragraphs(seed, 4), 1):
        doc.add_heading(f"{number}. Scope of rule {number}", 1)
        doc.add_paragraph(text)
    for item in ["Lock your screen", "Report phishing", "Use the password manager"]:
        doc.add_paragraph(item, style="List Bullet")
    table = doc.add_table(rows=3, cols=2)
    for r, row in enumerate([["Asset", "Owner"], ["Laptop", "IT"], ["Badge", "Facilities"]]):
        for c, value in enumerate(row):
            table.cell(r, c).text = value
    buffer = io.BytesIO()
    doc.save(buffer)
    return _normalise_zip(buffer.getvalue())


def make_pptx(seed: int) -> bytes:
    """A PPTX of three slides with titles, bullets and speaker notes."""
    from pptx import Presentation

    prs = Presentation()
    prs.core_properties.title = "Quarterly Review"
    for number, text in enumerate(paragraphs(seed, 3, 2), 1):
        slide = prs.slides.add_slide(prs.slide_layouts[1])
        slide.shapes.title.text = f"Quarterly review, part {number}"
        slide.placeholders[1].text = text
        slide.notes_slide.notes_text_frame.text = f"Speaker note {number}: mention the open actions."
    buffer = io.BytesIO()
    prs.save(buffer)
    return _normalise_zip(buffer.getvalue())


def make_html(seed: int) -> bytes:
    """An intranet page with navigation, a script, headings, a list and a table."""
    body = "".join(f"<h2>Topic {i}</h2><p>{p}</p>" for i, p in enumerate(paragraphs(seed, 3), 1))
    return (
        "<!DOCTYPE html><html lang='en'><head><title>Intranet: Travel Rules</title>"
        "<script>var tracking = 'ignore me';</script><style>body{font-family:sans-serif}</style></head>"
        "<body><nav><a href='/'>Home</a> | <a href='/hr'>HR</a></nav><h1>Travel Rules</h1>"
        f"{body}<ul><li>Book through the portal</li><li>Keep all receipts</li></ul>"
        "<table><tr><th>Class</th><th>Limit</th></tr><tr><td>Hotel</td><td>150 EUR</td></tr></table>"
        "</body></html>"
    ).encode()


def make_markdown(seed: int) -> bytes:
    """A Markdown runbook with headings, a list and a table."""
    parts = ["# Data Platform Runbook", ""]
    for number, text in enumerate(paragraphs(seed, 3), 1):
        parts += [f"## Step {number}", "", text, ""]
    parts += ["| Service | On call |", "|---|---|", "| ingest | team A |", "| search | team B |", ""]
    return "\n".join(parts).encode()


def make_email(seed: int) -> bytes:
    """An e-mail with a text body and a CSV attachment."""
    message = EmailMessage()
    message["From"] = "Dana Ops <dana.ops@example.com>"
    message["To"] = "all-staff@example.com"
    message["Subject"] = "Updated supplier list"
    message["Date"] = "Sat, 01 Mar 2025 09:00:00 +0000"
    message["Message-ID"] = "<sample-0001@example.com>"
    message.set_content("Hello all,\n\n" + "\n\n".join(paragraphs(seed, 2)) + "\n\nBest regards,\nDana")
    message.add_attachment(
        b"supplier,country\nAcme Tools,DE\nBolt & Nut,FR\n",
        maintype="text",
        subtype="csv",
        filename="suppliers.csv",
    )
    message.set_boundary("docmill-sample-boundary")
    return bytes(message)


def make_csv() -> bytes:
    """An inventory table."""
    rows = ["sku,item,warehouse,quantity"] + [
        f"SKU-{i:04d},Item {i},WH-{i % 3 + 1},{(i * 37) % 500}" for i in range(1, 41)
    ]
    return ("\n".join(rows) + "\n").encode()


def make_contacts() -> bytes:
    """Text with e-mail addresses and phone numbers (all fictitious)."""
    return (
        b"Escalation contacts\n\n"
        b"For payroll questions write to payroll@example.com or call +1 555 010 2030.\n"
        b"The facilities desk answers at facilities.desk@example.org, phone (555) 010-4477, every weekday.\n"
        b"Out of hours, the security officer is reachable at +44 20 7946 0958 or sec-officer@example.net.\n"
    )


def sample_files() -> dict[str, Callable[[], bytes]]:
    """Relative path -> generator of the file's bytes."""
    handbook = lambda: make_pdf("Employee Handbook", 1, 4, [["Leave type", "Days"], ["Annual", "25"], ["Sick", "10"]])  # noqa: E731
    return {
        "handbook.pdf": handbook,
        "archive/handbook-copy.pdf": handbook,
        "finance/quarterly-report.pdf": lambda: make_pdf(
            "Quarterly Report", 2, 3, [["Quarter", "Revenue"], ["Q1", "1.2M"], ["Q2", "1.4M"]]
        ),
        "policies/security-policy.docx": lambda: make_docx(3),
        "slides/quarterly-review.pptx": lambda: make_pptx(4),
        "intranet/travel-rules.html": lambda: make_html(5),
        "runbook.md": lambda: make_markdown(6),
        "mail/supplier-update.eml": lambda: make_email(7),
        "finance/inventory.csv": make_csv,
        "hr/contacts.txt": make_contacts,
        "notes/near-empty.txt": lambda: b"ok\n",
        "broken/corrupt.pdf": lambda: b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n\x00\xff garbage",
    }


def write_sample_corpus(target: Path) -> list[Path]:
    """Write the sample corpus into `target`; returns the written paths."""
    written = []
    for relative, make in sample_files().items():
        path = target / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(make())
        written.append(path)
    return written
