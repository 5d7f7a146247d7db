"""Detectors of structured PII: candidate spans, validated, overlaps resolved by specificity.

Detectors yield candidate spans that are then validated (ISO 13616 mod-97 and length, Luhn and issuer prefix,
SSN ranges, `ipaddress`, libphonenumber at leniency VALID); overlaps are resolved by specificity (e-mail > IBAN >
card > national id > IP > phone), then length. libphonenumber is the slow part, so it only sees small windows
around runs of 7+ digits that are not just dates or decimals. Detectors of unconfigured types still run (phone
excepted) so that, e.g., a card number is never reported as a phone number.

Known limitations (precision choices, documented in the tests):
- Phones: national formats are tried in the configured regions' order, so a number valid in two of them takes
  the first one's country code (also in its pseudonym); a national GB/DE/FR number must start with its trunk 0;
  libphonenumber rejects numbers it deems unassigned (e.g. some US 555 ranges); dates, year-led ids
  (2024-000123), decimals, numbers after id words (invoice, order, ISBN, customer, patent, application,
  control number, LCCN, approval, registration ...), patent numbers with a kind code (EP 2125551234 B1),
  bare digit runs under a `label:` that names no phone (a CSV column, a record field: the same verdict in
  every row) and space-padded table cells are not phones; other bare 10-digit numbers with a valid US area
  code are.
- IPv4: 0.0.0.0, 127.0.0.1, 255.x.x.x (broadcast, netmasks), networks in CIDR form (10.1.0.0/16), all-single-
  digit quads (outline numbering such as 3.1.4.1, and 8.8.8.8), quads after "version", "section" etc., and
  a.b.c.d when a.b.c also occurs alone in the text (numbering such as 2.3.59 / 2.3.59.9) are not flagged.
  IPv6: :: and ::1 are not flagged.
- Cards: separators are single spaces or dashes, the first group has 4 digits; an ungrouped 13-digit number
  that is a valid EAN-13 barcode is a card only after a word such as "card" or "Visa".
- IBANs: length and mod-97 are checked, not each country's BBAN structure.
- SSNs: nine bare digits count only within 20 characters after "SSN", "social security" or similar.

Size: one detector and its validator per PII type, side by side so a type reads in one place; names
(NER) are in `ner.py`, phone windows in `phones.py`.
"""

from __future__ import annotations

import bisect
import ipaddress
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from docmill.config.settings import PiiConfig
from docmill.text.pii.phones import Span, find_phones


@dataclass(frozen=True, slots=True)
class Finding:
    """One PII value: `text[start:end]` is a value of type `kind` (a `PiiConfig.types` value)."""

    kind: str
    start: int
    end: int


# Higher priority (lower number) wins an overlap; among equals the longer span wins.
_PRIORITY = {
    "email": 0, "iban": 1, "credit_card": 2, "national_id": 3, "ip_address": 4, "phone": 5, "person": 6,
    "organization": 7,
}  # fmt: skip

_EMAIL = re.compile(
    r"(?<![\w.%+-])[A-Za-z0-9][A-Za-z0-9._%+'-]{0,63}@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+"
    r"[A-Za-z]{2,24}(?![\w@-])"
)
_IBAN_START = re.compile(r"(?<![A-Za-z0-9])[A-Za-z]{2}\d{2}(?=[ -]?[A-Za-z0-9])")
_IBAN_LENGTHS = {
    entry[:2]: int(entry[2:])
    for entry in re.findall(
        r"\S+",
        "AD24 AE23 AL28 AT20 AZ28 BA20 BE16 BG22 BH22 BR29 BY28 CH21 CR22 CY28 CZ24 DE22 DK18 DO28 EE20 EG29 "
        "ES24 FI18 FO18 FR27 GB22 GE22 GI23 GL18 GR27 GT28 HR21 HU28 IE22 IL23 IQ23 IS26 IT27 JO30 KW30 KZ20 "
        "LB28 LC32 LI21 LT20 LU20 LV21 MC27 MD24 ME22 MK19 MR27 MT31 MU30 NL18 NO15 PK24 PL28 PS29 PT25 QA29 "
        "RO24 RS22 SA24 SC31 SE24 SI19 SK24 SM27 ST25 SV28 TL23 TN24 TR26 UA29 VA22 VG24 XK20",
    )
}
_CARD = re.compile(r"(?<![\w+])(?<!\w[-./])(?<!\d[,:])\d[\d -]{11,26}\d(?!\w|[.,/:-]\d)")
_CARD_CUE = re.compile(r"(?i)\b(?:card|visa|master\s?card|amex|cc|credit|debit|karte|carte|tarjeta)\b")
# Issuer identification numbers: (lowest prefix, highest prefix, min length, max length) for Visa, Mastercard,
# Amex, Discover, Diners Club, JCB, UnionPay, Mir and Maestro.
_CARD_IINS = [
    (low, high, int(min_len), int(max_len))
    for low, high, min_len, max_len in re.findall(
        r"(\d+)-(\d+):(\d+)-(\d+)",
        "4-4:13-19 51-55:16-16 2221-2720:16-16 34-34:15-15 37-37:15-15 6011-6011:16-19 644-649:16-19 65-65:16-19 "
        "300-305:14-19 36-36:14-19 38-39:16-19 3528-3589:16-19 62-62:16-19 2200-2204:16-16 50-50:13-19 "
        "56-58:13-19 6304-6304:13-19 6759-6759:13-19 6761-6763:13-19",
    )
]
_SSN = re.compile(r"(?<![\w-])(?<!\d[.,/])(\d{3})([- ])(\d{2})\2(\d{4})(?!\w|[-.,/]\d)")
_SSN_BARE = re.compile(r"(?<![\w-])(?<!\d[.,/])(\d{3})(\d{2})(\d{4})(?!\w|[-.,/]\d)")
_SSN_CUE = re.compile(r"(?i)(?:\bssn|\bss\s?#|\bsocial[\s-]+security|\bsoc\.?\s?sec)")
_DOTTED3 = re.compile(r"(?<![\w.])\d{1,3}\.\d{1,3}\.\d{1,3}(?!\w|\.\w)")
_IPV4 = re.compile(r"(?<![\w.])(?<!\d,)(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})(?!\w|\.\d)(?:/(\d{1,2})\b)?")
_IPV6 = re.compile(
    r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:\d{1,3}(?:\.\d{1,3}){3}|[0-9A-Fa-f]{1,4}|(?<=::))(?![\w:]|\.\d)"
)
_NOT_IP_CUE = re.compile(
    r"(?i)\b(?:version|ver|release|build|firmware|v|section|sec|chapter|clause|article|para|paragraph|appendix|"
    r"figure|fig|table|item|no|nr)\.?\s*$|§\s*$"
)
_NOT_IP = frozenset(ipaddress.ip_address(a) for a in ("0.0.0.0", "127.0.0.1", "255.255.255.255", "::", "::1"))
_IP_CUE = re.compile(
    r"(?i)\b(?:ip|ipv4|address|addr|host|hostname|server|from|gateway|dns|ping|ssh|connect(?:ed|ion)?|login|"
    r"client|proxy|router|peer|source|src|dst|destination|remote|origin)\b"
)


def _ssn_valid(area: str, group: str, serial: str) -> bool:
    return area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000"


def _find_us_ssn(text: str) -> Iterator[Span]:
    for m in _SSN.finditer(text):
        if _ssn_valid(m.group(1), m.group(3), m.group(4)):
            yield m.span()
    for m in _SSN_BARE.finditer(text):
        cues = _SSN_CUE.finditer(text, max(0, m.start() - 40), m.start())
        if any(m.start() - cue.end() <= 20 for cue in cues) and _ssn_valid(*m.groups()):
            yield m.span()


# Country code -> detector of that country's national ids; add countries here (and to PiiConfig.national_ids).
NATIONAL_ID_DETECTORS: dict[str, Callable[[str], Iterator[Span]]] = {"US": _find_us_ssn}


def _find_email(text: str) -> Iterator[Span]:
    if "@" in text:
        yield from (m.span() for m in _EMAIL.finditer(text))


def _iban_valid(compact: str) -> bool:
    rearranged = compact[4:] + compact[:4]
    return int("".join(str(int(c, 36)) for c in rearranged)) % 97 == 1


def _find_iban(text: str) -> Iterator[Span]:
    for m in _IBAN_START.finditer(text):
        length = _IBAN_LENGTHS.get(m.group()[:2].upper())
        if length is None:
            continue
        chars, pos = list(m.group().upper()), m.end()
        while len(chars) < length and pos < len(text):
            step = 2 if text[pos] in " -" else 1
            if pos + step > len(text) or not text[pos + step - 1].isascii() or not text[pos + step - 1].isalnum():
                break
            chars.append(text[pos + step - 1].upper())
            pos += step
        if len(chars) == length and not (pos < len(text) and text[pos].isalnum()) and _iban_valid("".join(chars)):
            yield m.start(), pos


def _luhn_valid(digits: str) -> bool:
    total = 0
    for i, char in enumerate(reversed(digits)):
        value = int(char) * (2 if i % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def _card_valid(digits: str) -> bool:
    if not 13 <= len(digits) <= 19 or not _luhn_valid(digits):
        return False
    return any(
        int(low) <= int(digits[: len(low)]) <= int(high) and min_len <= len(digits) <= max_len
        for low, high, min_len, max_len in _CARD_IINS
    )


def _gtin_valid(digits: str) -> bool:
    return sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(reversed(digits))) % 10 == 0


def _card_groups_end(digits: list[str], seps: list[str], first: int, cued: bool) -> int | None:
    """Index after the last digit group of the longest valid card number starting at group `first`."""
    for stop in range(len(digits), first, -1):
        used = seps[first : stop - 1]
        if used and (len(set(used)) > 1 or len(used[0]) > 1 or len(digits[first]) != 4):
            continue
        if not cued and stop - first == 1 and len(digits[first]) == 13 and _gtin_valid(digits[first]):
            continue  # an EAN-13 barcode rather than a 13-digit card, unless the text says "card"
        if all(3 <= len(g) <= 6 for g in digits[first + 1 : stop]) and _card_valid("".join(digits[first:stop])):
            return stop
    return None


def _find_card(text: str) -> Iterator[Span]:
    for m in _CARD.finditer(text):
        groups = re.split(r"([ -]+)", m.group())
        offsets = [m.start() + sum(map(len, groups[:i])) for i in range(len(groups) + 1)]
        digits, seps, first = groups[0::2], groups[1::2], 0
        while first < len(digits):
            cued = bool(_CARD_CUE.search(text, max(0, offsets[2 * first] - 25), offsets[2 * first]))
            stop = _card_groups_end(digits, seps, first, cued)
            if stop is None:
                first += 1
                continue
            yield offsets[2 * first], offsets[2 * stop - 1]
            first = stop


def _ipv4_ok(octets: tuple[str, ...]) -> bool:
    if any(int(o) > 255 for o in octets):
        return False
    if all(len(o) == 1 for o in octets):  # outline numbering (3.1.4.1) or public DNS (8.8.8.8), not personal
        return False
    padded = any(len(o) > 1 and o[0] == "0" for o in octets)
    return not padded or all(len(o) == 3 for o in octets)


def _find_ipv4(text: str) -> Iterator[Span]:
    outline: set[str] | None = None  # three-part numbers (2.3.59): then 2.3.59.9 is a section, not an address
    for m in _IPV4.finditer(text):
        octets = m.groups()[:4]
        if not _ipv4_ok(octets) or _NOT_IP_CUE.search(text, max(0, m.start() - 12), m.start()):
            continue
        address = ipaddress.IPv4Address(".".join(str(int(o)) for o in octets))
        prefix = int(m.group(5) or 32)  # a network (10.1.0.0/16) is not a person's address
        if address in _NOT_IP or octets[0] == "255" or (prefix < 32 and int(address) % (1 << (32 - prefix)) == 0):
            continue
        if outline is None:
            outline = {d.group() for d in _DOTTED3.finditer(text)}
        if ".".join(octets[:3]) in outline or (_outline_shape(octets) and not _ip_context(text, m)):
            continue
        yield m.start(), m.end(4)


def _outline_shape(octets: tuple[str, ...]) -> bool:
    """Small numbers throughout (2.3.59.9): section numbering unless the context says it is an address."""
    return int(octets[0]) < 10 and all(int(o) < 100 for o in octets)


def _ip_context(text: str, match: re.Match[str]) -> bool:
    """An IP cue word shortly before, or a port or prefix right after."""
    after = text[match.end(4) : match.end(4) + 2]
    return (
        bool(match.group(5))
        or (after[:1] == ":" and after[1:].isdigit())
        or bool(_IP_CUE.search(text, max(0, match.start() - 40), match.start()))
    )


def _find_ip(text: str) -> Iterator[Span]:
    yield from _find_ipv4(text)
    if ":" not in text:
        return
    for m in _IPV6.finditer(text):
        try:
            address6 = ipaddress.IPv6Address(m.group())
        except ValueError:
            continue
        if address6 not in _NOT_IP and any(c.isdigit() for c in m.group()):
            yield m.span()


def _candidates(text: str, config: PiiConfig) -> Iterator[Finding]:
    detectors: list[tuple[str, Iterable[Span]]] = [
        ("email", _find_email(text)),
        ("iban", _find_iban(text)),
        ("credit_card", _find_card(text)),
        ("ip_address", _find_ip(text)),
    ]
    detectors += [("national_id", NATIONAL_ID_DETECTORS[country](text)) for country in config.national_ids]
    if "phone" in config.types:
        detectors.append(("phone", find_phones(text, config.phone_regions)))
    for kind, spans in detectors:
        yield from (Finding(kind, start, end) for start, end in spans)
    names = {"person", "organization"} & set(config.types)
    if names:
        from docmill.text.pii.ner import find_names

        yield from (Finding(kind, start, end) for kind, (start, end) in find_names(text, names, config.ner_model))


def _resolve(candidates: Iterable[Finding]) -> list[Finding]:
    """Keep non-overlapping findings, most specific kind first, then longest, then leftmost."""
    starts: list[int] = []
    kept: list[Finding] = []
    for finding in sorted(candidates, key=lambda f: (_PRIORITY[f.kind], f.start - f.end, f.start)):
        i = bisect.bisect_left(starts, finding.start)
        if (i > 0 and kept[i - 1].end > finding.start) or (i < len(kept) and kept[i].start < finding.end):
            continue
        starts.insert(i, finding.start)
        kept.insert(i, finding)
    return kept


def find_pii(text: str, config: PiiConfig) -> list[Finding]:
    """Find PII values of the configured types.

    Args:
        text: Any text.
        config: Types, national id countries and phone regions to detect; mode `off` finds nothing.

    Returns:
        Sorted, non-overlapping findings (overlaps resolved: the more specific kind, then the longer span wins).
    """
    if config.mode == "off" or not config.types:
        return []
    wanted = set(config.types)
    return [f for f in _resolve(_candidates(text, config)) if f.kind in wanted]


# In a file or folder name, `_` separates words, and so do the extension's dot and a `-` or `.` between a word
# and a number (`card-4111...`, `tel.+44...`); same-length replacements keep offsets.
_NAME_EXTENSION = re.compile(r"\.(?=[A-Za-z][A-Za-z0-9]{0,5}$)")
_NAME_JOINER = re.compile(r"(?<=[A-Za-z])[-.](?=[+(]?\d)")


def find_pii_in_name(name: str, config: PiiConfig) -> list[Finding]:
    """Find PII in one file, folder, archive-member or attachment name (no `/`): `find_pii` over the
    name read with its separators as spaces, with and without the extension (an e-mail address as a folder name
    ends in `.com`, a phone number as a file name is followed by `.pdf`), overlaps resolved as in `find_pii`."""
    spaced = name.replace("_", " ")
    views = {spaced, _NAME_JOINER.sub(" ", _NAME_EXTENSION.sub(" ", spaced))}
    return _resolve(f for view in views for f in find_pii(view, config))
