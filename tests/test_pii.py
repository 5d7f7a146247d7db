"""PII detection and redaction on planted values in generated prose, and on look-alikes that are not PII."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import itertools
import os
import re
import stat
from collections import Counter
from pathlib import Path
from typing import Literal

import phonenumbers
import pytest

from docmill.config.settings import PiiConfig, Settings
from docmill.text.pii import NATIONAL_ID_DETECTORS, Finding, Redactor, find_pii, load_key, make_redactor
from tests.planted import KINDS, Planted, planted_document, planted_pii

KEY = b"test-key"
PER_TYPE = 200


@pytest.fixture(scope="module")
def planted() -> tuple[str, list[Planted], list[Finding]]:
    text, values = planted_document(seed=7, per_type=PER_TYPE)
    return text, values, find_pii(text, PiiConfig())


def _redactor(mode: Literal["off", "redact", "hash", "flag"]) -> Redactor:
    return Redactor(PiiConfig(mode=mode), KEY)


def test_planted_values_are_varied_and_deterministic() -> None:
    values = planted_pii(3, 50)
    assert values == planted_pii(3, 50)
    assert Counter(kind for kind, _ in values) == {kind: 50 for kind in KINDS}
    assert len({value for _, value in values}) > 290


def _valid_phone(value: str, region: str) -> bool:
    try:
        return phonenumbers.is_valid_number(phonenumbers.parse(value, region))
    except phonenumbers.NumberParseException:
        return False


def _valid_planted(kind: str, value: str) -> bool:
    compact = re.sub(r"[ -]", "", value)
    if kind == "phone":
        return any(_valid_phone(value, region) for region in ("US", "GB", "DE", "FR"))
    if kind == "iban":
        return int("".join(str(int(c, 36)) for c in compact[4:] + compact[:4])) % 97 == 1
    if kind == "credit_card":
        digits = [int(d) for d in reversed(compact)]
        return sum(d if i % 2 == 0 else (2 * d - 9 if d > 4 else 2 * d) for i, d in enumerate(digits)) % 10 == 0
    if kind == "national_id":
        area, group, serial = compact[:3], compact[3:5], compact[5:]
        return area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000"
    if kind == "ip_address":
        return bool(ipaddress.ip_address(value))
    return re.fullmatch(r"[\w.+-]+@[\w-]+(\.[\w-]+)*\.[A-Za-z]{2,}", value) is not None


def test_planted_values_are_valid() -> None:
    assert [(kind, value) for kind, value in planted_pii(11, 100) if not _valid_planted(kind, value)] == []


@pytest.mark.parametrize("kind", KINDS)
def test_recall_per_type(planted: tuple[str, list[Planted], list[Finding]], kind: str) -> None:
    _, values, findings = planted
    found = {(f.kind, f.start, f.end) for f in findings}
    missed = [p.value for p in values if p.kind == kind and (p.kind, p.start, p.end) not in found]
    recall = 1 - len(missed) / PER_TYPE
    assert recall >= 0.99, f"{kind} recall {recall:.3f}, missed: {missed}"


def test_no_findings_outside_planted_values(planted: tuple[str, list[Planted], list[Finding]]) -> None:
    text, values, findings = planted
    spans = {(p.start, p.end) for p in values}
    extra = [(f.kind, text[f.start : f.end]) for f in findings if (f.start, f.end) not in spans]
    assert extra == []


def test_findings_sorted_and_disjoint(planted: tuple[str, list[Planted], list[Finding]]) -> None:
    _, _, findings = planted
    assert all(a.end <= b.start for a, b in itertools.pairwise(findings))


def test_redact_removes_every_value(planted: tuple[str, list[Planted], list[Finding]]) -> None:
    text, values, _ = planted
    redacted, counts = _redactor("redact").apply(text)
    assert [p.value for p in values if p.value in redacted] == []
    assert sum(counts.values()) >= 0.99 * len(values)
    assert {"<EMAIL>", "<PHONE>", "<IBAN>", "<CREDIT_CARD>", "<NATIONAL_ID>", "<IP_ADDRESS>"} <= set(
        re.findall(r"<[A-Z_]+>", redacted)
    )


def test_redact_placeholders_in_place() -> None:
    text = "Mail Jane.Doe+news@Example.com or call 415-555-2671, card 4111 1111 1111 1111."
    redacted, counts = _redactor("redact").apply(text)
    assert redacted == "Mail <EMAIL> or call <PHONE>, card <CREDIT_CARD>."
    assert counts == Counter({"email": 1, "phone": 1, "credit_card": 1})


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("Jane.Doe@Example.com", "jane.doe@example.com"),
        ("+1 (415) 555-2671", "415.555.2671"),
        ("+44 20 7946 0958", "020 7946 0958"),
        ("0049 30 12345678", "+49 30 12345678"),
        ("DE89 3704 0044 0532 0130 00", "DE89370400440532013000"),
        ("4111-1111-1111-1111", "4111111111111111"),
        ("SSN 123-45-6789", "SSN 123 45 6789"),
        ("2001:0db8:0000:0000:0000:ff00:0042:8329", "2001:db8::ff00:42:8329"),
    ],
)
def test_hash_is_stable_across_texts_and_formats(first: str, second: str) -> None:
    redactor = _redactor("hash")
    one, _ = redactor.apply(f"Value: {first}.")
    two, _ = Redactor(PiiConfig(mode="hash"), KEY).apply(f"Another document mentions {second} here.")
    pseudonyms = re.findall(r"<[A-Z_]+:[0-9a-f]{8}>", one)
    assert len(pseudonyms) == 1
    assert pseudonyms == re.findall(r"<[A-Z_]+:[0-9a-f]{8}>", two)


def test_hash_pseudonym_is_hmac_of_kind_and_normalised_value() -> None:
    hashed, _ = _redactor("hash").apply("Call +1 415-555-2671 or mail Jane.Doe@Example.COM.")
    phone = hmac.new(KEY, b"phone:+14155552671", hashlib.sha256).hexdigest()[:8]
    email = hmac.new(KEY, b"email:jane.doe@example.com", hashlib.sha256).hexdigest()[:8]
    assert hashed == f"Call <PHONE:{phone}> or mail <EMAIL:{email}>."


def test_hash_differs_for_different_values_and_keys() -> None:
    text = "Write to a@example.com and b@example.com, or from 10.1.2.3 and 10.1.2.4."
    hashed, counts = _redactor("hash").apply(text)
    pseudonyms = re.findall(r"<(?:EMAIL|IP_ADDRESS):[0-9a-f]{8}>", hashed)
    assert len(set(pseudonyms)) == 4
    assert counts == Counter({"email": 2, "ip_address": 2})
    other_key, _ = Redactor(PiiConfig(mode="hash"), b"another key").apply(text)
    assert set(re.findall(r"<[A-Z_]+:[0-9a-f]{8}>", other_key)).isdisjoint(pseudonyms)


def test_flag_keeps_text_and_counts() -> None:
    text = "IBAN GB82 WEST 1234 5698 7654 32, SSN 123-45-6789, ip 192.168.10.20."
    flagged, counts = _redactor("flag").apply(text)
    assert flagged == text
    assert counts == Counter({"iban": 1, "national_id": 1, "ip_address": 1})


def test_off_finds_nothing(planted: tuple[str, list[Planted], list[Finding]]) -> None:
    text, _, _ = planted
    assert _redactor("off").apply(text) == (text, Counter())
    assert find_pii(text, PiiConfig(mode="off")) == []


def test_only_configured_types_and_specific_kind_wins() -> None:
    config = PiiConfig(types=["phone"])
    text = "Card 4111111111111111, SSN 123-45-6789, phone (415) 555-2671."
    assert [(f.kind, text[f.start : f.end]) for f in find_pii(text, config)] == [("phone", "(415) 555-2671")]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Her SSN: 123456789.", "123456789"),
        ("social security no. 078051120 on record", "078051120"),
        ("Write to john.smith@sub.mail.example.co.uk.", "john.smith@sub.mail.example.co.uk"),
        ("Server [2001:db8::1] and ::ffff:192.0.2.128 answered.", "2001:db8::1"),
        ("Amex 3782 822463 10005 was used.", "3782 822463 10005"),
        ("Call +33 1 42 68 53 00 now", "+33 1 42 68 53 00"),
        ("Call +49 30 901820.", "+49 30 901820"),
    ],
)
def test_formats_detected(text: str, expected: str) -> None:
    assert expected in [text[f.start : f.end] for f in find_pii(text, PiiConfig())]


@pytest.mark.parametrize(
    "text",
    [
        "The report is due on 2024-01-15, review on 15.01.2024 and 01/15/2024.",
        "Upgrade to version 1.2.3.4.5 or at least 1.2.3 before Friday.",
        "Firmware v2.10.3.4 fixes the bug.",
        "Invoice 2024-000123 and INV-2024-000123 are overdue.",
        "ISBN 978-3-16-148410-0 is the second edition.",
        "Total amount 1,234,567.89 EUR, or 1.234.567,89 EUR, or 1.000.000.000 in cents.",
        "Order ORD-20240115-4471 and order no. 4155552671 ship today.",
        "The number 4111 1111 1111 1112 fails the Luhn check.",
        "IBAN DE89 3704 0044 0532 0130 01 has a wrong check digit.",
        "SSN 000-12-3456, 666-12-3456, 912-34-5678, 123-00-4567 and 123-45-0000 are not assignable.",
        "The backup ran at 12:30:45 and again at 23:59:59.",
        "A bare 123456789 without a cue is not an SSN.",
        "Addresses 0.0.0.0, 127.0.0.1, 255.255.255.0 and ::1 are not personal.",
        "Contact abc123def456@ or @handle on the forum, mail at example dot com.",
        "Product code AB12CD34EF56 and serial X4111111111111111Y.",
        "Coordinates 48.8566, 2.3522 and section 3.1.4.1 of the spec.",
        "See section 3.10.12.1 and 4.2.1.7 Scope, then clause 12.4.10.2.",
        "Exhibit 2.3.59-48 (07-02-2001)\nCommand Code BMFOL\n2.3.59.9\nAny line marked with a #.",
        '"date_created": "1678441216.0", data-ad-client="ca-pub-4513545675701847"',
        "Readings: 1.5 3.25 12.75 and 0.125 per cent; lot 2024/0115/77.",
        "Network 10.1.0.0/16 and 192.168.0.0/24 are ranges, not hosts.",
        "EAN 4006381333931, GTIN 04006381333931, UPC 036000291452, routing 021000021.",
        "Employee ID 2023001234, customer 100234567, ref: 0301234567.",
        "0.296319737,-0.258395273,0.117750678,1678441216.0",
        "2024-01-15 12:30:45.123 INFO worker-3 processed batch 88421 in 0.042s",
        "   1647152    3104248\n   1686747    2307279\n",
    ],
)
def test_look_alikes_not_flagged(text: str) -> None:
    assert [(f.kind, text[f.start : f.end]) for f in find_pii(text, PiiConfig())] == []


def test_national_ids_are_configurable() -> None:
    text = "SSN 123-45-6789 and SSN: 123456789."
    assert set(NATIONAL_ID_DETECTORS) >= {"US"}
    assert [f.kind for f in find_pii(text, PiiConfig())] == ["national_id", "national_id"]
    assert find_pii(text, PiiConfig(national_ids=[])) == []


def test_cidr_host_and_bracketed_addresses_keep_their_suffix() -> None:
    redacted, counts = _redactor("redact").apply("Host 10.1.2.3/24 at [2001:db8::7]:8443.")
    assert redacted == "Host <IP_ADDRESS>/24 at [<IP_ADDRESS>]:8443."
    assert counts == Counter({"ip_address": 2})


def test_digit_dense_tables_hold_no_false_findings() -> None:
    # speed on prose and tables (and linear growth) is measured by benchmarks/pii_benchmark.py, not here
    table = "".join(f"{i * 7919 % 99999999:>10} {i * 104729 % 99999999999:>12}\n" for i in range(2000))
    assert find_pii(table, PiiConfig()) == []  # ten- and twelve-digit figures are neither phones nor cards


def test_load_key_from_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DOCMILL_TEST_PII_KEY", "s3cret-ключ")
    key_file = tmp_path / "pii.key"
    assert load_key("DOCMILL_TEST_PII_KEY", key_file) == "s3cret-ключ".encode()
    assert not key_file.exists()


def test_load_key_from_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("DOCMILL_TEST_PII_KEY", raising=False)
    key_file = tmp_path / "pii.key"
    key_file.write_text("abcdef0123\n")
    assert load_key("DOCMILL_TEST_PII_KEY", key_file) == b"abcdef0123"


def test_load_key_creates_private_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("DOCMILL_TEST_PII_KEY", raising=False)
    key_file = tmp_path / "secrets" / "nested" / "pii.key"
    key = load_key("DOCMILL_TEST_PII_KEY", key_file)
    assert re.fullmatch(rb"[0-9a-f]{64}", key)
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    assert load_key("DOCMILL_TEST_PII_KEY", key_file) == key
    assert load_key("DOCMILL_TEST_PII_KEY", tmp_path / "other.key") != key


def test_load_key_ignores_empty_env_and_rejects_empty_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DOCMILL_TEST_PII_KEY", "")
    key_file = tmp_path / "pii.key"
    key_file.write_text("from-file")
    assert load_key("DOCMILL_TEST_PII_KEY", key_file) == b"from-file"
    key_file.write_text("  \n")
    with pytest.raises(ValueError, match="empty"):
        load_key("DOCMILL_TEST_PII_KEY", key_file)


def test_make_redactor_loads_a_key_only_for_hash(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("DOCMILL_PII_KEY", raising=False)
    settings = Settings(paths={"data_dir": tmp_path}, clean={"pii": {"mode": "off"}})
    assert make_redactor(settings) is None
    settings = Settings(paths={"data_dir": tmp_path}, clean={"pii": {"mode": "redact"}})
    assert make_redactor(settings) is not None
    assert not (tmp_path / "secrets").exists()
    settings = Settings(paths={"data_dir": tmp_path}, clean={"pii": {"mode": "hash"}})
    redactor = make_redactor(settings)
    assert redactor is not None
    assert (tmp_path / "secrets" / "pii.key").exists()
    assert re.fullmatch(r"<EMAIL:[0-9a-f]{8}>", redactor.apply("a@example.com")[0])


@pytest.mark.parametrize(
    "text",
    [
        "2.3.59.9 Table of Screen Exhibits",  # outline numbering in the IRS manual of the shared corpus
        "Base 128 64,058 800.73 (484.11) N/A",  # table figures (pdf/single_table.pdf)
        "Virus Database: 270.4.10/1552 - Release Date: 14/07/2008",  # an antivirus footer in an e-mail
        "Data in Brief 22 (2019) 451-457",  # a citation: year and page range
    ],
)
def test_false_positives_found_on_the_shared_corpus_stay_unflagged(text: str) -> None:
    assert find_pii(text, PiiConfig()) == []


def test_small_dotted_quads_are_addresses_only_in_an_ip_context() -> None:
    for text, value in [("Login from 2.3.59.9 at noon", "2.3.59.9"), ("connect to 3.14.15.9:8080", "3.14.15.9")]:
        assert [text[f.start : f.end] for f in find_pii(text, PiiConfig())] == [value]


def test_names_and_organisations_with_the_local_ner_model_are_opt_in() -> None:
    text = "John Smith works at Acme Corporation in Boston; Maria Garcia signed for Siemens AG."
    assert find_pii(text, PiiConfig()) == []  # not in the default types
    config = PiiConfig(types=["email", "person", "organization"])
    found = {(f.kind, text[f.start : f.end]) for f in find_pii(text, config)}
    assert {("person", "John Smith"), ("person", "Maria Garcia"), ("organization", "Acme Corporation")} <= found
    redacted, counts = Redactor(PiiConfig(types=["person", "organization"], mode="redact"), b"").apply(text)
    assert "John Smith" not in redacted and "<PERSON>" in redacted and counts["person"] >= 2


def test_a_missing_ner_model_is_a_clear_error(tmp_path: Path) -> None:
    from docmill.text.pii.ner import NerModelMissing

    settings = Settings.model_validate(
        {"paths": {"data_dir": str(tmp_path)}, "clean": {"pii": {"types": ["person"], "ner_model": "xx_missing_sm"}}}
    )
    with pytest.raises(NerModelMissing, match=r"xx_missing_sm.*remove person/organization"):
        make_redactor(settings)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("invoice_jane.doe@example.com_2024.pdf", "invoice_<EMAIL>_2024.pdf"),
        ("/srv/share/jane.doe@example.com/notes.md", "/srv/share/<EMAIL>/notes.md"),
        ("tel_+442079460958.docx", "tel_<PHONE>.docx"),
        ("x/+1 202 555 0143 voicemail.txt", "x/<PHONE> voicemail.txt"),
        ("IBAN DE89370400440532013000.txt", "IBAN <IBAN>.txt"),
        ("card-4111-1111-1111-1111.txt", "card-<CREDIT_CARD>.txt"),
        ("SSN_123-45-6789.pdf", "SSN_<NATIONAL_ID>.pdf"),
        ("host_192.168.17.42_dump.log", "host_<IP_ADDRESS>_dump.log"),
        ("report_2024-01-15_v2.pdf", "report_2024-01-15_v2.pdf"),  # dates and versions are no PII
        ("release-1.2.3.4.tar.gz", "release-1.2.3.4.tar.gz"),
    ],
)
def test_pii_in_names_is_redacted(name: str, expected: str) -> None:
    assert Redactor(PiiConfig(mode="redact"), b"").name(name) == expected
    assert Redactor(PiiConfig(mode="flag"), b"").name(name) == name


def test_pii_in_uris_is_redacted_decoded_and_in_members() -> None:
    uri = (
        Path("/in box/jane.doe@example.com/IBAN DE89370400440532013000.zip").as_uri() + "!/card_4111 1111 1111 1111.txt"
    )
    redacted = Redactor(PiiConfig(mode="redact"), b"").uri(uri)
    assert redacted == "file:///in%20box/%3CEMAIL%3E/IBAN%20%3CIBAN%3E.zip!/card_<CREDIT_CARD>.txt"
    hashed = Redactor(PiiConfig(mode="hash"), b"k").uri(uri)
    assert hashed == Redactor(PiiConfig(mode="hash"), b"k").uri(uri) and "jane" not in hashed and "%3CEMAIL:" in hashed
    mail = "mbox:///srv/team.mbox/a@example.org"  # a connector's URI: its empty authority stays
    assert Redactor(PiiConfig(mode="redact"), b"").uri(mail) == "mbox:///srv/team.mbox/%3CEMAIL%3E"
    plain = Path("/in box/report.pdf").as_uri()
    assert Redactor(PiiConfig(mode="redact"), b"").uri(plain) == plain  # untouched when nothing is found


@pytest.mark.parametrize(
    "text",
    [
        "Patent 2125551234 was granted in 2010",
        "Application number 2124567890 was filed",
        "Library of Congress Control Number: 2124567890",
        "LCCN 2124567890; OCLC 6175551234",
        "approval no. 6175551234 granted",
        "patent_no: 3125551234; title: Widget",
        "Registration number 2125551234",
        "EP 2125551234 B1",
    ],
)
def test_long_digit_identifiers_are_not_phones(text: str) -> None:
    assert [text[f.start : f.end] for f in find_pii(text, PiiConfig()) if f.kind == "phone"] == []


def test_a_csv_column_is_redacted_alike_in_every_row(tmp_path: Path) -> None:
    """Valid-looking and invalid 10-digit values in one id column: all ids; the phone column stays phones."""
    from docmill.parsers import parse_file

    ids = ["2124567890", "2004012345", "6175551234", "9998887777", "4155550123", "1234509876"]
    phones = ["(212) 555-0147", "+44 20 7946 0958", "617-555-0199", "(415) 555-0134", "212 555 0188", "+1 646 555 0101"]
    rows = [f'"Item {i}",{ident},{phone}' for i, (ident, phone) in enumerate(zip(ids, phones, strict=True))]
    (tmp_path / "catalogue.csv").write_text("title,control number,phone\n" + "\n".join(rows) + "\n")
    elements = parse_file(tmp_path / "catalogue.csv", ".csv").elements[1:]
    flagged = [[e.text[f.start : f.end] for f in find_pii(e.text, PiiConfig()) if f.kind == "phone"] for e in elements]
    assert flagged == [[phone] for phone in phones]
