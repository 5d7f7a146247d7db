"""Reading a listed file without following links: an fd walk from the source root.

A folder is listed once; between the listing and the read an attacker with write access to the folder can swap
a file (or a folder on its path) for a symbolic link to something outside. Every component is therefore
opened relative to the previous one's descriptor with `O_NOFOLLOW`, and the file that opens must be the regular
file the listing saw (same device and inode). Ingest hashes and copies the bytes from that descriptor
(`docmill.sources.staging`), so the parsers read a private copy of exactly the bytes that were hashed.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager

from docmill.sources.base import ItemError
from docmill.sources.folder import HARDLINK, NOT_REGULAR, REPLACED, SYMLINK_ESCAPE, kind

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC


@contextmanager
def open_listed(root: str, relative: str, identity: tuple[int, int] | None, hardlinks: str = "allow") -> Iterator[int]:
    """A read-only descriptor of `root/relative`, reached without following any link below `root`.

    Args:
        root: the source folder (resolved; the walk starts at its descriptor).
        relative: the POSIX path below `root` to open.
        identity: (st_dev, st_ino) the listing saw, or None to accept any regular file.
        hardlinks: `allow`, or `refuse` (a file with more than one link is quarantined).

    Raises:
        ItemError: `symlink_escape` (a link on the way), `not_a_regular_file`, `replaced_after_listing`
            (another file than the one listed), `hardlink_refused`, `permission_denied` or `unreadable`.
    """
    parts = [p for p in relative.split("/") if p not in ("", ".")]
    if not parts or ".." in parts:
        raise ItemError(SYMLINK_ESCAPE, f"path leaves the source folder: {relative!r}")
    fds: list[int] = []
    try:
        fds.append(_open(root, None, _DIR_FLAGS))
        for part in parts[:-1]:
            fds.append(_open(part, fds[-1], _DIR_FLAGS))
        fd = _open(parts[-1], fds[-1], _FILE_FLAGS)
        fds.append(fd)
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ItemError(NOT_REGULAR, f"a {kind(info.st_mode)}, not a regular file")
        if identity is not None and (info.st_dev, info.st_ino) != identity:
            raise ItemError(REPLACED, "the file was replaced after the folder was listed (read again next run)")
        if hardlinks == "refuse" and info.st_nlink > 1:
            raise ItemError(HARDLINK, f"the file has {info.st_nlink} hard links (ingest.hardlinks: refuse)")
        os.set_blocking(fd, True)
        yield fd
    finally:
        for opened in reversed(fds):
            os.close(opened)


def _open(name: str, dir_fd: int | None, flags: int) -> int:
    try:
        return os.open(name, flags, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR) and _is_link(name, dir_fd):
            raise ItemError(SYMLINK_ESCAPE, "a symbolic link appeared on the path after listing") from None
        if exc.errno in (errno.ENOTDIR, errno.ENOENT):
            raise ItemError(REPLACED, "the path changed after the folder was listed (read again next run)") from None
        if isinstance(exc, PermissionError):
            raise ItemError("permission_denied", "permission denied") from None
        raise ItemError("unreadable", f"{type(exc).__name__}: {exc.strerror}") from None


def _is_link(name: str, dir_fd: int | None) -> bool:
    try:
        return stat.S_ISLNK(os.lstat(name, dir_fd=dir_fd).st_mode)
    except OSError:
        return False
