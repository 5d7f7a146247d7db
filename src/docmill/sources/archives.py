"""Archives (ZIP, tar and compressed tar, gzip, bzip2, xz) expanded into child files, safely.

Members are written under a folder named by the archive's sha256, so an unchanged archive is expanded once.
Bomb limits hold for the whole expansion tree of one top-level item (`Budget`: total bytes written, total
members, and the ratio of bytes written to the top-level item's size; nesting depth is the caller's), and for
each archive alone (the ratio of bytes decompressed to its packed size). Every limit is checked while the
bytes stream, before they are written, so declared sizes cannot lie past them. No member can be written
outside its folder (absolute paths, `..`, links are refused); a member whose compression method Python cannot
read (Apple iWork's 25451/25452, Deflate64) is refused alone (`unsupported_compression`).
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import shutil
import tarfile
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Any

from docmill.parsers import ParseError

DONE = ".docmill-expanded"
RATIO_FLOOR = 1024**2  # ratios are judged once this many bytes came out (small files compress unevenly)
_BLOCK = 1 << 20
_SINGLE: dict[str, Callable[[Path, str], Any]] = {"gz": gzip.open, "bz2": bz2.open, "xz": lzma.open}
_CORRUPT = (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError, lzma.LZMAError, ValueError, zlib.error)


class ArchiveError(ParseError):
    """One archive is refused, with a reason code (`archive_bomb`, `corrupt_archive`, ...)."""


class TreeLimit(ArchiveError):
    """The expansion tree of a top-level item went over a limit: the top-level item is refused whole."""


@dataclass(slots=True)
class Limits:
    """Archive bomb limits, for the whole expansion tree of one top-level item."""

    max_members: int = 10_000
    max_total_bytes: int = 2 * 1024**3
    max_ratio: float = 200.0


@dataclass(slots=True)
class Budget:
    """What the expansion tree of one top-level item (`packed` bytes) wrote so far, against its limits."""

    limits: Limits
    packed: int
    written: int = 0
    members: int = 0

    def member(self, where: str) -> None:
        """Count one more member.

        Raises:
            TreeLimit: `archive_too_many_members`.
        """
        self.members += 1
        if self.members > self.limits.max_members:
            raise TreeLimit("archive_too_many_members", f"more than {self.limits.max_members} members ({where})")

    def grow(self, size: int, where: str) -> None:
        """Count `size` more bytes written (before they are).

        Raises:
            TreeLimit: `archive_too_large`, or `archive_bomb` (bytes written over the top-level item's size).
        """
        self.written += size
        if self.written > self.limits.max_total_bytes:
            raise TreeLimit("archive_too_large", f"more than {self.limits.max_total_bytes} bytes expanded ({where})")
        ratio = self.written / max(self.packed, 1)
        if self.written > RATIO_FLOOR and ratio > self.limits.max_ratio:
            raise TreeLimit(
                "archive_bomb", f"expanded {ratio:.0f} times its size, over {self.limits.max_ratio:.0f} ({where})"
            )


@dataclass(slots=True)
class Expanded:
    """Members written (relative POSIX paths) and members refused (name, reason)."""

    members: list[str] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)


@dataclass(slots=True)
class _Meter:
    """One archive's decompressed bytes against its own ratio, and the tree's budget."""

    budget: Budget
    packed: int
    name: str
    out: int = 0

    def take(self, size: int, member: str) -> None:
        """`size` more bytes of `member` about to be written."""
        self.seen(self.out + size)
        self.budget.grow(size, f"{self.name}!/{member}")

    def seen(self, total: int) -> None:
        """`total` bytes decompressed so far (written or not: tar headers, skipped members)."""
        self.out = max(self.out, total)
        ratio = self.out / max(self.packed, 1)
        if self.out > RATIO_FLOOR and ratio > self.budget.limits.max_ratio:
            raise ArchiveError("archive_bomb", f"compression ratio {ratio:.0f} over {self.budget.limits.max_ratio:.0f}")


def archive_kind(path: Path) -> str | None:
    """`zip`, `tar` (plain or compressed), `gz`, `bz2`, `xz` or None, from content."""
    with path.open("rb") as handle:
        head = handle.read(512)
    if head.startswith(b"PK\x03\x04"):
        from docmill.parsers.sniff import detect_type

        # by content, but a damaged Office or OpenDocument file stays a document (its parser names the damage)
        return "zip" if detect_type(path, path.suffix.lower() or ".zip", ()) == ".zip" else None
    single = None
    if head.startswith(b"\x1f\x8b"):
        single = "gz"
    elif head.startswith(b"BZh") and head[4:10] == b"1AY&SY":
        single = "bz2"
    elif head.startswith(b"\xfd7zXZ\x00"):
        single = "xz"
    if single or head[257:262] == b"ustar" or path.suffix.lower() == ".tar":
        try:
            if tarfile.is_tarfile(path):
                return "tar"
        except _CORRUPT:
            pass
    return single


def safe_member(name: str) -> str | None:
    """The member's relative POSIX path, or None when it would leave the extraction folder."""
    parts = PurePosixPath(name.replace("\\", "/")).parts
    if not parts or name.startswith(("/", "\\")) or ".." in parts or ":" in parts[0]:
        return None
    return "/".join(parts)


def _copy(source: IO[bytes], target: Path, meter: _Meter, member: str) -> None:
    with target.open("wb") as out:
        while block := source.read(_BLOCK):
            meter.take(len(block), member)  # before the block lands
            out.write(block)


def expand(path: Path, target: Path, budget: Budget) -> Expanded:
    """Expand `path` into `target` (once; a marker file records completion), charging `budget`.

    Raises:
        ArchiveError: corrupt, encrypted or over its own ratio: nothing of it is kept.
        TreeLimit: the tree went over a limit: nothing of this archive is kept (the caller removes the rest).
    """
    if (target / DONE).exists():
        members = sorted(p for p in target.rglob("*") if p.is_file() and p.name != DONE)
        for member in members:
            budget.member(path.name)
            budget.grow(member.stat().st_size, path.name)
        return Expanded([p.relative_to(target).as_posix() for p in members])
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    try:
        result = _expand(path, target, _Meter(budget, path.stat().st_size, path.name), archive_kind(path))
    except ArchiveError:
        shutil.rmtree(target, ignore_errors=True)
        raise
    except _CORRUPT as exc:
        shutil.rmtree(target, ignore_errors=True)
        raise ArchiveError("corrupt_archive", str(exc)[:300]) from exc
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)
        raise
    (target / DONE).write_text("")
    return result


def _expand(path: Path, target: Path, meter: _Meter, kind: str | None) -> Expanded:
    if kind in _SINGLE:
        name = safe_member(path.stem) or "member"
        meter.budget.member(path.name)
        with _SINGLE[kind](path, "rb") as packed:
            _copy(packed, target / name, meter, name)
        return Expanded([name])
    if kind == "zip":
        return _expand_zip(path, target, meter)
    return _expand_tar(path, target, meter)


def _expand_zip(path: Path, target: Path, meter: _Meter) -> Expanded:
    result = Expanded()
    with zipfile.ZipFile(path) as archive:
        infos = [i for i in archive.infolist() if not i.is_dir()]
        if any(i.flag_bits & 0x1 for i in infos):
            raise ArchiveError("encrypted", "password-protected ZIP")
        for info in infos:
            meter.budget.member(path.name)
            name = safe_member(info.filename)
            if name is None:
                result.refused.append((info.filename, "unsafe_archive_path"))
                continue
            try:
                opened: Any = archive.open(info)
            except NotImplementedError:  # a compression method zipfile cannot read: this member only
                result.refused.append((name, "unsupported_compression"))
                continue
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            with opened:
                _copy(opened, target / name, meter, name)
            result.members.append(name)
    return result


def _expand_tar(path: Path, target: Path, meter: _Meter) -> Expanded:
    """Stream the tar (any compression) member by member: no listing pass decompresses the whole of it first."""
    result = Expanded()
    with tarfile.open(path, "r|*") as archive:
        for member in archive:
            meter.seen(archive.offset)  # headers and skipped members' data count too
            if member.isdir():
                continue
            meter.budget.member(path.name)
            name = safe_member(member.name)
            if name is None or not member.isfile():
                result.refused.append((member.name, "unsafe_archive_path" if name is None else "archive_link"))
                continue
            source = archive.extractfile(member)
            if source is not None:
                (target / name).parent.mkdir(parents=True, exist_ok=True)
                _copy(source, target / name, meter, name)
                result.members.append(name)
    return result
