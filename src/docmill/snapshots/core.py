"""Cut, list, show and restore dataset snapshots for fine-tuning runs.

A snapshot `NAME` lives in the data repository (`data/datasets/NAME/`, DVC-tracked; `NAME.dvc` in git, tags
`NAME@vN`). Its files are a deterministic function of the catalog's chunks and the request: the manifest
holds no clock time (git keeps when a version was made), so cutting the same content again yields the same
DVC hash and the existing tag, and no new version.
"""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from docmill import __version__
from docmill.records import config_hash
from docmill.snapshots.export import JSONL_COLUMNS, parquet_schema, write_files
from docmill.snapshots.spec import SnapshotError, SnapshotFilter, SnapshotRequest
from docmill.snapshots.stats import SnapshotStats
from docmill.state.audit import AuditLog
from docmill.state.audit_check import anchor_trailer
from docmill.state.catalog import DUPLICATE_REASONS, Catalog
from docmill.state.datarepo import DataRepo, file_sha256

log = logging.getLogger(__name__)
MANIFEST = "manifest.json"
CARD_HTML = "card.html"  # and README.md (`hfcard.README`): the Markdown card with Hugging Face front matter


@dataclass(frozen=True, slots=True)
class SnapshotResult:
    """What `create` made: the tag, DVC version id, whether it is new, and the counts."""

    name: str
    tag: str
    version: str
    new: bool
    rows: int
    documents: int
    splits: dict[str, dict[str, int]]

    def as_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return asdict(self)


def _catalog_facts(catalog: Catalog, stats: SnapshotStats, filters: SnapshotFilter) -> dict[str, Any]:
    """Lineage (runs that made the chunks, with their config hash and code version) and the quarantine and
    dedup counts of the sources the snapshot's source filter covers."""
    runs: dict[str, dict[str, Any]] = {}
    for run_id, chunks in stats.runs.items():
        found = catalog.run(run_id)
        runs[run_id] = {"chunks": chunks, **{k: found[k] if found else None for k in ("config_hash", "code_version")}}
    quarantine: dict[str, int] = {}
    dedup: dict[str, int] = {}
    for row in catalog.quarantine():
        if filters.sources and filters.reason_excluded({"source_uri": row["source_uri"] or ""}) == "source":
            continue
        key = f"{row['stage']}/{row['reason']}"
        target = dedup if row["reason"] in DUPLICATE_REASONS else quarantine
        target[key] = target.get(key, 0) + 1
    latest = max(runs.items(), key=lambda kv: kv[1]["chunks"])[1] if runs else {}
    return {
        "lineage": {"runs": dict(sorted(runs.items()))},
        "config_hash": latest.get("config_hash"),
        "pipeline_code_version": latest.get("code_version"),
        "quarantine": dict(sorted(quarantine.items())),
        "dedup": dict(sorted(dedup.items())),
    }


def build_manifest(
    request: SnapshotRequest, stats: SnapshotStats, files: list[str], folder: Path, dimension: int, facts: dict
) -> dict[str, Any]:
    """The manifest of a snapshot: request, content summary, files with their sha256, lineage, versions."""
    from docmill.run.lineage import component_versions

    summary = stats.summary()
    summary["lineage"] = {
        **facts.pop("lineage"),
        "parsers": summary.pop("parsers"),
        "models": summary.pop("models"),
        "chunk_configs": summary.pop("chunk_configs"),
    }
    summary.pop("runs")
    return {
        "dataset": request.name,
        "request": request.model_dump(mode="json"),
        "request_hash": config_hash(request.model_dump(mode="json", exclude={"push"})),
        "files": {
            name: {"sha256": file_sha256(folder / name), "bytes": (folder / name).stat().st_size} for name in files
        },
        "columns": {
            "parquet": parquet_schema(dimension).names if "parquet" in request.formats else [],
            "jsonl": list(JSONL_COLUMNS) if "jsonl" in request.formats else [],
        },
        "embedding_dimension": dimension,
        **summary,
        **facts,
        "code_version": __version__,
        "components": {k: v for k, v in component_versions().items() if k in ("docmill", "dvc", "pyarrow")},
    }


def create_snapshot(
    catalog: Catalog, repo: DataRepo, audit: AuditLog, request: SnapshotRequest, roots: list[Path], page: int = 2000
) -> SnapshotResult:
    """Cut a snapshot version from the catalog's current chunks (the caller holds the data folder's lock).

    Raises:
        SnapshotError: when no chunk passes the filters.
    """
    from docmill.snapshots.card import render_html, render_markdown
    from docmill.snapshots.hfcard import README, readme

    target = repo.dataset_dir(request.name)
    staging = target.with_name(target.name + ".staging")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    stats = SnapshotStats(roots)
    files, dimension = write_files(catalog.iter_chunks(page), request, staging, stats)
    if not stats.rows:
        shutil.rmtree(staging)
        raise SnapshotError(f"no chunk matches the filters of {request.name} (excluded: {dict(stats.excluded)})")
    facts = _catalog_facts(catalog, stats, request.filters)
    manifest = build_manifest(request, stats, files, staging, dimension, facts)
    (staging / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    card = render_markdown(manifest, None, request.name)
    (staging / README).write_text(readme(manifest, card), encoding="utf-8")
    (staging / CARD_HTML).write_text(render_html(manifest, None, request.name), encoding="utf-8")
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    before = set(repo.tags(request.name))
    message = f"snapshot {request.name}: {stats.rows} chunks of {stats.documents} documents"
    message += f"\n\n{anchor_trailer(audit.head())}"  # the audit trail's head, anchored in git (audit_check)
    version_id, tag = repo.commit_version(request.name, message, request.push)
    new = tag not in before
    if new:
        audit.append(
            "snapshot_created",
            dataset=request.name,
            tag=tag,
            version=version_id,
            rows=stats.rows,
            documents=stats.documents,
            request_hash=manifest["request_hash"],
            filters=request.filters.model_dump(mode="json", exclude_defaults=True),
        )
    log.info("snapshot %s: %s (%s, %s)", request.name, tag, version_id, "new" if new else "unchanged")
    splits = {name: {k: int(v) for k, v in counts.items()} for name, counts in manifest["splits"].items()}
    return SnapshotResult(request.name, tag, version_id, new, stats.rows, stats.documents, splits)


def resolve(repo: DataRepo, ref: str) -> str:
    """`NAME@vN` as given, or `NAME` -> its newest tag.

    Raises:
        SnapshotError: when there is no such version.
    """
    if "@v" in ref:
        if ref not in repo.tags(ref.rsplit("@v", 1)[0]):
            raise SnapshotError(f"no dataset version {ref}")
        return ref
    tags = repo.tags(ref)
    if not tags:
        raise SnapshotError(f"no dataset named {ref} (see `docmill snapshot list`)")
    return tags[-1]


def read_manifest(repo: DataRepo, tag: str) -> dict[str, Any]:
    """A version's manifest (from the local cache, or the remote when the cache lacks it)."""
    return dict(json.loads(repo.read_file(tag, MANIFEST)))


def list_versions(repo: DataRepo) -> list[dict[str, str]]:
    """Every version of every dataset in the repository (tag, version id, git commit, time)."""
    names = sorted({p.stem for p in repo.root.glob("*.dvc")})
    return [repo.tag_info(tag) for name in names for tag in repo.tags(name)]


def show(repo: DataRepo, ref: str) -> dict[str, Any]:
    """A version's git/DVC identity and manifest."""
    tag = resolve(repo, ref)
    return {**repo.tag_info(tag), "manifest": read_manifest(repo, tag)}


def checkout(repo: DataRepo, audit: AuditLog, ref: str) -> dict[str, Any]:
    """Restore a version's files in `data/datasets/NAME/` byte for byte and check them against its manifest.

    Raises:
        SnapshotError: when a restored file's sha256 differs from the manifest's.
    """
    tag = resolve(repo, ref)
    folder = repo.checkout(tag)
    manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    for name, facts in manifest["files"].items():
        if file_sha256(folder / name) != facts["sha256"]:
            raise SnapshotError(f"{folder / name} does not match the manifest of {tag}")
    info = repo.tag_info(tag)
    audit.append("snapshot_checked_out", dataset=tag.rsplit("@v", 1)[0], tag=tag, version=info["version"])
    return {**info, "folder": str(folder), "files": sorted(manifest["files"])}
