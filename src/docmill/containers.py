"""Files that hold other files: archives (ZIP, tar, gzip) and e-mails with attachments.

Their members are written under `data/derived/<container sha256>/` (once per content) and ingested as files
of their own with source `<container uri>!/<member>`, so every member is a document with lineage back to its
container. An archive's own document becomes a `container`; an e-mail stays a document (its body).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from docmill.catalog import CONTAINER
from docmill.records import Reject, SourceFile
from docmill.sources.archives import ArchiveError, Limits, archive_kind, expand
from docmill.sources.attachments import extract_attachments
from docmill.sources.folder import FileItem

if TYPE_CHECKING:
    from docmill.runtime import Runtime

MAIL = {".eml", ".msg"}


def _members(rt: Runtime, source: SourceFile, target: Path, limits: Limits) -> tuple[list[str], list[Reject]]:
    """Member names written under `target`, and rejects; raises ArchiveError for a refused container."""
    if source.extension in MAIL:
        try:
            return extract_attachments(Path(source.path), source.extension, target), []
        except Exception as exc:  # a broken message: its body parse will say more; keep going
            return [], [Reject("ingest", "attachments_unreadable", str(exc)[:300], source.doc_id, source.source_uri)]
    expanded = expand(Path(source.path), target, limits)
    with rt.catalog.transaction() as db:
        rt.catalog.set_status(db, source.doc_id, CONTAINER, "ingest", rt.run_id)
    refused = [
        Reject("ingest", reason, f"archive member {name!r} refused", source_uri=f"{source.source_uri}!/{name}")
        for name, reason in expanded.refused
    ]
    return expanded.members, refused


def expand_containers(rt: Runtime, pairs: list[tuple[SourceFile, str]], depth: int) -> list[FileItem]:
    """Members of the archives and e-mails among freshly ingested files, as files to ingest next."""
    cfg = rt.settings.ingest
    if not cfg.expand_archives:
        return []
    limits = Limits(cfg.archive_max_members, int(cfg.archive_max_total_mb * 1024**2), cfg.archive_max_ratio)
    members: list[FileItem] = []
    rejects: list[Reject] = []
    for source, _change in pairs:
        is_archive = archive_kind(Path(source.path)) is not None
        if not is_archive and source.extension not in MAIL:
            continue
        if depth >= cfg.archive_max_depth:
            if is_archive:
                rejects.append(
                    Reject(
                        "ingest",
                        "archive_too_deep",
                        f"nested deeper than {depth} containers",
                        source.doc_id,
                        source.source_uri,
                    )
                )
            continue
        target = rt.settings.paths.data_dir / "derived" / source.doc_id
        try:
            names, refused = _members(rt, source, target, limits)
        except ArchiveError as exc:
            rejects.append(Reject("ingest", exc.reason, exc.message, source.doc_id, source.source_uri))
            continue
        rejects += refused
        for name in names:
            stat = (target / name).stat()
            members.append(
                FileItem(f"{source.source_uri}!/{name}", str(target / name), name, stat.st_size, stat.st_mtime)
            )
    rt.record_rejects(rejects)
    return members
