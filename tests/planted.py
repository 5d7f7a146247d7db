"""Deterministic generator of valid PII values in varied realistic formats, and prose that embeds them.

Used by the PII unit tests and by end-to-end tests that check what reaches the dataset. Every value is valid:
Luhn and issuer prefix for cards, ISO 13616 mod-97 for IBANs, `phonenumbers.is_valid_number` for phones,
assignable SSNs. SSNs are always written with separators (`123-45-6789`, `123 45 6789`): bare nine-digit
SSNs are only detected after a cue such as "SSN", which `planted_document` provides for national ids anyway.
"""

from __future__ import annotations

import ipaddress
import random
import string
from collections.abc import Callable
from dataclasses import dataclass

import phonenumbers

KINDS = ("email", "phone", "iban", "credit_card", "national_id", "ip_address")

_FIRST = ["anna", "ben", "carla", "david", "eva", "farid", "grace", "hiro", "ines", "jonas", "kim", "lena", "mo"]
_LAST = ["schmidt", "miller", "dupont", "okafor", "nguyen", "garcia", "rossi", "kowalski", "smith", "berg"]
_DOMAINS = ["example.com", "mail.example.org", "corp.example.co.uk", "example.de", "eu.sales.example.net", "ex.io"]

# National significant number prefixes and lengths per region, filtered by is_valid_number.
_PHONE_PLANS = {
    "US": [(p, 7) for p in ("415", "212", "312", "617", "206", "303", "404", "512", "646", "718", "305", "919")],
    "GB": [("20", 8), ("161", 7), ("113", 7), ("131", 7), ("7700", 6), ("7911", 6), ("7400", 6)],
    "DE": [("30", 7), ("30", 8), ("89", 7), ("89", 8), ("40", 8), ("221", 7), ("151", 8), ("170", 7), ("160", 7)],
    "FR": [(p, 8) for p in ("1", "2", "3", "4", "5", "6", "7", "9")],
}
_IBAN_BBANS = {  # country: BBAN structure (n digits, a upper-case letters, c alphanumerics)
    "DE": "18n", "GB": "4a14n", "FR": "10n11c2n", "NL": "4a10n", "ES": "20n", "IT": "1a10n12c", "CH": "5n12c",
    "NO": "11n", "BE": "12n", "AT": "16n", "PL": "24n", "SE": "20n", "DK": "14n", "FI": "14n", "IE": "4a14n",
    "PT": "21n", "LU": "3n13c", "CZ": "20n",
}  # fmt: skip
_CARD_PLANS = [  # (prefix, length, grouping)
    ("4", 16, (4, 4, 4, 4)), ("4", 13, (4, 3, 3, 3)), ("51", 16, (4, 4, 4, 4)), ("55", 16, (4, 4, 4, 4)),
    ("2221", 16, (4, 4, 4, 4)), ("2720", 16, (4, 4, 4, 4)), ("34", 15, (4, 6, 5)), ("37", 15, (4, 6, 5)),
    ("6011", 16, (4, 4, 4, 4)), ("65", 16, (4, 4, 4, 4)), ("644", 16, (4, 4, 4, 4)), ("3530", 16, (4, 4, 4, 4)),
    ("36", 14, (4, 6, 4)), ("4", 19, (4, 4, 4, 4, 3)),
]  # fmt: skip


def _digits(rng: random.Random, count: int) -> str:
    return "".join(rng.choice(string.digits) for _ in range(count))


def _email(rng: random.Random) -> str:
    first, last, domain = rng.choice(_FIRST), rng.choice(_LAST), rng.choice(_DOMAINS)
    local = rng.choice(
        [f"{first}.{last}", f"{first}+{rng.choice(['news', 'tag1', 'x'])}", f"{first[0]}_{last}{rng.randint(1, 99)}",
         f"{first}-{last}", f"{last}.{first}.{rng.randint(10, 99)}"]
    )  # fmt: skip
    address = f"{local}@{domain}"
    return address.upper() if rng.random() < 0.15 else address


def _phone_number(rng: random.Random) -> tuple[str, phonenumbers.PhoneNumber]:
    region = rng.choice(list(_PHONE_PLANS))
    while True:
        prefix, rest = rng.choice(_PHONE_PLANS[region])
        number = phonenumbers.parse(prefix + _digits(rng, rest), region)
        if phonenumbers.is_valid_number(number):
            return region, number


def _phone(rng: random.Random) -> str:
    region, number = _phone_number(rng)
    fmt = phonenumbers.PhoneNumberFormat
    international = phonenumbers.format_number(number, fmt.INTERNATIONAL)
    national, e164 = (phonenumbers.format_number(number, f) for f in (fmt.NATIONAL, fmt.E164))
    styles = [international, national, e164]
    if region == "US":
        nsn = str(number.national_number)
        area, exchange, line = nsn[:3], nsn[3:6], nsn[6:]
        styles += [f"{area}-{exchange}-{line}", f"({area}) {exchange} {line}", f"{area}.{exchange}.{line}",
                   f"+1 ({area}) {exchange}-{line}", f"+1-{area}-{exchange}-{line}", nsn]  # fmt: skip
    else:  # 0049 30 901820, +49 (0)30 901820
        styles += ["00" + international[1:], f"+{number.country_code} (0){national[1:]}"]
    return rng.choice(styles)


def _iban(rng: random.Random) -> str:
    country = rng.choice(list(_IBAN_BBANS))
    bban, count = "", ""
    for char in _IBAN_BBANS[country]:
        if char.isdigit():
            count += char
            continue
        alphabet = {"n": string.digits, "a": string.ascii_uppercase, "c": string.digits + string.ascii_uppercase}[char]
        bban += "".join(rng.choice(alphabet) for _ in range(int(count)))
        count = ""
    check = 98 - int("".join(str(int(c, 36)) for c in bban + country + "00")) % 97
    compact = f"{country}{check:02d}{bban}"
    return compact if rng.random() < 0.4 else " ".join(compact[i : i + 4] for i in range(0, len(compact), 4))


def _luhn_complete(partial: str) -> str:
    for check in string.digits:
        total = 0
        for i, char in enumerate(reversed(partial + check)):
            value = int(char) * (2 if i % 2 else 1)
            total += value - 9 if value > 9 else value
        if total % 10 == 0:
            return partial + check
    raise AssertionError("unreachable")


def _card(rng: random.Random) -> str:
    prefix, length, grouping = rng.choice(_CARD_PLANS)
    number = _luhn_complete(prefix + _digits(rng, length - len(prefix) - 1))
    separator = rng.choice(["", " ", "-"])
    groups, pos = [], 0
    for size in grouping:
        groups.append(number[pos : pos + size])
        pos += size
    return separator.join(groups)


def _ssn(rng: random.Random) -> str:
    area = rng.choice([a for a in range(1, 900) if a != 666])
    separator = rng.choice(["-", "-", " "])
    return f"{area:03d}{separator}{rng.randint(1, 99):02d}{separator}{rng.randint(1, 9999):04d}"


def _ip(rng: random.Random) -> str:
    if rng.random() < 0.6:
        octets = [rng.randint(1, 223), rng.randint(0, 255), rng.randint(0, 255), rng.randint(1, 254)]
        return ".".join(map(str, octets))
    groups = [rng.randint(0, 0xFFFF) for _ in range(8)]
    if rng.random() < 0.5:  # a run of zero groups, written as "::" in the compressed form
        start = rng.randint(1, 5)
        groups[start : start + 2] = [0, 0]
    address = ipaddress.IPv6Address(":".join(f"{g:x}" for g in groups))
    text = rng.choice([address.compressed, address.exploded, str(address)])
    return text.upper() if rng.random() < 0.2 else text


_GENERATORS: dict[str, Callable[[random.Random], str]] = {
    "email": _email, "phone": _phone, "iban": _iban, "credit_card": _card, "national_id": _ssn, "ip_address": _ip,
}  # fmt: skip


def planted_pii(seed: int, per_type: int) -> list[tuple[str, str]]:
    """`per_type` valid values of every PII kind as (kind, value), in a deterministic, shuffled order."""
    rng = random.Random(seed)
    values = [(kind, _GENERATORS[kind](rng)) for kind in KINDS for _ in range(per_type)]
    rng.shuffle(values)
    return values


_TEMPLATES = {
    "email": ["Please write to {v} before Friday.", "Contact: {v}", "Questions go to <{v}>, not to me.",
              "She signed as \"{v}\".", "(cc {v})", "Mail {v}; the office is closed."],
    "phone": ["Call me at {v}.", "Tel: {v}", "You can reach the desk on {v}, any time.",
              "Mobile {v}; fax not available.", "Phone: {v} (after 5 pm)", "Ring {v} to confirm."],
    "iban": ["Please transfer the amount to IBAN {v}.", "Account: {v}", "IBAN {v}, BIC DEUTDEFFXXX.",
             "Refunds are paid to {v} within 14 days."],
    "credit_card": ["Card number {v}, expiry 09/27.", "Paid with card {v}.", "CC: {v}",
                    "The card ({v}) was declined twice."],
    "national_id": ["SSN {v}", "Social Security number: {v} on file.", "Her SSN is {v}.", "SSN: {v}; verified."],
    "ip_address": ["Login from {v} at 09:14.", "Server {v} responded.", "[{v}]", "IP address: {v}",
                   "host={v}, port 8443"],
}  # fmt: skip
_FILLER = [
    "The quarterly report is due on 2024-01-15 and covers 12 cost centres.",
    "Revenue grew by 4.5% to $1,234,567.89 compared with the previous year.",
    "Invoice INV-2024-000123 was paid on March 3, 2024 at 12:30:45.",
    "Order 88421 ships in 3 to 5 business days; see page 12 of 40.",
    "The team upgraded the library to version 1.2.3.4.5 last week.",
    "Reference ISBN 978-3-16-148410-0 for the handbook, second edition.",
    "Meeting notes: budget approved, headcount unchanged, next review in Q3.",
    "The warehouse holds 2,500 pallets and 17 forklifts across 3 sites.",
    "Temperatures ranged from 18.5 to 23.0 degrees during the test on 15.01.2024.",
    "Please read sections 4.2 and 7.1.3 before signing the contract.",
]


@dataclass(frozen=True)
class Planted:
    """A planted value and where it is in the document."""

    kind: str
    value: str
    start: int
    end: int


def planted_document(seed: int, per_type: int) -> tuple[str, list[Planted]]:
    """Prose with `planted_pii(seed, per_type)` embedded, one value per sentence, between filler sentences."""
    rng = random.Random(seed + 1)
    parts: list[str] = []
    planted: list[Planted] = []
    length = 0
    for kind, value in planted_pii(seed, per_type):
        before, after = rng.choice(_TEMPLATES[kind]).split("{v}")
        sentence = f"{rng.choice(_FILLER)} {before}"
        start = length + len(sentence)
        planted.append(Planted(kind, value, start, start + len(value)))
        sentence += value + after + ("\n" if rng.random() < 0.2 else " ")
        parts.append(sentence)
        length += len(sentence)
    return "".join(parts), planted
