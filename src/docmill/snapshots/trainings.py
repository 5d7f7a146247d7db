"""The training registry: which dataset version each model run was trained on, kept in git next to the DVC
pointers (`data/datasets/trainings/<id>.json`, one commit per record) and in the audit trail.

A record links a model run to its dataset version by every identity that matters for reproduction: the tag,
DVC's content hash of the folder, the git commit of the data repository, the pipeline config hash and code
version that made the chunks, the snapshot request hash, and the hash of the training parameters. Its id is
derived from (model, run id, dataset tag), so recording the same run again updates its record.
"""

from __future__ import annotations

import datetime
import getpass
import json
import socket
from pathlib import Path
from typing import Any

import yaml

from docmill import __version__
from docmill.records import sha256_hex
from docmill.snapshots.core import read_manifest, resolve
from docmill.snapshots.spec import SnapshotError
from docmill.state.audit import AuditLog
from docmill.state.datarepo import DataRepo

FOLDER = "trainings"


def load_values(path: Path | None) -> dict[str, Any]:
    """Training parameters or metrics from a JSON or YAML file (None: empty).

    Raises:
        SnapshotError: when the file is missing or not a mapping.
    """
    if path is None:
        return {}
    if not path.is_file():
        raise SnapshotError(f"no such file: {path}")
    data = yaml.safe_load(path.read_text(encoding="utf-8"))  # YAML is a superset of JSON
    if not isinstance(data, dict):
        raise SnapshotError(f"{path} must hold a mapping of names to values")
    return data


class TrainingRegistry:
    """Records of model runs and the dataset versions they used."""

    def __init__(self, repo: DataRepo, audit: AuditLog) -> None:
        self.repo = repo
        self.audit = audit
        self.folder = repo.root / FOLDER

    def record(
        self,
        model: str,
        dataset: str,
        run_id: str | None = None,
        params: dict[str, Any] | None = None,
        metrics: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Record that `model` (run `run_id`) was trained on `dataset` (`NAME@vN`, or `NAME` for its newest
        version); commits the record to the data repository and appends a `training_recorded` audit entry.
        The caller holds the data folder's lock.

        Raises:
            SnapshotError: when the dataset version does not exist.
        """
        tag = resolve(self.repo, dataset)
        info = self.repo.tag_info(tag)
        manifest = read_manifest(self.repo, tag)
        now = datetime.datetime.now(datetime.UTC).isoformat(timespec="microseconds")
        ident = sha256_hex(json.dumps([model, run_id or now, tag]))[:16]
        params = params or {}
        record = {
            "id": ident,
            "model": model,
            "run_id": run_id,
            "dataset": tag.rsplit("@v", 1)[0],
            "dataset_tag": tag,
            "dataset_version": info["version"],
            "data_git_rev": info["git_rev"],
            "config_hash": manifest.get("config_hash"),
            "request_hash": manifest.get("request_hash"),
            "dataset_code_version": manifest.get("code_version"),
            "code_version": __version__,
            "params": params,
            "params_hash": sha256_hex(json.dumps(params, sort_keys=True, default=str))[:16],
            "metrics": metrics or {},
            "recorded_at": now,
            "actor": f"{getpass.getuser()}@{socket.gethostname()}",
        }
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{ident}.json"
        path.write_text(json.dumps(record, indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8")
        record["registry_commit"] = self.repo.commit_paths(
            [f"{FOLDER}/{ident}.json"], f"training {ident}: {model} on {tag}"
        )
        fields = {k: record[k] for k in ("id", "model", "run_id", "dataset_tag", "dataset_version", "data_git_rev")}
        self.audit.append("training_recorded", **fields, config_hash=record["config_hash"])
        return record

    def all(self) -> list[dict[str, Any]]:
        """Every record, oldest first."""
        if not self.folder.is_dir():
            return []
        records = [json.loads(p.read_text(encoding="utf-8")) for p in self.folder.glob("*.json")]
        return sorted(records, key=lambda r: (r["recorded_at"], r["id"]))

    def find(self, model: str | None = None, dataset: str | None = None) -> list[dict[str, Any]]:
        """Records of a model (which datasets it was trained on) and/or of a dataset (`NAME` for any of its
        versions, `NAME@vN` for one: which models used it)."""
        out = self.all()
        if model:
            out = [r for r in out if r["model"] == model]
        if dataset:
            key = "dataset_tag" if "@v" in dataset else "dataset"
            out = [r for r in out if r[key] == dataset]
        return out

    def get(self, ident: str) -> dict[str, Any]:
        """One record by id (or unique id prefix).

        Raises:
            SnapshotError: when no record or several match.
        """
        found = [r for r in self.all() if r["id"].startswith(ident)]
        if len(found) != 1:
            raise SnapshotError(f"{'no' if not found else 'more than one'} training record matches {ident!r}")
        return found[0]
