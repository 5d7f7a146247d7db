"""Quality signals of a text (Gopher-style heuristics) and the checks that turn them into quarantine reasons.

Words are whitespace-separated tokens without Markdown table pipes and rules. Numbers (amounts, dates,
codes) count as words but are neutral in `alpha_word_share`, so a table of figures is not mistaken for
OCR noise, while `~#@ 1l|| ;;:` still is.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from docmill.config.settings import QualityConfig

_WORD = re.compile(r"[^\s|]+")
_RULE = re.compile(r"^[-:=+]+$")
_NUMBER = re.compile(r"^[(+\-\u2212$€£¥]?[\d.,:/%'\-\u2212]*\d[\d.,:/%'\-\u2212)]*[a-zA-Z%]{0,3}$")
# replacement character, C0/C1 controls (not tab/newline), private-use areas: OCR or encoding damage
_DAMAGED = re.compile("[\ufffd\x00-\x08\x0b-\x1f\x7f-\x9f\ue000-\uf8ff\U000f0000-\U0010ffff]")
_SYMBOLS = re.compile(r"#+|\.{3,}|…+")  # a run (a dot leader, a row of hashes) counts once
_LINK = re.compile(r"://|^www\.|@\w")
_NGRAM = 5

# Signals every scope computes; documents additionally get word_count and the repetition signals.
LOCAL_SIGNALS = ("mean_word_length", "symbol_word_ratio", "alpha_word_share", "damaged_char_share")


@dataclass(frozen=True, slots=True)
class Failure:
    """A signal outside its bounds: `quality.<signal>` is the quarantine reason."""

    signal: str
    value: float
    bound: str

    @property
    def reason(self) -> str:
        """Quarantine reason code."""
        return f"quality.{self.signal}"

    def __str__(self) -> str:
        return f"{self.signal} {self.value:.3g} {self.bound}"


def _has_letter(token: str) -> bool:
    return token.isalpha() or any(map(str.isalpha, token))


def words(text: str) -> list[str]:
    """The tokens quality signals count (no table pipes or Markdown rules)."""
    return [w for w in _WORD.findall(text) if not _RULE.match(w)]


def _repeated_line_share(text: str) -> float:
    lines = [line.strip() for line in text.split("\n") if line.strip() and not _RULE.match(line.strip("| "))]
    counts = Counter(lines)
    total = sum(len(line) for line in lines)
    repeated = sum(len(line) * n for line, n in counts.items() if n > 1)
    return repeated / total if total else 0.0


def _repeated_ngram_share(tokens: list[str]) -> float:
    """Share of word characters covered by word n-grams that occur more than once (Gopher's dup n-gram frac)."""
    if len(tokens) < _NGRAM * 2:
        return 0.0
    lowered = [t.casefold() for t in tokens]
    grams = [tuple(lowered[i : i + _NGRAM]) for i in range(len(lowered) - _NGRAM + 1)]
    counts = Counter(grams)
    covered = [False] * len(tokens)
    for i, gram in enumerate(grams):
        if counts[gram] > 1:
            covered[i : i + _NGRAM] = [True] * _NGRAM
    total = sum(len(t) for t in tokens)
    return sum(len(t) for t, c in zip(tokens, covered, strict=True) if c) / total if total else 0.0


def damaged_share(text: str) -> float:
    """Share of characters that signal OCR or encoding damage."""
    return round(len(_DAMAGED.findall(text)) / len(text), 4) if text else 0.0


def signals(text: str, document: bool = True, tables: str = "") -> dict[str, float]:
    """Quality signals of a text's prose; `tables` (Markdown/HTML tables of the same text) only count for
    damage, since word shapes of figures and cells say nothing about quality. `document=False` skips the
    repetition signals (chunks, pages)."""
    tokens = words(text)
    count = len(tokens)
    worded = [t for t in tokens if not _NUMBER.match(t)]
    plain = [t for t in tokens if not _LINK.search(t)]  # a URL is long by nature
    result = {
        "word_count": float(count + len(words(tables))),
        "prose_words": float(count),
        "mean_word_length": sum(map(len, plain)) / len(plain) if plain else 0.0,
        "symbol_word_ratio": len(_SYMBOLS.findall(text)) / count if count else 0.0,
        "alpha_word_share": sum(map(_has_letter, worded)) / len(worded) if worded else 1.0,
        "damaged_char_share": damaged_share(text + tables),
    }
    if document:
        result["repeated_line_share"] = _repeated_line_share(text)
        result["repeated_ngram_share"] = _repeated_ngram_share(tokens)
    return {k: round(v, 4) for k, v in result.items()}


def _bounds(config: QualityConfig) -> dict[str, tuple[float | None, float | None]]:
    return {
        "word_count": (config.min_words, config.max_words),
        "mean_word_length": (config.min_mean_word_length, config.max_mean_word_length),
        "symbol_word_ratio": (None, config.max_symbol_word_ratio),
        "alpha_word_share": (config.min_alpha_word_share, None),
        "damaged_char_share": (None, config.max_damaged_char_share),
        "repeated_line_share": (None, config.max_repeated_line_share),
        "repeated_ngram_share": (None, config.max_repeated_ngram_share),
    }


def failures(values: dict[str, float], config: QualityConfig, document: bool = True) -> list[Failure]:
    """Signals outside their configured bounds. `word_count` bounds apply to whole documents only; texts
    with fewer than `chunk_min_words` words of prose are judged on nothing else but damage (ratios mean little on a
    few words; tables only count for damage)."""
    short = values.get("prose_words", 0) < config.chunk_min_words
    found = []
    for name, (low, high) in _bounds(config).items():
        if name not in values or (name == "word_count" and not document):
            continue
        if short and name not in ("word_count", "damaged_char_share"):
            continue
        value = values[name]
        if low is not None and value < low:
            found.append(Failure(name, value, f"< {low:g}"))
        elif high is not None and value > high:
            found.append(Failure(name, value, f"> {high:g}"))
    return found
