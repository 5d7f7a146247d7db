"""Small helpers shared by tests (real stages, real files)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from docmill.config.settings import CleanConfig, ExtractConfig
from docmill.records import Document, SourceFile, StageResult
from docmill.sources.folder import FolderSource, sha256_file
from docmill.stages import clean
from docmill.stages.extract import extract
from docmill.stages.ingest import ingest


def sources_of(folder: Path) -> list[SourceFile]:
    """Ingest a folder from scratch (nothing known)."""
    items = list(FolderSource(folder, ["**/*"], []).list())
    return [source for source, _ in ingest(items, lambda uri: None, sha256_file).records]


def extracted(folder: Path, pool: object) -> tuple[list[Document], dict[str, str]]:
    """Extract a folder; returns documents and {file name: reject reason}."""
    result = extract(sources_of(folder), ExtractConfig(), pool)  # type: ignore[arg-type]
    return result.records, {Path(r.source_uri or "").name: r.reason for r in result.rejects}


def clean_batch(
    docs: list[Document],
    config: CleanConfig,
    canonical: Callable[[str], str | None] = lambda _hash: None,
    near: Any = None,
    **adapters: Any,
) -> StageResult[Document]:
    """The whole clean stage in one process, as the pipeline runs it in two steps around a batch's turn:
    `prepare` (`redactor`, `language`), then `deduplicate` against `canonical` (published texts: none by
    default) and the near-duplicate index `near`."""
    prepared = clean.prepare(docs, config, **adapters)
    return clean.merged(prepared, clean.deduplicate(prepared.records, config, canonical, near))


def cleaned(folder: Path, pool: object) -> list[Document]:
    """Extract and clean a folder."""
    docs, _ = extracted(folder, pool)
    return clean_batch(docs, CleanConfig()).records


def qdrant_points(data: Path, collection: str = "docmill") -> dict[str, dict[str, Any]]:
    """Every point of the embedded Qdrant store under `data`: point id -> payload."""
    from qdrant_client import QdrantClient

    client = QdrantClient(path=str(data / "qdrant"))
    try:
        points, offset = [], None
        while True:
            page, offset = client.scroll(collection, limit=500, offset=offset, with_payload=True)
            points += page
            if offset is None:
                return {str(p.id): p.payload or {} for p in points}
    finally:
        client.close()


def qdrant_records(data: Path, collection: str = "docmill") -> dict[str, tuple[list[float], dict[str, Any]]]:
    """Every point of a collection of the embedded store under `data`: point id -> (dense vector, payload)."""
    from qdrant_client import QdrantClient

    client = QdrantClient(path=str(data / "qdrant"))
    try:
        out: dict[str, tuple[list[float], dict[str, Any]]] = {}
        offset = None
        while True:
            page, offset = client.scroll(collection, limit=500, offset=offset, with_payload=True, with_vectors=True)
            out.update({str(p.id): (list(p.vector["dense"]), p.payload or {}) for p in page})  # type: ignore[index,call-overload]
            if offset is None:
                return out
    finally:
        client.close()


def comparable(value: Any, base: Path) -> Any:
    """A payload (or any JSON value) with its corpus folder replaced and run-specific fields (run id, the
    copy-time mtime) dropped: two runs over two copies of one corpus must agree on everything else."""
    if isinstance(value, dict):
        return {k: comparable(v, base) for k, v in value.items() if k not in {"run_id", "file_mtime"}}
    if isinstance(value, str):
        root = base.resolve()
        return value.replace(root.as_uri(), "<base>").replace(str(root), "<base>")
    return value


def audit_keyring(data: Path) -> Any:
    """The audit keys a run with data folder `data` created (`<data>/secrets/audit.key`), unless
    DOCMILL_AUDIT_KEY is set."""
    from docmill.state.audit_keys import load_keyring

    return load_keyring("DOCMILL_AUDIT_KEY", data / "secrets" / "audit.key", create=False)


def rechain_plain(log: Path, edit: dict[str, Any], line: int, keep_key_field: bool = False) -> None:
    """What a forger with write access to the data folder but not the audit key does: edit one entry of the
    trail `log`, recompute every hash with plain sha256 and rewrite the head file."""
    import hashlib
    import json

    entries = [json.loads(x) for x in log.read_text().splitlines()]
    entries[line].update(edit)
    prev = "0" * 64
    for entry in entries:
        if not keep_key_field:
            entry.pop("key", None)
        entry["prev"] = prev
        body = {k: v for k, v in entry.items() if k != "hash"}
        entry["hash"] = prev = hashlib.sha256(
            json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
        ).hexdigest()
    log.write_text("".join(json.dumps(e, sort_keys=True, separators=(",", ":")) + "\n" for e in entries))
    log.with_name(log.name + ".head").write_text(f"{entries[-1]['seq']} {prev}\n")


def alive(pid: int) -> bool:
    """True while `pid` runs (a zombie waiting for its parent to reap it has stopped)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"
