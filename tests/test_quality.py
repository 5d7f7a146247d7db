"""Quality signals, header/footer stripping and e-mail reply splitting on generated and real documents."""

from __future__ import annotations

from pathlib import Path

import pytest

from docmill.config.settings import CleanConfig, QualityConfig
from docmill.records import Document, Element
from docmill.text.boilerplate import split_email, strip_headers_footers
from docmill.text.quality import failures, signals
from tests.helpers import clean_batch

PROSE = (
    "The finance team reviews supplier contracts before the end of each month and keeps the evidence in the "
    "shared register, so that auditors can trace every decision back to its approval."
)
PAGES = [
    "Procurement signs framework agreements with three vendors and reports the savings to the board.",
    "Every laptop is encrypted; lost devices are reported to the security desk within one hour.",
    "Travel above the daily allowance needs a written approval from the department head.",
    "Warehouse inventory is counted twice a year and differences are booked to a reserve account.",
    "New employees complete the privacy training in their first week and sign the handbook.",
    "Customer escalations go to the support lead, who answers within two working days.",
]
NOISE = "~#@ 1l|| ;;: ^^%$ ##@@ !!~~ ;;;; ,,,, ..-- :::: ==== ~~ @@ ^^ %% $$ &&"


def test_signals_of_prose_noise_and_tables() -> None:
    prose = signals(PROSE)
    assert (
        prose["word_count"] == len(PROSE.split())
        and prose["alpha_word_share"] == 1.0
        and prose["symbol_word_ratio"] == 0
    )
    assert not failures(prose, QualityConfig())
    noise = failures(signals(NOISE), QualityConfig())
    assert {f.signal for f in noise} >= {"alpha_word_share", "symbol_word_ratio"}
    assert str(noise[0]).startswith(noise[0].signal) and noise[0].reason == f"quality.{noise[0].signal}"
    figures = "| Year | Revenue | Margin |\n|---|---|---|\n| 2021 | 1,234.50 | 12% |\n| 2022 | 2,345.10 | 14% |"
    table = signals("", tables=figures)
    assert table["word_count"] == 9 and table["prose_words"] == 0 and not failures(table, QualityConfig())


def test_damage_and_repetition_signals() -> None:
    damaged = signals(PROSE + " \ufffd\ufffd\ufffd\ufffd\ufffd\ufffd \ue000\ue001")
    assert damaged["damaged_char_share"] > 0.02
    assert [f.signal for f in failures(damaged, QualityConfig())] == ["damaged_char_share"]
    repeated = signals("\n".join([PROSE] * 10))
    assert repeated["repeated_line_share"] == 1.0 and repeated["repeated_ngram_share"] == 1.0
    assert {f.signal for f in failures(repeated, QualityConfig())} == {"repeated_line_share", "repeated_ngram_share"}
    assert not failures(signals("Too short."), QualityConfig(min_words=1))  # ratios are not judged on two words
    assert [f.signal for f in failures(signals("Hi"), QualityConfig())] == ["word_count"]


def _paged(pages: int, header: str = "ACME Corp - Confidential") -> list[Element]:
    elements = []
    for page in range(1, pages + 1):
        elements += [
            Element(header, page=page, top=0.03, bottom=0.05),
            Element(PAGES[page - 1], page=page, top=0.2, bottom=0.5),
            Element(f"Page {page} of {pages}", page=page, top=0.95, bottom=0.97),
        ]
    return elements


def test_repeated_headers_footers_and_page_numbers_are_removed() -> None:
    kept, removed = strip_headers_footers(_paged(5), CleanConfig())
    assert removed == 10 and [e.text for e in kept] == PAGES[:5]
    few, none = strip_headers_footers(_paged(2), CleanConfig())  # too few pages to tell
    assert none == 0 and len(few) == 6
    doc = Document("a" * 64, "file:///a.pdf", "pdf", _paged(5))
    off = clean_batch([doc], CleanConfig(strip_headers_footers=False))
    assert "Confidential" in off.records[0].text


def test_a_line_on_a_minority_of_pages_stays() -> None:
    elements = _paged(6)
    for element in elements:
        if element.text.startswith("ACME") and element.page and element.page > 2:
            element.text = f"Chapter {element.page} heading text"  # differs on most pages: not a header
    kept, _ = strip_headers_footers(elements, CleanConfig())
    assert sum(e.text.startswith("ACME") for e in kept) == 2


EMAIL = [
    Element("Hi Bob,\nthe signed contract is attached."),
    Element("Thanks\n-- \nAlice Smith\nHead of Procurement"),
    Element("On Mon, 3 Mar 2025 at 10:00, Bob Jones <bob@example.com> wrote:\n> Can you send the contract?"),
    Element("> Regards, Bob"),
]


@pytest.mark.parametrize("mode", ["keep", "drop", "separate"])
def test_email_quotes_and_signatures(mode: str) -> None:
    elements = [Element(e.text, e.kind) for e in EMAIL]
    result, counts = split_email(elements, CleanConfig(email_quotes=mode))  # type: ignore[arg-type]
    kinds = [e.kind for e in result]
    if mode == "keep":
        assert result == elements and not counts
    elif mode == "drop":
        assert " ".join(e.text for e in result) == "Hi Bob,\nthe signed contract is attached. Thanks"
        assert counts == {"signature": 1, "quoted": 1}
    else:
        assert kinds == ["text", "text", "signature", "quoted"]  # consecutive quoted parts are one element
        assert result[2].text.startswith("--") and result[3].text.startswith("On Mon")


def test_separated_quotes_are_chunks_of_their_own(tokenizer) -> None:  # type: ignore[no-untyped-def]
    from docmill.config.settings import ChunkConfig
    from docmill.stages.chunk import chunk

    doc = Document("e" * 64, "file:///m.eml", "eml", [Element(e.text, e.kind) for e in EMAIL])
    cleaned = clean_batch([doc], CleanConfig()).records
    chunks = chunk(cleaned, ChunkConfig(), tokenizer, QualityConfig()).records
    parts = [(c.metadata.get("part"), c.text.split("\n")[0]) for c in chunks]
    assert parts == [
        (None, "Hi Bob,"),
        ("signature", "--"),
        ("quoted", "On Mon, 3 Mar 2025 at 10:00, Bob Jones <bob@example.com> wrote:"),
    ]


def test_noise_page_is_dropped_and_recorded(tmp_path: Path) -> None:
    pages = [Element(PAGES[0], page=1), Element(NOISE, page=2), Element(PAGES[1], page=3)]
    result = clean_batch([Document("n" * 64, "file:///n.pdf", "pdf", pages)], CleanConfig())
    assert "~#@" not in result.records[0].text
    (reject,) = result.rejects
    assert reject.part == "page 2" and reject.reason.startswith("quality.") and reject.message.startswith("page 2")
    assert not reject.whole_document and result.records[0].metadata["clean"]["pages_dropped"] == ["page 2"]
