"""Text encodings from the bytes: BOMs, UTF-16/32 without BOM, UTF-8, EBCDIC (mainframe exports) and legacy
single-byte code pages (through charset-normalizer)."""

from __future__ import annotations

import codecs

_BOMS = [
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
]
# EBCDIC's space (0x40), letters, digits, common punctuation and line ends (NL 0x15, LF 0x25, CR 0x0D, TAB 0x05).
_EBCDIC_TEXT = frozenset(
    [
        *(0x40, 0x4B, 0x4D, 0x5D, 0x6B, 0x60, 0x61, 0x7A, 0x7D, 0x7F, 0x6F, 0x5A, 0x5C, 0x5E, 0x15, 0x25, 0x0D, 0x05),
        *range(0x81, 0x8A), *range(0x91, 0x9A), *range(0xA2, 0xAA),
        *range(0xC1, 0xCA), *range(0xD1, 0xDA), *range(0xE2, 0xEA), *range(0xF0, 0xFA),
    ]
)  # fmt: skip
# EBCDIC code pages charset-normalizer may choose between (US/Canada, international, German, euro variants).
_EBCDIC_PAGES = ["cp037", "cp500", "cp273", "cp1140"]
_CONTROLS = frozenset(range(0x20)) - {0x09, 0x0A, 0x0C, 0x0D}


def wide_encoding(sample: bytes) -> str | None:
    """UTF-16/32 without BOM: ASCII-range text leaves NUL bytes at fixed positions."""
    nulls = sample.count(0)
    if len(sample) < 4 or nulls < len(sample) // 4:
        return None
    if nulls >= len(sample) * 2 // 3:
        return "utf-32-be" if sample[0] == 0 else "utf-32-le"
    even = sample[0::2].count(0)
    return "utf-16-be" if even > nulls - even else "utf-16-le"


def is_ebcdic(sample: bytes) -> bool:
    """EBCDIC text: nearly every byte is an EBCDIC letter, digit, space or punctuation mark, and spaces (0x40,
    an `@` in ASCII) are frequent. ASCII and Latin-1 text fail both tests: their letters lie at 0x41-0x7A."""
    if len(sample) < 16:
        return False
    share = sum(byte in _EBCDIC_TEXT for byte in sample) / len(sample)
    return share >= 0.9 and sample.count(0x40) >= len(sample) * 0.05


def is_single_byte_text(sample: bytes) -> bool:
    """Text in a legacy single-byte code page (cp1252, Latin-1, KOI8 ...) or EBCDIC: almost no control bytes."""
    if not sample or b"\x00" in sample:
        return False
    return is_ebcdic(sample) or sum(byte in _CONTROLS for byte in sample) <= len(sample) * 0.01


def decode_bytes(data: bytes) -> tuple[str, str]:
    """Decode bytes to text, detecting BOMs, UTF-8, EBCDIC and legacy code pages. Returns (text, encoding)."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):  # a damaged or truncated file keeps its readable text (U+FFFD for the rest)
            return data.decode(encoding, errors="replace"), encoding
    wide = wide_encoding(data[:4096])
    if wide:
        return data.decode(wide, errors="replace"), wide
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    ebcdic = is_ebcdic(data[:4096])
    best = from_bytes(data, cp_isolation=_EBCDIC_PAGES if ebcdic else None).best()
    if best is not None and best.encoding:
        text, encoding = str(best), best.encoding
    else:
        encoding = "cp037" if ebcdic else "cp1252"
        text = data.decode(encoding, errors="replace")
    return (text.replace("\x85", "\n") if ebcdic else text), encoding  # EBCDIC's NL (0x15) decodes to U+0085
