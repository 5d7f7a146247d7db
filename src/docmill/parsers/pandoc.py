"""The pandoc binaries installed here and the input formats each one reads."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
from dataclasses import dataclass
from functools import cache
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Pandoc:
    """One pandoc binary."""

    path: str
    version: str
    readers: frozenset[str]


def _candidates() -> list[str]:
    """The pypandoc-binary wheel's pandoc (recent) first, then the one on PATH (Debian's)."""
    found = []
    spec = importlib.util.find_spec("pypandoc")
    if spec is not None and spec.origin:
        bundled = Path(spec.origin).parent / "files" / "pandoc"
        if bundled.is_file():
            found.append(str(bundled))
    system = shutil.which("pandoc")
    if system:
        found.append(system)
    return found


@cache
def _describe(path: str) -> Pandoc | None:
    try:
        version = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30, check=True)
        readers = subprocess.run([path, "--list-input-formats"], capture_output=True, text=True, timeout=30, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    number = version.stdout.split("\n", 1)[0].replace("pandoc", "").strip() or "unknown"
    return Pandoc(path, number, frozenset(readers.stdout.split()))


def find_pandoc(reader: str) -> Pandoc | None:
    """The first installed pandoc that has `reader`, or None."""
    for path in _candidates():
        pandoc = _describe(path)
        if pandoc is not None and reader in pandoc.readers:
            return pandoc
    return None
