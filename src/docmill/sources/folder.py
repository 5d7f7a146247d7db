"""Local folder source (also NFS/SMB mounts): a sorted, recursive listing filtered by globs."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path


@dataclass(slots=True, frozen=True)
class FileItem:
    """One file as listed by a source."""

    source_uri: str
    path: str
    relative: str
    size: int
    mtime: float


def glob_match(relative: str, pattern: str) -> bool:
    """Match a POSIX relative path against a glob where `**/` may also match zero folders."""
    if fnmatchcase(relative, pattern):
        return True
    return pattern.startswith("**/") and glob_match(relative, pattern[3:])


class FolderSource:
    """Files under `root` matching any `include` and no `exclude` glob, in sorted order."""

    def __init__(self, root: Path, include: list[str], exclude: list[str]) -> None:
        self.root = root.resolve()
        self.include = include
        self.exclude = exclude

    def list(self) -> Iterator[FileItem]:
        """Walk the folder (symlinked folders are not followed).

        Raises:
            FileNotFoundError: when the folder does not exist (a pipeline error, not a document error).
        """
        if not self.root.is_dir():
            raise FileNotFoundError(f"source folder does not exist: {self.root}")
        for dirpath, dirnames, filenames in os.walk(self.root):
            dirnames.sort()
            for name in sorted(filenames):
                path = Path(dirpath) / name
                relative = path.relative_to(self.root).as_posix()
                if not any(glob_match(relative, p) for p in self.include):
                    continue
                if any(glob_match(relative, p) for p in self.exclude) or not path.is_file():
                    continue
                try:
                    stat = path.stat()
                except FileNotFoundError:  # deleted while we walked
                    continue
                yield FileItem(path.as_uri(), str(path), relative, stat.st_size, stat.st_mtime)


def sha256_file(path: str, block: int = 1 << 20) -> str:
    """Streamed sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(block):
            digest.update(chunk)
    return digest.hexdigest()
