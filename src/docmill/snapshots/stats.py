"""What a snapshot holds, summed up while its rows stream past: the numbers of the manifest and the card.

Document-level facts (file type, language, department, quality signals, PII counts) are taken once per
document, from its first chunk; chunk-level facts (token lengths, runs, models, chunks flagged as semantic
near-duplicates) from every chunk.
"""

from __future__ import annotations

import json
from array import array
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import numpy as np

HISTOGRAM_BINS = 12


def _histogram(values: np.ndarray, bins: int = HISTOGRAM_BINS) -> dict[str, list[float] | list[int]]:
    if values.size == 0:
        return {"edges": [], "counts": []}
    low, high = float(values.min()), float(values.max())
    if low == high:
        high = low + 1.0
    counts, edges = np.histogram(values, bins=bins, range=(low, high))
    return {"edges": [round(float(e), 4) for e in edges], "counts": [int(c) for c in counts]}


def describe(values: np.ndarray) -> dict[str, Any]:
    """min, percentiles, mean, max and a fixed-bin histogram of a series (empty series: zeros)."""
    if values.size == 0:
        return {
            "count": 0,
            "min": 0,
            "p10": 0,
            "p50": 0,
            "p90": 0,
            "mean": 0,
            "max": 0,
            "histogram": _histogram(values),
        }
    p10, p50, p90 = (round(float(v), 4) for v in np.percentile(values, [10, 50, 90]))
    return {
        "count": int(values.size),
        "min": round(float(values.min()), 4),
        "p10": p10,
        "p50": p50,
        "p90": p90,
        "mean": round(float(values.mean()), 4),
        "max": round(float(values.max()), 4),
        "histogram": _histogram(values),
    }


class SnapshotStats:
    """Running totals of one snapshot (bounded per chunk: a few counters and one int per chunk)."""

    def __init__(self, roots: list[Path]) -> None:
        self.roots = [r.resolve().as_posix().rstrip("/") + "/" for r in roots]
        self.excluded: Counter[str] = Counter()
        self.splits: dict[str, Counter[str]] = defaultdict(Counter)
        self.counters: dict[str, Counter[str]] = defaultdict(Counter)
        self.tokens = array("i")
        self.quality: dict[str, list[float]] = defaultdict(list)
        self.runs: Counter[str] = Counter()
        self.seen_docs: set[str] = set()

    @property
    def rows(self) -> int:
        """Chunks included."""
        return len(self.tokens)

    @property
    def documents(self) -> int:
        """Documents included."""
        return len(self.seen_docs)

    def add(self, row: Any, meta: dict[str, Any], split: str) -> None:
        """Count one included chunk (catalog row and its parsed metadata)."""
        self.tokens.append(int(row["token_count"] or 0))
        self.runs[str(row["run_id"])] += 1
        self.counters["models"][str(meta.get("model", "unknown"))] += 1
        self.counters["chunk_configs"][json.dumps(meta.get("chunk_config", "unknown"), sort_keys=True)] += 1
        self.splits[split]["chunks"] += 1
        self.splits[split]["tokens"] += int(row["token_count"] or 0)
        if meta.get("semantic_duplicate_of"):  # `embed.semantic_duplicates` policy `flag`
            self.counters["semantic_duplicates"]["flagged"] += 1
        if row["doc_id"] in self.seen_docs:
            return
        self.seen_docs.add(row["doc_id"])
        self.splits[split]["documents"] += 1
        self.counters["file_types"][str(meta.get("file_type") or "unknown")] += 1
        self.counters["languages"][str(meta.get("language") or "unknown")] += 1
        self.counters["departments"][str(meta.get("department") or "none")] += 1
        self.counters["parsers"][str(meta.get("parser") or "unknown")] += 1
        self.counters["sources"][self._root_of(str(meta.get("source_path") or ""))] += 1
        for kind, n in (meta.get("pii") or {}).items():
            self.counters["pii"][kind] += int(n)
        for name, value in (meta.get("document_quality") or {}).items():
            self.quality[name].append(float(value))

    def _root_of(self, path: str) -> str:
        for root in self.roots:
            if path.startswith(root):
                return root.rstrip("/")
        return "other"

    def summary(self) -> dict[str, Any]:
        """The manifest's content summary (sorted, so equal content gives equal bytes)."""
        counters = {name: dict(sorted(c.items())) for name, c in sorted(self.counters.items())}
        names = ("file_types", "languages", "departments", "parsers", "sources", "pii", "models", "chunk_configs")
        for name in (*names, "semantic_duplicates"):
            counters.setdefault(name, {})
        return {
            "rows": self.rows,
            "documents": self.documents,
            "tokens": int(sum(self.tokens)),
            "splits": {name: dict(sorted(c.items())) for name, c in sorted(self.splits.items())},
            **counters,
            "token_length": describe(np.frombuffer(self.tokens, dtype=np.int32).astype(np.float64)),
            "quality": {name: describe(np.array(v)) for name, v in sorted(self.quality.items())},
            "excluded_chunks": dict(sorted(self.excluded.items())),
            "runs": dict(sorted(self.runs.items())),
        }
