"""Archives (ZIP, tar, gzip) expanded into child files, safely.

Members are written under a folder named by the archive's sha256, so an unchanged archive is expanded once.
Limits stop archive bombs (member count, total uncompressed size, compression ratio, nesting depth is the
caller's), and no member can be written outside its folder (absolute paths, `..`, links are refused).
"""

from __future__ import annotations

import gzip
import shutil
import tarfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from docmill.parsers import ParseError

DONE = ".docmill-expanded"


class ArchiveError(ParseError):
    """The whole archive is refused, with a reason code (`archive_bomb`, `corrupt_archive`, ...)."""


@dataclass(slots=True)
class Limits:
    """Archive bomb limits."""

    max_members: int = 10_000
    max_total_bytes: int = 2 * 1024**3
    max_ratio: float = 200.0


@dataclass(slots=True)
class Expanded:
    """Members written (relative POSIX paths) and members refused (name, reason)."""

    members: list[str] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)


def archive_kind(path: Path) -> str | None:
    """`zip`, `tar`, `gz` or None, from content."""
    with path.open("rb") as handle:
        head = handle.read(8)
    if head.startswith(b"PK\x03\x04"):
        from docmill.parsers.sniff import detect_type

        return "zip" if detect_type(path, ".zip", ()) == ".zip" else None
    if head.startswith(b"\x1f\x8b") or path.suffix.lower() in {".tar", ".tgz"}:
        try:
            if tarfile.is_tarfile(path):
                return "tar"
        except (OSError, EOFError):
            pass
        return "gz" if head.startswith(b"\x1f\x8b") else None
    return None


def safe_member(name: str) -> str | None:
    """The member's relative POSIX path, or None when it would leave the extraction folder."""
    parts = PurePosixPath(name.replace("\\", "/")).parts
    if not parts or name.startswith(("/", "\\")) or ".." in parts or ":" in parts[0]:
        return None
    return "/".join(parts)


def _check(total: int, count: int, packed: int, limits: Limits) -> None:
    if count > limits.max_members:
        raise ArchiveError("archive_too_many_members", f"more than {limits.max_members} members")
    if total > limits.max_total_bytes:
        raise ArchiveError("archive_too_large", f"more than {limits.max_total_bytes} bytes uncompressed")
    if packed and total > 1024**2 and total / packed > limits.max_ratio:
        raise ArchiveError("archive_bomb", f"compression ratio {total / packed:.0f} over {limits.max_ratio:.0f}")


def _copy_limited(source: object, target: Path, budget: int) -> int:
    written = 0
    with target.open("wb") as out:
        while block := source.read(1 << 20):  # type: ignore[attr-defined]
            written += len(block)
            if written > budget:
                raise ArchiveError("archive_too_large", "uncompressed size over the limit while extracting")
            out.write(block)
    return written


def expand(path: Path, target: Path, limits: Limits) -> Expanded:
    """Expand `path` into `target` (once; a marker file records completion).

    Raises:
        ArchiveError: corrupt, encrypted or over a limit (nothing of it is kept then).
    """
    if (target / DONE).exists():
        return Expanded(
            sorted(p.relative_to(target).as_posix() for p in target.rglob("*") if p.is_file() and p.name != DONE)
        )
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    try:
        result = _expand(path, target, limits, archive_kind(path))
    except ArchiveError:
        shutil.rmtree(target, ignore_errors=True)
        raise
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError, gzip.BadGzipFile) as exc:
        shutil.rmtree(target, ignore_errors=True)
        raise ArchiveError("corrupt_archive", str(exc)[:300]) from exc
    (target / DONE).write_text("")
    return result


def _expand(path: Path, target: Path, limits: Limits, kind: str | None) -> Expanded:
    result = Expanded()
    packed = path.stat().st_size
    if kind == "gz":
        single = path.stem or "member"
        with gzip.open(path) as packed_file:
            _copy_limited(packed_file, target / single, limits.max_total_bytes)
        result.members.append(single)
        return result
    if kind == "zip":
        with zipfile.ZipFile(path) as archive:
            infos = [i for i in archive.infolist() if not i.is_dir()]
            _check(sum(i.file_size for i in infos), len(infos), packed, limits)
            if any(i.flag_bits & 0x1 for i in infos):
                raise ArchiveError("encrypted", "password-protected ZIP")
            budget = limits.max_total_bytes
            for info in infos:
                name = safe_member(info.filename)
                if name is None:
                    result.refused.append((info.filename, "unsafe_archive_path"))
                    continue
                (target / name).parent.mkdir(parents=True, exist_ok=True)
                with archive.open(info) as member_file:
                    budget -= _copy_limited(member_file, target / name, budget)
                result.members.append(name)
        return result
    with tarfile.open(path) as archive:
        members = [m for m in archive.getmembers() if not m.isdir()]
        _check(sum(m.size for m in members), len(members), packed, limits)
        budget = limits.max_total_bytes
        for member in members:
            name = safe_member(member.name)
            if name is None or not member.isfile():
                result.refused.append((member.name, "unsafe_archive_path" if name is None else "archive_link"))
                continue
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            source = archive.extractfile(member)
            if source is not None:
                budget -= _copy_limited(source, target / name, budget)
                result.members.append(name)
    return result
