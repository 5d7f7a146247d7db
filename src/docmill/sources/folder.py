"""Local folder source (also NFS/SMB mounts): a sorted, recursive listing filtered by globs."""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import stat
from collections.abc import Iterator, MutableSequence
from functools import partial
from pathlib import Path

from docmill.config.globs import glob_match, selected
from docmill.isolation import steps
from docmill.records import FileItem, Reject

NOT_REGULAR = "not_a_regular_file"
SYMLINK_ESCAPE = "symlink_escape"
REPLACED = "replaced_after_listing"
HARDLINK = "hardlink_refused"
UNREADABLE_FOLDER = "folder_unreadable"  # kept: what earlier runs found under it stays
# Ingest reasons whose URI (ending in `/`) stands for everything under it: those sources are kept as seen.
KEPT_SUBTREE = frozenset({UNREADABLE_FOLDER})
# Ingest reasons that say "these bytes must not be served": what earlier runs made of the item goes too.
WITHDRAWING = frozenset({NOT_REGULAR, SYMLINK_ESCAPE, REPLACED, HARDLINK})


def kind(mode: int) -> str:
    """A file type in words, for messages (`FIFO`, `socket`, `character device`...)."""
    for test, name in (
        (stat.S_ISFIFO, "FIFO"),
        (stat.S_ISSOCK, "socket"),
        (stat.S_ISCHR, "character device"),
        (stat.S_ISBLK, "block device"),
        (stat.S_ISDIR, "folder"),
        (stat.S_ISLNK, "symbolic link"),
    ):
        if test(mode):
            return name
    return "regular file" if stat.S_ISREG(mode) else "special file"


class FolderSource:
    """Files under `root` matching any `include` and no `exclude` glob, in sorted order (a `Connector`)."""

    local = True

    def __init__(
        self, root: Path, include: list[str], exclude: list[str], name: str | None = None, hardlinks: str = "allow"
    ) -> None:
        self.root = root.resolve()
        self.hardlinks = hardlinks  # `refuse`: a file with several hard links is quarantined when read
        self.include = include
        self.exclude = exclude
        self.name = name or str(root)
        self.scope = self.root.as_uri().rstrip("/") + "/"

    def list(self) -> Iterator[FileItem]:
        """The listed files only (refused ones are left out: see `list_items`)."""
        return (item for item in self.list_items() if isinstance(item, FileItem))

    def list_items(self) -> Iterator[FileItem | Reject]:
        """Walk the folder. Every entry the globs select is a `FileItem` or an ingest reject: a FIFO, socket,
        device or a link to a folder is `not_a_regular_file` (link folders are never followed), a link that
        leaves the root `symlink_escape`. A link to a file inside the root is read through the target's path.

        Raises:
            FileNotFoundError: when the folder does not exist (a pipeline error, not a document error).
        """
        if not self.root.is_dir():
            raise FileNotFoundError(f"source folder does not exist: {self.root}")
        unlistable: MutableSequence[OSError] = []  # folders os.walk could not read, reported as they come
        for dirpath, dirnames, filenames in os.walk(self.root, onerror=unlistable.append):
            yield from self._unlistable(unlistable)
            dirnames.sort()
            folder = Path(dirpath)
            for name in [d for d in dirnames if (folder / d).is_symlink()]:
                dirnames.remove(name)  # os.walk would not descend; say so instead of skipping silently
                if selected((folder / name).relative_to(self.root).as_posix(), self.include, self.exclude):
                    who = steps.Item(source_uri=(folder / name).as_uri())
                    outcome = steps.attempt("ingest", "list", who, partial(self._link, folder / name, "folder"))
                    yield steps.reject_of(outcome) if isinstance(outcome, steps.Failure) else outcome
            for name in sorted(filenames):
                path = folder / name
                relative = path.relative_to(self.root).as_posix()
                if selected(relative, self.include, self.exclude):
                    who = steps.Item(source_uri=path.as_uri())
                    outcome = steps.attempt("ingest", "list", who, partial(self._entry, path, relative))
                    yield steps.reject_of(outcome) if isinstance(outcome, steps.Failure) else outcome

        yield from self._unlistable(unlistable)

    def _unlistable(self, errors: MutableSequence[OSError]) -> Iterator[Reject]:
        """A folder that could not be read is a `folder_unreadable` reject of the folder (its URI ends with `/`):
        the files earlier runs found under it are kept, not taken for deleted.

        Raises:
            OSError: when the source root itself cannot be read (nothing of the source could be listed).
        """
        while errors:
            error = errors.pop(0)
            folder = Path(str(error.filename or self.root))
            if folder == self.root:
                message = f"source folder cannot be listed: {os.strerror(error.errno or 0)}"
                raise OSError(error.errno, message, str(folder))
            relative = folder.relative_to(self.root).as_posix()
            if any(glob_match(f"{relative}/\x00", pattern) for pattern in self.exclude):
                continue  # excluded with everything in it: nothing of it was wanted
            uri = folder.as_uri().rstrip("/") + "/"
            reason = errno.errorcode.get(error.errno or 0, type(error).__name__)
            yield Reject("ingest", UNREADABLE_FOLDER, f"folder could not be listed ({reason})", None, uri)

    def _entry(self, path: Path, relative: str) -> FileItem | Reject:
        try:
            info = path.lstat()
            if stat.S_ISLNK(info.st_mode):
                return self._link(path, "file")
        except FileNotFoundError:  # deleted while we walked
            return Reject("ingest", REPLACED, "deleted while the folder was listed", None, path.as_uri())
        if not stat.S_ISREG(info.st_mode):
            return Reject("ingest", NOT_REGULAR, f"a {kind(info.st_mode)}, not a regular file", None, path.as_uri())
        return FileItem(
            path.as_uri(),
            str(path),
            relative,
            info.st_size,
            info.st_mtime,
            f"{info.st_mtime_ns}",
            identity=(info.st_dev, info.st_ino),
        )

    def _link(self, path: Path, what: str) -> FileItem | Reject:
        """A symbolic link: refused unless it is a link to a regular file inside the root."""
        uri = path.as_uri()
        target = path.resolve()
        if not target.is_relative_to(self.root):
            return Reject("ingest", SYMLINK_ESCAPE, f"symbolic link ({what}) leaves the source folder", None, uri)
        if what == "folder" or not target.is_file():
            return Reject(
                "ingest", NOT_REGULAR, f"symbolic link to a {what} inside the source (not followed)", None, uri
            )
        try:
            info = target.stat()
        except FileNotFoundError:
            return Reject("ingest", REPLACED, "link target deleted while the folder was listed", None, uri)
        return FileItem(
            uri,
            str(path),
            path.relative_to(self.root).as_posix(),
            info.st_size,
            info.st_mtime,
            f"{info.st_mtime_ns}",
            identity=(info.st_dev, info.st_ino),
            target=target.relative_to(self.root).as_posix(),
        )

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
