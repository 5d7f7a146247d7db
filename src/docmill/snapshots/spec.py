"""What a snapshot is cut from: filters over the catalog's chunks, export formats, and the split rule.

A snapshot request is a pydantic model (the Prefect UI renders it as a form). Splits are decided per document:
`sha256(f"{seed}:{doc_id}")` maps a document to a point in [0, 1) and the cumulative split fractions (splits
in name order, so `train=0.9,eval=0.1` and `eval=0.1,train=0.9` agree) to a split. So every chunk of a
document lands in the same split (no leak between train and eval), and the same seed gives the same
assignment on every run and machine.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from docmill.config.globs import glob_match

Format = Literal["parquet", "jsonl", "both"]
RESERVED_NAMES = ("trainings", "cards")
_QUALITY = re.compile(r"^quality\.(?P<signal>[a-z_]+)(?P<op>>=|<=)(?P<value>-?[0-9.]+)$")


class SnapshotError(ValueError):
    """A snapshot request or reference that cannot be served (bad filter, unknown version, ...)."""


class SnapshotFilter(BaseModel):
    """Which chunks go into a snapshot; an empty list or None means "no restriction"."""

    model_config = ConfigDict(extra="forbid")

    sources: list[str] = Field(
        default_factory=list,
        description="Globs (or prefixes) matched against a chunk's source path and source URI; any may match.",
    )
    departments: list[str] = Field(default_factory=list, description="Only these departments (path rules).")
    languages: list[str] = Field(default_factory=list, description="Only documents in these languages (ISO 639-1).")
    since: str | None = Field(None, description="Only documents whose date (`date_field`) is on/after (YYYY-MM-DD).")
    until: str | None = Field(None, description="Only documents whose date (`date_field`) is on/before (YYYY-MM-DD).")
    date_field: str = Field(
        "file_mtime", description="Metadata date the date range applies to: file_mtime, created, modified, ..."
    )
    quality_min: dict[str, float] = Field(
        default_factory=dict, description="Lower bounds on document quality signals, e.g. alpha_word_share: 0.9."
    )
    quality_max: dict[str, float] = Field(
        default_factory=dict, description="Upper bounds on document quality signals, e.g. damaged_char_share: 0."
    )

    @field_validator("since", "until")
    @classmethod
    def _iso_date(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^\d{4}-\d{2}-\d{2}", value):
            raise ValueError(f"dates are YYYY-MM-DD, got {value!r}")
        return value

    def reason_excluded(self, meta: dict[str, Any]) -> str | None:
        """None when a chunk with this metadata passes every filter, else the first filter that excludes it."""
        if self.sources and not any(_source_match(meta, pattern) for pattern in self.sources):
            return "source"
        if self.departments and meta.get("department") not in self.departments:
            return "department"
        if self.languages and meta.get("language") not in self.languages:
            return "language"
        if self.since or self.until:
            day = str(meta.get(self.date_field) or "")[:10]
            if not re.match(r"^\d{4}-\d{2}-\d{2}$", day):
                return "date_missing"
            if (self.since and day < self.since[:10]) or (self.until and day > self.until[:10]):
                return "date"
        signals = meta.get("document_quality") or {}
        for name, low in self.quality_min.items():
            if name not in signals or signals[name] < low:
                return f"quality.{name}"
        for name, high in self.quality_max.items():
            if name not in signals or signals[name] > high:
                return f"quality.{name}"
        return None


def _source_match(meta: dict[str, Any], pattern: str) -> bool:
    for value in (str(meta.get("source_path") or ""), str(meta.get("source_uri") or "")):
        if any(c in pattern for c in "*?[") and glob_match(value.lstrip("/"), pattern.lstrip("/")):
            return True
        if value.startswith(pattern) or value.lstrip("/").startswith(pattern.lstrip("/")):
            return True
    return False


class SnapshotRequest(BaseModel):
    """One snapshot to cut: name, filters, formats and splits."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", description="Dataset name: folder and tag prefix.")
    filters: SnapshotFilter = Field(default_factory=SnapshotFilter, description="Which chunks to include.")
    format: Format = Field("both", description="parquet (with embeddings), jsonl (text + metadata) or both.")
    splits: dict[str, float] = Field(
        default_factory=lambda: {"train": 0.9, "eval": 0.1},
        description="Split name -> share of documents; shares sum to 1.",
    )
    seed: int = Field(0, description="Seed of the document -> split assignment.")
    push: bool = Field(True, description="Push the version to the DVC remote.")
    license: str = Field(
        "other", description="Licence on the dataset card (Hugging Face `license` id: other, cc-by-4.0, ...)."
    )
    languages: list[str] = Field(
        default_factory=list,
        description="Languages on the dataset card (ISO 639-1); empty: the languages of the snapshot's documents.",
    )

    @field_validator("name")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        if value in RESERVED_NAMES or "@" in value:
            raise ValueError(f"{value!r} is reserved in the data repository")
        return value

    @model_validator(mode="after")
    def _shares(self) -> SnapshotRequest:
        if not self.splits or any(v <= 0 for v in self.splits.values()):
            raise ValueError("every split needs a positive share")
        if abs(sum(self.splits.values()) - 1.0) > 1e-6:
            raise ValueError(f"split shares must sum to 1, got {sum(self.splits.values()):g}")
        if not all(re.match(r"^[a-z][a-z0-9_]*$", s) for s in self.splits):
            raise ValueError("split names are lowercase words, e.g. train, eval, test")
        return self

    @property
    def formats(self) -> tuple[str, ...]:
        """The file formats written."""
        return ("parquet", "jsonl") if self.format == "both" else (self.format,)


def split_of(doc_id: str, seed: int, splits: dict[str, float]) -> str:
    """The split of a document: a function of (seed, doc_id) only, so all its chunks land together."""
    point = int(hashlib.sha256(f"{seed}:{doc_id}".encode()).hexdigest()[:16], 16) / 2**64
    edge = 0.0
    for name in sorted(splits):  # by name: the order splits were written in does not matter
        edge += splits[name]
        if point < edge:
            return name
    return sorted(splits)[-1]


def parse_splits(text: str) -> dict[str, float]:
    """`train=0.9,eval=0.1` -> {"train": 0.9, "eval": 0.1}.

    Raises:
        SnapshotError: on a malformed list.
    """
    out: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, share = part.partition("=")
        try:
            out[name.strip()] = float(share)
        except ValueError:
            raise SnapshotError(f"split {part!r} is not name=share (e.g. train=0.9,eval=0.1)") from None
    return out


def parse_filters(items: list[str]) -> SnapshotFilter:
    """CLI filters (`source=GLOB`, `department=X`, `language=de`, `since=2025-01-01`, `until=...`,
    `date_field=created`, `quality.<signal>>=X`, `quality.<signal><=X`) -> a `SnapshotFilter`.

    Raises:
        SnapshotError: on an unknown or malformed filter.
    """
    lists: dict[str, list[str]] = {"source": [], "department": [], "language": []}
    values: dict[str, Any] = {"quality_min": {}, "quality_max": {}}
    for item in items:
        quality = _QUALITY.match(item.strip())
        if quality:
            bound = "quality_min" if quality["op"] == ">=" else "quality_max"
            values[bound][quality["signal"]] = float(quality["value"])
            continue
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not value:
            raise SnapshotError(f"filter {item!r} is not key=value")
        if key in lists:
            lists[key] += [v.strip() for v in value.split(",") if v.strip()]
        elif key in ("since", "until", "date_field"):
            values[key] = value.strip()
        else:
            raise SnapshotError(
                f"unknown filter {key!r}: use source, department, language, since, until, date_field, "
                "quality.<signal>>=X or quality.<signal><=X"
            )
    try:
        return SnapshotFilter(
            sources=lists["source"], departments=lists["department"], languages=lists["language"], **values
        )
    except ValueError as exc:
        raise SnapshotError(str(exc)) from exc
