"""Spreadsheet values as a reader sees them: Excel number format codes applied to numbers and dates.

Covers what business sheets use: `General`, fixed decimals, thousands separators, percentages, scientific
notation, currency and other literal text (`"EUR" #,##0.00`, `[$€-407]`), and date/time codes (`dd/mm/yyyy`,
`mmm d, yyyy`, `h:mm AM/PM`). A code outside that (fractions, conditions) falls back to `General`, which
never drops a digit a reader would see.
"""

from __future__ import annotations

import datetime as dt
import re

_LITERAL = re.compile(r'"([^"]*)"|\\(.)|\[\$([^-\]]*)[^\]]*\]|\[[^\]]*\]|_.|\*.')
_DATE_TOKENS = re.compile(r"yyyy|yy|mmmmm|mmmm|mmm|mm|m|dddd|ddd|dd|d|hh|h|ss|s|am/pm|a/p|\.0+", re.IGNORECASE)


def general(value: float) -> str:
    """Excel's `General`: integers without a decimal point, otherwise up to 10 significant digits."""
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.10g}"


def _literals(code: str) -> str:
    """Quoted text, escaped characters and `[$€-407]` currency kept; colours, conditions, padding dropped."""

    def keep(match: re.Match[str]) -> str:
        return match.group(1) or match.group(2) or match.group(3) or ""

    return _LITERAL.sub(keep, code)


def _number(value: float, code: str) -> str:
    code = _literals(code)
    if "general" in code.lower():  # `General" kg"`: the General rendering with literal text around it
        return re.sub("(?i)general", general(value), code, count=1)
    if "/" in code:  # fractions (`# ?/?`): not rendered here, General shows the same value
        return general(value)
    digits = re.search(r"[0#?][0#?,]*(\.[0#?]+)?(E[+-]0+)?%?", code, re.IGNORECASE)
    if not digits:
        return code if code.strip() else general(value)
    pattern = digits.group(0)
    decimals = len(digits.group(1)) - 1 if digits.group(1) else 0
    shown = value * 100 if "%" in code else value
    if "E" in pattern.upper():
        text = f"{shown:.{decimals}E}"
        mantissa, exponent = text.split("E")
        text = f"{mantissa}E{exponent[0]}{int(exponent[1:]):02d}"
    else:
        thousands = "," in pattern.split(".")[0].strip(",")
        text = f"{abs(shown):{',' if thousands else ''}.{decimals}f}"
        text = ("-" if shown < 0 and float(text.replace(",", "")) != 0 else "") + text
    return code[: digits.start()] + text + code[digits.end() :].replace("%", "") + ("%" if "%" in pattern else "")


def _date(value: dt.datetime | dt.date | dt.time, code: str) -> str:
    code = _literals(code)
    twelve = re.search(r"am/pm|a/p", code, re.IGNORECASE) is not None
    tokens = list(_DATE_TOKENS.finditer(code))
    stamp = value if isinstance(value, dt.datetime) else None
    out, last = [], 0
    for index, match in enumerate(tokens):
        out.append(code[last : match.start()])
        last = match.end()
        token = match.group(0).lower()
        previous = tokens[index - 1].group(0).lower() if index else ""
        following = tokens[index + 1].group(0).lower() if index + 1 < len(tokens) else ""
        minute = token in ("m", "mm") and (previous.startswith("h") or following.startswith("s"))
        out.append(_date_token(value, stamp, token, minute, twelve))
    out.append(code[last:])
    return "".join(out)


def _date_token(value: object, stamp: dt.datetime | None, token: str, minute: bool, twelve: bool) -> str:
    day = value if isinstance(value, (dt.date, dt.datetime)) else None
    clock = stamp.time() if stamp else value if isinstance(value, dt.time) else dt.time()
    if minute:
        return f"{clock.minute:0{len(token)}d}"
    if token.startswith("y") and day:
        return f"{day.year:04d}" if token == "yyyy" else f"{day.year % 100:02d}"
    if token.startswith("m") and day:
        return {1: str(day.month), 2: f"{day.month:02d}", 3: day.strftime("%b"), 4: day.strftime("%B")}.get(
            len(token), day.strftime("%b")[0]
        )
    if token.startswith("d") and day:
        return {1: str(day.day), 2: f"{day.day:02d}", 3: day.strftime("%a")}.get(len(token), day.strftime("%A"))
    if token.startswith("h"):
        hour = (clock.hour % 12 or 12) if twelve else clock.hour
        return f"{hour:0{len(token)}d}"
    if token.startswith("s"):
        return f"{clock.second:0{len(token)}d}"
    if token in ("am/pm", "a/p"):
        return ("AM" if clock.hour < 12 else "PM")[: 2 if token == "am/pm" else 1]
    if token.startswith("."):
        return f".{clock.microsecond:06d}"[: len(token)]
    return ""


def _iso(value: dt.datetime | dt.date | dt.time) -> str:
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat(sep=" ")
    return value.isoformat()


def shown(value: object, code: str | None) -> str:
    """A cell's value as the spreadsheet shows it, given its number format code."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    code = (code or "General").split(";")[0]
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        try:
            return _date(value, code) if _DATE_TOKENS.search(_literals(code)) else _iso(value)
        except (ValueError, OverflowError):
            return _iso(value)
    if isinstance(value, dt.timedelta):
        return str(value)
    if isinstance(value, (int, float)):
        if code.lower() in ("general", "@", ""):
            return general(value)
        try:
            return _number(float(value), code)
        except (ValueError, OverflowError):
            return general(value)
    return str(value)
