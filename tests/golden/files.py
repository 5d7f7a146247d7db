"""Reading, writing and comparing golden files: one pretty-printed JSON file per fixture, keys sorted."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

GOLDEN_DIR = Path(__file__).resolve().parent
REGENERATE = "PYTHONPATH=src:. python -m tests.golden.regen"
EXCERPT = 60  # characters of a differing text shown on each side of the first differing character


def path_of(name: str, folder: Path = GOLDEN_DIR) -> Path:
    """The golden file of the fixture `name`."""
    return folder / f"{name}.json"


def dumps(record: dict[str, Any]) -> str:
    """The text of a golden file: stable (sorted keys, two-space indent), readable (non-ASCII kept)."""
    return json.dumps(record, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def load(name: str, folder: Path = GOLDEN_DIR) -> dict[str, Any]:
    """The stored golden record of `name`."""
    return json.loads(path_of(name, folder).read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def stored_names(folder: Path = GOLDEN_DIR) -> set[str]:
    """The fixtures that have a golden file in `folder`."""
    return {p.name.removesuffix(".json") for p in folder.glob("*.json")}


def differences(golden: Any, now: Any, where: str = "", limit: int = 10) -> list[str]:
    """Where `now` differs from `golden`, as `path: golden ..., now ...` lines (at most `limit`), in record order;
    a path reads like `chunk.chunks[2].char_end`."""
    found: list[str] = []
    _walk(golden, now, where, found, limit)
    return found


def _walk(golden: Any, now: Any, where: str, found: list[str], limit: int) -> None:
    if len(found) >= limit:
        return
    if isinstance(golden, dict) and isinstance(now, dict):
        for key in sorted(golden.keys() | now.keys()):
            here = f"{where}.{key}" if where else str(key)
            if key not in now:
                found.append(f"{here}: only in the golden file ({_short(golden[key])})")
            elif key not in golden:
                found.append(f"{here}: new ({_short(now[key])})")
            else:
                _walk(golden[key], now[key], here, found, limit)
            if len(found) >= limit:
                return
    elif isinstance(golden, list) and isinstance(now, list):
        for index, (old, new) in enumerate(zip(golden, now, strict=False)):
            _walk(old, new, f"{where}[{index}]", found, limit)
        if len(golden) != len(now) and len(found) < limit:
            found.append(f"{where}: {len(golden)} items in the golden file, {len(now)} now")
    elif golden != now or type(golden) is not type(now):
        found.append(f"{where}: {_contrast(golden, now)}")


def _contrast(golden: Any, now: Any) -> str:
    if isinstance(golden, str) and isinstance(now, str):
        at = next((i for i, (a, b) in enumerate(zip(golden, now, strict=False)) if a != b), min(len(golden), len(now)))
        window = slice(max(0, at - EXCERPT), at + EXCERPT)
        return f"texts differ at character {at}: golden {golden[window]!r}, now {now[window]!r}"
    return f"golden {_short(golden)}, now {_short(now)}"


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= 2 * EXCERPT else text[: 2 * EXCERPT] + "..."


def report(name: str, found: list[str], shown: int = 10) -> str:
    """The message of a golden test that failed: the file, the first `shown` differences, and how to regenerate."""
    lines = "\n".join(f"  {line}" for line in found[:shown])
    more = f"\n  ... {len(found) - shown} more" if len(found) > shown else ""
    return (
        f"{path_of(name).relative_to(GOLDEN_DIR.parents[1])} no longer matches what the stages produce; first "
        f"differences:\n{lines}{more}\nIf the change is intended, regenerate with `{REGENERATE}` (from the "
        "repository root) and review `git diff tests/golden` before committing."
    )
