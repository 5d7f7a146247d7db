"""Files that hold other files: archives (ZIP, tar, gzip, bzip2, xz) and e-mails with attachments.

Their members are written under `data/derived/<container sha256>/` (once per content) and ingested as files
of their own with source `<container uri>!/<member>`, so every member is a document with lineage back to its
container. An archive's own document becomes a `container`; an e-mail stays a document (its body).

The whole tree of one top-level item (archives in archives, attachments of e-mails in archives) is expanded
at once against one `Budget`: a tree over a limit refuses the top-level item and removes every folder this
expansion wrote. Each top-level item's expansion is one step of the step runner (`expand`), so an unexpected
error in one archive quarantines that archive and the others go on.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from docmill.config.settings import Settings
from docmill.isolation import steps
from docmill.records import FileItem, Reject, SourceFile
from docmill.sources.archives import DONE, ArchiveError, Budget, Limits, TreeLimit, archive_kind, expand
from docmill.sources.attachments import extract_attachments
from docmill.sources.folder import sha256_file

MAIL = {".eml", ".msg"}


@dataclass(slots=True)
class Tree:
    """What the expansion of top-level items gave: members at every depth (to ingest), the sha256 of those
    already hashed, the members that are archives themselves, and rejects (recorded after the members)."""

    members: list[FileItem] = field(default_factory=list)
    hashes: dict[str, str] = field(default_factory=dict)
    containers: list[str] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)

    def hasher(self, path: str) -> str:
        """The sha256 of a member (computed while expanding when it is a container), else of the file."""
        return self.hashes.get(path) or sha256_file(path)

    def add(self, other: Tree) -> None:
        """Take in another item's tree."""
        self.members += other.members
        self.hashes.update(other.hashes)
        self.containers += other.containers
        self.rejects += other.rejects


@dataclass(slots=True)
class _Walk:
    """The expansion of one top-level item: its budget, what it found, and the folders it created."""

    data_dir: Path
    budget: Budget
    max_depth: int
    tree: Tree = field(default_factory=Tree)
    created: list[Path] = field(default_factory=list)

    def visit(self, source: SourceFile, depth: int) -> None:
        """Expand `source` (an archive or an e-mail; anything else is left alone) and its members, depth first.

        Raises:
            TreeLimit: the tree went over a limit.
        """
        kind = archive_kind(Path(source.path))
        if kind is None and source.extension not in MAIL:
            return
        if depth >= self.max_depth:
            if kind is not None:
                message = f"nested deeper than {depth} containers"
                reject = Reject("ingest", "archive_too_deep", message, source.doc_id, source.source_uri)
                self.tree.rejects.append(reject)
            return
        target = self.data_dir / "derived" / source.doc_id
        if not (target / DONE).exists():
            self.created.append(target)
        try:
            names = self._members(source, target, kind)
        except TreeLimit:
            raise
        except ArchiveError as exc:  # this archive only: the rest of the tree goes on
            self.tree.rejects.append(Reject("ingest", exc.reason, exc.message, source.doc_id, source.source_uri))
            return
        for name in names:
            path = target / name
            stat = path.stat()
            uri = f"{source.source_uri}!/{name}"
            self.tree.members.append(FileItem(uri, str(path), name, stat.st_size, stat.st_mtime))
            if archive_kind(path) is not None or path.suffix.lower() in MAIL:
                digest = self.tree.hashes[str(path)] = sha256_file(str(path))
                member = SourceFile(uri, str(path), stat.st_size, stat.st_mtime, digest, path.suffix.lower())
                self.visit(member, depth + 1)

    def _members(self, source: SourceFile, target: Path, kind: str | None) -> list[str]:
        if kind is None:  # an e-mail: its attachments (bounded by the message's own size)
            try:
                names = extract_attachments(Path(source.path), source.extension, target)
            except Exception as exc:  # a broken message: its body parse will say more; keep going
                message = str(exc)[:300]
                self.tree.rejects.append(
                    Reject("ingest", "attachments_unreadable", message, source.doc_id, source.source_uri)
                )
                return []
            for name in names:
                self.budget.member(source.source_uri)
                self.budget.grow((target / name).stat().st_size, source.source_uri)
            return names
        expanded = expand(Path(source.path), target, self.budget)
        self.tree.containers.append(source.doc_id)
        self.tree.rejects += [
            Reject("ingest", reason, f"archive member {name!r} refused", source_uri=f"{source.source_uri}!/{name}")
            for name, reason in expanded.refused
        ]
        return expanded.members

    def discard(self) -> None:
        """Remove every folder this expansion created."""
        for folder in self.created:
            shutil.rmtree(folder, ignore_errors=True)


def _expand_one(settings: Settings, source: SourceFile, limits: Limits) -> Tree | Reject:
    """The tree of one top-level item, or its reject when the tree went over a limit (nothing of it kept)."""
    cfg = settings.ingest
    walk = _Walk(settings.paths.data_dir, Budget(limits, source.size), cfg.archive_max_depth)
    try:
        walk.visit(source, 0)
    except TreeLimit as exc:
        walk.discard()
        return Reject("ingest", exc.reason, exc.message, source.doc_id, source.source_uri)
    except BaseException:
        walk.discard()
        raise
    return walk.tree


def expand_containers(settings: Settings, pairs: list[tuple[SourceFile, str]]) -> Tree:
    """The members of the archives and e-mails among freshly ingested top-level files, at every depth, written
    under the data folder. Nothing is recorded here: ingest records the members, then the tree's containers
    and rejects (`docmill.run.ingestion`)."""
    cfg = settings.ingest
    tree = Tree()
    if not cfg.expand_archives:
        return tree
    limits = Limits(cfg.archive_max_members, int(cfg.archive_max_total_mb * 1024**2), cfg.archive_max_ratio)
    for source, _change in pairs:
        who = steps.Item(source.doc_id, source.source_uri)
        outcome = steps.attempt("ingest", "expand", who, partial(_expand_one, settings, source, limits))
        if isinstance(outcome, Tree):
            tree.add(outcome)
        else:
            tree.rejects.append(steps.reject_of(outcome))
    return tree
