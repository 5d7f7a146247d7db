"""The labels Word shows before numbered paragraphs (`1)`, `a.`, `(ii)`, `2.1`), from the numbering part.

They are text a reader sees and cites ("see clause 4(b)"); python-docx gives a paragraph's runs only. Counters
follow Word: paragraphs of every `w:num` that shares an abstract numbering continue one list, a level restarts
when a shallower one advances, and a `w:startOverride` restarts a level for its `w:num`. Bullets give no
label (a glyph, not a word); neither do formats docmill does not spell (they are rare in documents). Body
paragraphs are labelled (numbered paragraphs inside tables, text boxes and notes are not counted).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
_ROMAN = [(1000, "m"), (900, "cm"), (500, "d"), (400, "cd"), (100, "c"), (90, "xc"), (50, "l"), (40, "xl"),
          (10, "x"), (9, "ix"), (5, "v"), (4, "iv"), (1, "i")]  # fmt: skip


def _roman(n: int) -> str:
    out = ""
    for value, letters in _ROMAN:
        while n >= value:
            out, n = out + letters, n - value
    return out


def _letters(n: int) -> str:
    """Word's letter numbering: a..z, then aa..zz, aaa.. (the letter repeated)."""
    return chr(ord("a") + (n - 1) % 26) * ((n - 1) // 26 + 1) if n > 0 else ""


_FORMATS: dict[str, Callable[[int], str]] = {
    "decimal": str,
    "decimalZero": lambda n: f"{n:02d}",
    "lowerLetter": _letters,
    "upperLetter": lambda n: _letters(n).upper(),
    "lowerRoman": _roman,
    "upperRoman": lambda n: _roman(n).upper(),
}


def _val(element: Any, path: str, default: str = "") -> str:
    found = element.find(path.replace("w:", f"{{{W}}}"))
    return found.get(f"{{{W}}}val", default) if found is not None else default


class Numbering:
    """The numbering definitions of one document and the counters of its lists, in reading order."""

    def __init__(self, numbering_xml: Any | None) -> None:
        self._levels: dict[str, dict[int, tuple[int, str, str]]] = {}  # abstract id -> ilvl -> (start, fmt, text)
        self._nums: dict[str, tuple[str, dict[int, int]]] = {}  # numId -> (abstract id, start overrides)
        self._counters: dict[str, list[int | None]] = {}
        self._started: set[str] = set()
        if numbering_xml is None:
            return
        for abstract in numbering_xml.iter(f"{{{W}}}abstractNum"):
            levels = self._levels.setdefault(abstract.get(f"{{{W}}}abstractNumId", ""), {})
            for lvl in abstract.iter(f"{{{W}}}lvl"):
                start = int(_val(lvl, "w:start", "1") or 1)
                fmt = _val(lvl, "w:numFmt", "decimal") or "decimal"
                levels[int(lvl.get(f"{{{W}}}ilvl", "0"))] = (start, fmt, _val(lvl, "w:lvlText"))
        for num in numbering_xml.iter(f"{{{W}}}num"):
            overrides = {
                int(o.get(f"{{{W}}}ilvl", "0")): int(_val(o, "w:startOverride"))
                for o in num.iter(f"{{{W}}}lvlOverride")
                if _val(o, "w:startOverride").isdigit()
            }
            self._nums[num.get(f"{{{W}}}numId", "")] = (_val(num, "w:abstractNumId"), overrides)

    def label(self, num_id: str, ilvl: int) -> str:
        """Advance the list of `num_id` at level `ilvl` and return the label Word shows ('' for bullets)."""
        if num_id not in self._nums or num_id == "0":
            return ""
        abstract, overrides = self._nums[num_id]
        levels = self._levels.get(abstract, {})
        counters = self._counters.setdefault(abstract, [None] * 9)
        if num_id not in self._started:  # a restarted list: its overridden levels begin again
            self._started.add(num_id)
            for level in overrides:
                if 0 <= level < 9:
                    counters[level] = None
        ilvl = min(max(ilvl, 0), 8)

        def start(level: int) -> int:
            return overrides.get(level, levels.get(level, (1, "", ""))[0])

        current = counters[ilvl]
        counters[ilvl] = start(ilvl) if current is None else current + 1
        counters[ilvl + 1 :] = [None] * (8 - ilvl)
        _, fmt, text = levels.get(ilvl, (1, "", ""))
        if fmt not in _FORMATS or not text:
            return ""
        for level in range(ilvl + 1):
            counted = counters[level]
            value = counted if counted is not None else start(level)
            spelled = _FORMATS.get(levels.get(level, (1, "decimal", ""))[1], str)(value)
            text = text.replace(f"%{level + 1}", spelled)
        return text.strip()

    def paragraph_label(self, p: Any, style_numbering: Callable[[], tuple[str, int] | None]) -> str:
        """The label of a `w:p` (its own `w:numPr`, else its style's, asked only then), advancing its list."""
        if not self._nums:
            return ""
        num_pr = p.find(f"{{{W}}}pPr/{{{W}}}numPr")
        if num_pr is not None:
            num_id = _val(num_pr, "w:numId")
            return self.label(num_id, int(_val(num_pr, "w:ilvl", "0") or 0))
        by_style = style_numbering()
        return self.label(*by_style) if by_style else ""
