"""Local folder source (also NFS/SMB mounts): a sorted, recursive listing filtered by globs."""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from functools import partial
from pathlib import Path
from typing import Any

from docmill import steps
from docmill.records import Reject


@dataclass(slots=True, frozen=True)
class FileItem:
    """One item as listed by a source: `relative` is its stable id within the source, `version` its change
    marker (mtime, etag, row version), `path` its local bytes (empty until a remote item is fetched)."""

    source_uri: str
    path: str
    relative: str
    size: int
    mtime: float
    version: str = ""
    metadata: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)


def glob_match(relative: str, pattern: str) -> bool:
    """Match a POSIX relative path against a glob where `**/` may also match zero folders."""
    if fnmatchcase(relative, pattern):
        return True
    return pattern.startswith("**/") and glob_match(relative, pattern[3:])


def selected(relative: str, include: list[str], exclude: list[str]) -> bool:
    """True when `relative` matches an include glob and no exclude glob."""
    return any(glob_match(relative, p) for p in include) and not any(glob_match(relative, p) for p in exclude)


class FolderSource:
    """Files under `root` matching any `include` and no `exclude` glob, in sorted order (a `Connector`)."""

    local = True

    def __init__(self, root: Path, include: list[str], exclude: list[str], name: str | None = None) -> None:
        self.root = root.resolve()
        self.include = include
        self.exclude = exclude
        self.name = name or str(root)
        self.scope = self.root.as_uri().rstrip("/") + "/"

    def list(self) -> Iterator[FileItem]:
        """The listed files only (refused ones are left out: see `list_items`)."""
        return (item for item in self.list_items() if isinstance(item, FileItem))

    def list_items(self) -> Iterator[FileItem | Reject]:
        """Walk the folder (symlinked folders are not followed; a symlinked file pointing outside the root is
        refused as `symlink_escape`).

        Raises:
            FileNotFoundError: when the folder does not exist (a pipeline error, not a document error).
        """
        if not self.root.is_dir():
            raise FileNotFoundError(f"source folder does not exist: {self.root}")
        for dirpath, dirnames, filenames in os.walk(self.root):
            dirnames.sort()
            for name in sorted(filenames):
                path = Path(dirpath) / name
                who = steps.Item(source_uri=path.as_uri())
                outcome = steps.attempt("ingest", "list", who, partial(self._entry, path))
                if outcome is not None:
                    yield steps.reject_of(outcome) if isinstance(outcome, steps.Failure) else outcome

    def _entry(self, path: Path) -> FileItem | Reject | None:
        """One walked file: listed, refused (`symlink_escape`) or left out (None: not selected, not a regular
        file, deleted while we walked)."""
        relative = path.relative_to(self.root).as_posix()
        if not selected(relative, self.include, self.exclude):
            return None
        if path.is_symlink() and not path.resolve().is_relative_to(self.root):
            return Reject("ingest", "symlink_escape", "symbolic link leaves the source folder", None, path.as_uri())
        if not path.is_file():
            return None
        try:
            stat = path.stat()
        except FileNotFoundError:  # deleted while we walked
            return None
        return FileItem(path.as_uri(), str(path), relative, stat.st_size, stat.st_mtime, f"{stat.st_mtime_ns}")

    def fetch(self, item: FileItem, dest: Path) -> None:
        """Copy the file (not needed by ingest: folder items are read in place)."""
        shutil.copyfile(item.path, dest)

    def close(self) -> None:
        """Nothing to release."""


def sha256_file(path: str, block: int = 1 << 20) -> str:
    """Streamed sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(block):
            digest.update(chunk)
    return digest.hexdigest()
