"""PII detection speed: characters per second on business prose and on digit-dense tables, and whether the
cost of a table grows linearly with its length (matcher windows must stay small).

Usage: python benchmarks/pii_benchmark.py   (run from the repository root)
"""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from docmill.config.settings import PiiConfig
from docmill.text.pii import find_pii
from tests.planted import planted_document


def _rate(text: str, repeats: int = 3) -> float:
    """Best characters per second of `repeats` runs (the least disturbed by other load)."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        find_pii(text, PiiConfig())
        best = min(best, time.perf_counter() - start)
    return len(text) / best


def _table(rows: int) -> str:
    return "".join(f"{i * 7919 % 99999999:>10} {i * 104729 % 99999999999:>12}\n" for i in range(rows))


def main() -> None:
    """Print the rates and the linearity ratio."""
    sentences = planted_document(5, 2)[0].split(". ")
    prose = " ".join(s for s in sentences if not re.search(r"\d{5}", s)) * 100
    prose_rate = _rate(prose)
    small, large = _rate(_table(2500)), _rate(_table(10000))
    print(f"prose: {prose_rate:,.0f} chars/s ({len(prose):,} chars)")
    print(f"digit-dense table: {small:,.0f} chars/s at 2,500 rows, {large:,.0f} chars/s at 10,000 rows")
    print(f"ratio rate(10,000 rows) / rate(2,500 rows): {large / small:.2f} (1.0 = linear; 0.25 = quadratic)")


if __name__ == "__main__":
    main()
