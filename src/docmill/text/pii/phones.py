"""Phone numbers: libphonenumber on small windows around runs of digits, minus ids, dates and decimals."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator

import phonenumbers

Span = tuple[int, int]

_PHONE_HINT = re.compile(r"\d(?:[ \t\u00a0().\-/]{0,3}\d){6,}")  # only runs of 7+ digits reach libphonenumber
_PHONE_HINT_NOISE = re.compile(
    r"(?:19|20)\d\d([-./])[01]?\d\1[0-3]?\d|[0-3]?\d([-./])[01]?\d\2(?:19|20)\d\d|^\d+[.,]\d+$"
)
_PHONE_NOT_PART = re.compile(r"[\[\]{}]|\((?=\+)")  # brackets that libphonenumber would take into a match
_GROUP_ZERO = re.compile(r"(?<!\d)0")
_SPACE_RUN = re.compile(r"\s\s|\t")
_PHONE_ID_CUE = re.compile(
    r"(?i)(?<![^\W_])(?:invoice|inv|order|ord|ref|reference|isbn|issn|doi|ean|gtin|upc|barcode|po|ticket|case|"
    r"serial|sku|part|item|article|account|acct|routing|aba|customer|contract|policy|employee|member|patient|id|"
    r"rechnung|bestellung|kd|kunde|facture|commande|patent|pat|application|appl|publication|pub|priority|"
    r"control|lccn|oclc|approval|authori[sz]ation|registration|reg|licen[cs]e|permit|certificate|cert|docket|"
    r"accession|tracking|batch|lot|receipt|transaction|txn|record|claim|voucher|nda|anda|zulassung|aktenzeichen)"
    r"(?![^\W_])[\W_]{0,4}(?:no\b\.?|nr\b\.?|number|num|id|#)?[\W_]{0,3}$"
)
# A patent publication's kind code after the number (EP 2125551234 B1, US 2019123456 A1).
_PATENT_KIND = re.compile(r"[ \t]?[ABCUTY][1-9]?\b")
# `label: value` (a CSV row, a record, a form): a bare digit run under a label that does not name a phone is an
# identifier in every row alike, whatever libphonenumber thinks of each value's digits.
_FIELD_LABEL = re.compile(r"(?:^|[;|\t\n,{])\s*([^:;|\t\n,={}]{1,40}?)\s*[:=]\s*[\"']?$")
_PHONE_LABEL = re.compile(
    r"(?i)phone|tel|fax|mobil|cell|contact|kontakt|call|hotline|ring|whatsapp|sms|handy|ruf|fernsprech|portable|"
    r"office|home|work|direct|main|desk|reception|switchboard|pager|emergency|landline|voice|numéro|num[eé]ro"
)
# Year-led ids (2024-000123), dates with a 4-digit year (06-24-2002), decimals (0.296319737, 1678441216.0).
_YEAR_IN_PARENS = re.compile(r"\((?:19|20)\d\d\)")
_PHONE_ID_SHAPE = re.compile(r"\(?(?:(?:19|20)\d\d[-./]|\d{1,2}([./-])\d{1,2}\1(?:19|20)\d\d(?!\d))|\d+[.,]\d+$")


def _phone_plausible(text: str, start: int, end: int) -> bool:
    """Word boundaries, one space at most between groups, and not an id, date or decimal number."""
    before, after = text[max(0, start - 2) : start], text[end : end + 2]
    if (before[-1:].isalnum()) or (len(before) == 2 and before[1] in "-/._" and before[0].isalnum()):
        return False
    if after[:1].isalnum() or (len(after) == 2 and after[0] in "-/._" and after[1].isalnum()):
        return False
    if len(before) == 2 and before[1] in ",." and before[0].isdigit():  # the tail of 64,058 or 1.500
        return False
    if _PHONE_ID_SHAPE.match(text, start, end) or _SPACE_RUN.search(text, start, end):
        return False
    value = text[start:end]
    if value.count(".") == 1 or ("." in value and "/" in value) or _YEAR_IN_PARENS.match(value):
        return False  # a decimal (800.73), a version (270.4.10/1552), a citation year ((2019) 451-457)
    if _PHONE_ID_CUE.search(text, max(0, start - 30), start) or _PATENT_KIND.match(text, end):
        return False
    label = _FIELD_LABEL.search(text, max(0, start - 60), start)
    return not (label and value.isdigit() and not _PHONE_LABEL.search(label.group(1)))


@functools.cache
def _trunk_prefix(region: str) -> str | None:
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)
    return metadata.national_prefix if metadata else None


def _phone_windows(text: str) -> Iterator[Span]:
    """Spans around runs of 7+ digits that are not just a date, a time stamp or a decimal number.

    Each run is matched on its own: libphonenumber's matcher is quadratic in the length of a digit-dense text.
    """
    for m in _PHONE_HINT.finditer(text):
        if sum(map(str.isdigit, _PHONE_HINT_NOISE.sub("", m.group()))) >= 7:
            yield max(0, m.start() - 4), m.end() + 2


def _match_phones(window: str, region: str) -> Iterator[Span]:
    """libphonenumber's matches, where a national number in GB, DE, FR (trunk prefix 0) starts with 0 and a
    North American one has 10 digits (not the 7-digit Canadian 310-xxxx service numbers)."""
    zero_trunk, nanp = _trunk_prefix(region) == "0", phonenumbers.country_code_for_region(region) == 1
    if "+" not in window and (
        (zero_trunk and not _GROUP_ZERO.search(window)) or (nanp and sum(map(str.isdigit, window)) < 10)
    ):
        return
    window = _PHONE_NOT_PART.sub(" ", window)  # same length: offsets stay valid
    for match in phonenumbers.PhoneNumberMatcher(window, region, leniency=phonenumbers.Leniency.VALID):
        raw = match.raw_string
        if (zero_trunk and raw.lstrip("(")[0] not in "+0") or (
            match.number.country_code == 1 and len(str(match.number.national_number)) != 10
        ):
            continue
        unbalanced = raw.count("(") > raw.count(")")  # "(800-919-0452)" matched from its opening bracket
        yield match.start + (unbalanced and raw[0] == "("), match.end


def find_phones(text: str, regions: list[str]) -> Iterator[Span]:
    """Spans of valid phone numbers (national formats tried per region, in order)."""
    seen: set[Span] = set()
    for w_start, w_end in _phone_windows(text):
        for region in regions or ["ZZ"]:
            for start, end in _match_phones(text[w_start:w_end], region):
                span = (w_start + start, w_start + end)
                if span not in seen and _phone_plausible(text, *span):
                    seen.add(span)
                    yield span
