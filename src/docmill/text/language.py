"""Language identification with py3langid (a bundled model; nothing is downloaded)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any


@lru_cache(maxsize=1)
def _identifier() -> Any:
    from py3langid.langid import _load_identifier

    return _load_identifier(norm_probs=True)


def detect_language(text: str, min_probability: float = 0.5) -> str:
    """ISO 639-1 code of the text's language, or `und` when too short or too uncertain."""
    if len(text.strip()) < 20:
        return "und"
    code, probability = _identifier().classify(text)
    return str(code) if probability >= min_probability else "und"
