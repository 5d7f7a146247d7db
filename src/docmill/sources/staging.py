"""Staging: remote items fetched into the content-addressed `data/fetched/<sha256>/<name>` area.

An item whose version marker equals the one the catalog recorded (and whose staged copy is still there) is
not fetched again. A staged copy stays as long as a catalog source points to it (re-processing under new
settings reads it); `prune` removes the others.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path, PurePosixPath
from typing import Any

from docmill.isolation import steps
from docmill.records import FileItem, Reject
from docmill.sources.base import Connector, ItemError, safe_name
from docmill.sources.folder import FolderSource, sha256_file
from docmill.sources.safeopen import open_listed


@dataclass(slots=True)
class Staged:
    """Items with local paths, the sha256 of each staged path, rejects, and counts (`copied`: folder items
    given a new private copy)."""

    items: list[FileItem] = field(default_factory=list)
    hashes: dict[str, str] = field(default_factory=dict)
    rejects: list[Reject] = field(default_factory=list)
    fetched: int = 0
    not_refetched: int = 0
    copied: int = 0

    def hasher(self, path: str) -> str:
        """The sha256 of a staged path (computed while fetching), else of the file."""
        return self.hashes.get(path) or sha256_file(path)


def stage(connector: Connector, items: list[FileItem], known: Mapping[str, Any], root: Path) -> Staged:
    """Give every item a local path: folder items a private copy of the bytes read (and hashed) through a
    descriptor opened without following links (`stage_listed`), remote items the catalog's staged copy when
    their version is unchanged, else fetched. Items that cannot be read become ingest rejects.

    Args:
        connector: the source.
        items: a slice of its listing.
        known: source_uri -> catalog row with `doc_id`, `version`, `path`.
        root: the staging area (`data/fetched`).
    """
    out = Staged()
    for item in items:
        if isinstance(connector, FolderSource):
            work = partial(_listed, connector, item, known.get(item.source_uri), root)
            listed = steps.attempt("ingest", "stage", steps.Item(source_uri=item.source_uri), work)
            if not isinstance(listed, tuple):
                out.rejects.append(steps.reject_of(listed))
                continue
            path, digest, copied = listed
            out.items.append(replace(item, path=path, size=os.path.getsize(path)))
            out.hashes[path] = digest
            out.copied += copied
            continue
        if connector.local or item.path:
            out.items.append(item)
            continue
        row = known.get(item.source_uri)
        if row is not None and item.version and row["version"] == item.version and _present(row["path"]):
            out.items.append(replace(item, path=row["path"], size=os.path.getsize(row["path"])))
            out.hashes[row["path"]] = row["doc_id"]
            out.not_refetched += 1
            continue
        fetched = steps.attempt(
            "ingest", "stage", steps.Item(source_uri=item.source_uri), partial(_fetch, connector, item, root)
        )
        if not isinstance(fetched, tuple):
            out.rejects.append(steps.reject_of(fetched))
            continue
        path, digest = fetched
        out.items.append(replace(item, path=path, size=os.path.getsize(path)))
        out.hashes[path] = digest
        out.fetched += 1
    return out


def _listed(connector: FolderSource, item: FileItem, row: Any, root: Path) -> tuple[str, str, bool] | Reject:
    try:
        return stage_listed(connector, item, row, root)
    except ItemError as exc:
        return Reject("ingest", exc.reason, exc.message[:300], source_uri=item.source_uri)


def _fetch(connector: Connector, item: FileItem, root: Path) -> tuple[str, str] | Reject:
    try:
        return fetch_into(connector, item, root)
    except ItemError as exc:
        return Reject("ingest", exc.reason, exc.message[:300], source_uri=item.source_uri)


def stage_listed(connector: FolderSource, item: FileItem, row: Any, root: Path) -> tuple[str, str, bool]:
    """Hash a folder item from a descriptor reached without links (`safeopen.open_listed`) and give it a
    private copy `root/<sha256>/<name>` of exactly those bytes, which the parsers then read: a link swapped in
    after the listing is refused, never followed. An unchanged file whose copy is still there is only hashed;
    a new one is hashed while it is copied (one read). Returns (copy path, sha256, whether it was copied).

    Raises:
        ItemError: the file is not the regular file listed, or cannot be read.
    """
    with open_listed(str(connector.root), item.read_path, item.identity, connector.hardlinks) as fd:
        if row is not None:
            digest = _sha256_fd(fd)
            dest = root / digest / copy_name(item.relative)
            if digest == row["doc_id"] and _present(row["path"]) and Path(row["path"]).parent == dest.parent:
                return str(row["path"]), digest, False
            if dest.is_file():
                return str(dest), digest, False
            os.lseek(fd, 0, os.SEEK_SET)
        path, digest = _copy_fd(fd, item, root)
        return path, digest, True


def hash_listed(connector: FolderSource, item: FileItem) -> str:
    """The sha256 of a folder item, read as `stage_listed` reads it (no link followed, the listed file only).

    Raises:
        ItemError: the file is not the regular file listed, or cannot be read.
    """
    with open_listed(str(connector.root), item.read_path, item.identity, connector.hardlinks) as fd:
        return _sha256_fd(fd)


def copy_name(relative: str) -> str:
    """The private copy's file name: the item's name made safe, its extension kept even when the name is long
    (the extension picks the parser)."""
    name = PurePosixPath(relative.replace("\\", "/")).name
    suffix = safe_name(PurePosixPath(name).suffix.lstrip("."), "")[:20]
    return safe_name(PurePosixPath(name).stem[:120]) + (f".{suffix}" if suffix else "")


def _sha256_fd(fd: int, block: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    while chunk := os.read(fd, block):
        digest.update(chunk)
    return digest.hexdigest()


def _copy_fd(fd: int, item: FileItem, root: Path, block: int = 1 << 20) -> tuple[str, str]:
    """Copy from `fd` into `root/<sha256 of what was read>/<name>`, hashing on the way; the copy keeps the
    file's times (parsers report the modification time as the document's `last_modified`)."""
    partial = root / ".partial"
    partial.mkdir(parents=True, exist_ok=True)
    tmp = partial / uuid.uuid4().hex
    digest = hashlib.sha256()
    try:
        with open(tmp, "wb") as out:
            while chunk := os.read(fd, block):
                digest.update(chunk)
                out.write(chunk)
        info = os.fstat(fd)
        os.utime(tmp, ns=(info.st_atime_ns, info.st_mtime_ns))
        dest = root / digest.hexdigest() / copy_name(item.relative)
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return str(dest), digest.hexdigest()


def _present(path: str | None) -> bool:
    return bool(path) and os.path.isfile(str(path))


def fetch_into(connector: Connector, item: FileItem, root: Path) -> tuple[str, str]:
    """Fetch one item into `root/<sha256>/<name>`; returns (path, sha256). A partial download never lands."""
    partial = root / ".partial"
    partial.mkdir(parents=True, exist_ok=True)
    tmp = partial / uuid.uuid4().hex
    try:
        connector.fetch(item, tmp)
        digest = sha256_file(str(tmp))
        dest = root / digest / copy_name(item.relative)
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return str(dest), digest


def sha256_bytes(data: bytes) -> str:
    """sha256 of bytes (a version marker for small items read during listing)."""
    return hashlib.sha256(data).hexdigest()


def prune(root: Path, referenced: set[str]) -> int:
    """Delete staged copies no catalog source points to; returns how many files went."""
    removed = 0
    if not root.is_dir():
        return 0
    shutil.rmtree(root / ".partial", ignore_errors=True)
    for folder in root.iterdir():
        if not folder.is_dir():
            continue
        for path in folder.iterdir():
            if str(path) not in referenced:
                path.unlink(missing_ok=True)
                removed += 1
        if not any(folder.iterdir()):
            folder.rmdir()
    return removed
