"""The data repository: a git repo with DVC in `data/datasets/`, holding dataset pointer files.

Each dataset lives in `<name>/` (DVC-tracked, git-ignored by DVC); `<name>.dvc` is committed to git and every
new version is tagged `<name>@v<N>`. The version id is DVC's content hash of the folder. A new version's
files are written here too: staged in `<name>.staging/`, then put in place of the current folder
(`stage_parquet`, `publish_staged`).

Size: a little over 300 lines; it is the one owner of `data/datasets/` (writing, committing, tagging, reading and
restoring versions), and splitting that would hand the folder's layout to two modules.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from docmill.isolation.faults import checkpoint

if TYPE_CHECKING:
    import pyarrow as pa

log = logging.getLogger(__name__)

_GITIGNORE = """\
# half-written dataset versions
*.staging/
"""


class DataRepo:
    """git + DVC operations on the data repository."""

    def __init__(
        self, root: Path, remote_name: str, remote_url: str, remote_options: dict[str, str] | None = None
    ) -> None:
        self.root = root.resolve()
        self.remote_name = remote_name
        self.remote_url = remote_url if "://" in remote_url else str(Path(remote_url).resolve())
        self.remote_options = remote_options or {}  # e.g. S3 endpointurl/region; never credentials

    @classmethod
    def from_settings(cls, settings: Any) -> DataRepo:
        """The data repository under `<data_dir>/datasets` with the configured remote: a folder remote is
        resolved against the data folder (empty: `<data_dir>/dvc-remote`), never against the working folder,
        so two data folders never push into one remote by accident."""
        cfg, data_dir = settings.version, settings.paths.data_dir
        url = cfg.remote_url if "://" in cfg.remote_url else str(data_dir / (cfg.remote_url or "dvc-remote"))
        return cls(data_dir / "datasets", cfg.remote_name, url, cfg.remote_options())

    def _git(self, *args: str) -> str:
        env = {
            **os.environ,
            "GIT_AUTHOR_NAME": "docmill",
            "GIT_AUTHOR_EMAIL": "docmill@localhost",
            "GIT_COMMITTER_NAME": "docmill",
            "GIT_COMMITTER_EMAIL": "docmill@localhost",
        }
        proc = subprocess.run(
            ["git", "-C", str(self.root), *args], capture_output=True, text=True, env=env, check=False
        )
        if proc.returncode != 0:
            raise RuntimeError(f"git {' '.join(args)} failed in {self.root}: {proc.stderr.strip()}")
        return proc.stdout.strip()

    def ensure(self) -> None:
        """Initialise git and DVC in the data folder and configure the default remote (idempotent)."""
        from dvc.repo import Repo

        self.root.mkdir(parents=True, exist_ok=True)
        if not (self.root / ".git").exists():
            self._git("init", "-q", "-b", "main")
        if not (self.root / ".gitignore").exists():
            (self.root / ".gitignore").write_text(_GITIGNORE)
        if not (self.root / ".dvc").exists():
            Repo.init(str(self.root)).close()
        with Repo(str(self.root)) as repo, repo.config.edit() as conf:
            conf["core"]["analytics"] = False
            conf["core"]["autostage"] = True
            conf["core"]["remote"] = self.remote_name
            conf["remote"][self.remote_name] = {"url": self.remote_url, **self.remote_options}
        if self.remote_url.startswith("/"):
            Path(self.remote_url).mkdir(parents=True, exist_ok=True)
        self._git("add", "-A")
        if self._git("status", "--porcelain"):
            self._git("commit", "-q", "-m", "docmill: initialise data repository")

    def dataset_dir(self, name: str) -> Path:
        """Folder of a dataset's current version."""
        return self.root / name

    def staging_dir(self, name: str) -> Path:
        """Folder where the next version of a dataset is written before it replaces the current one (git-ignored:
        a run killed while writing leaves the current version untouched)."""
        target = self.dataset_dir(name)
        return target.with_name(target.name + ".staging")

    def stage_parquet(
        self, name: str, file: str, schema: pa.Schema, tables: Iterable[pa.Table], row_group: int
    ) -> tuple[int, str]:
        """Start the next version of a dataset in a fresh staging folder with one Parquet file (zstd) streamed
        from `tables`, one table at a time; returns its rows and its sha256."""
        import pyarrow.parquet as pq

        staging = self.staging_dir(name)
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        rows = 0
        with pq.ParquetWriter(staging / file, schema, compression="zstd") as writer:
            for table in tables:
                writer.write_table(table, row_group_size=row_group)
                rows += table.num_rows
        return rows, file_sha256(staging / file)

    def discard_staged(self, name: str) -> None:
        """Drop the staged version of a dataset (its data equals the current version's)."""
        shutil.rmtree(self.staging_dir(name))

    def publish_staged(self, name: str, texts: Mapping[str, str]) -> None:
        """Add text files (`file name -> content`, e.g. the manifest) to the staged version of a dataset and put it
        in place of the current one (not yet committed: `commit_version`)."""
        staging, target = self.staging_dir(name), self.dataset_dir(name)
        for file, text in texts.items():
            (staging / file).write_text(text)
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)

    def manifest(self, name: str) -> dict[str, Any] | None:
        """The current version's manifest, if any."""
        path = self.dataset_dir(name) / "manifest.json"
        return json.loads(path.read_text()) if path.exists() else None

    def version_id(self, name: str) -> str | None:
        """DVC's hash of the dataset folder as committed, or None before the first version."""
        pointer = self.root / f"{name}.dvc"
        if not pointer.exists():
            return None
        outs = yaml.safe_load(pointer.read_text())["outs"][0]
        return str(outs["md5"])

    def commit_version(
        self, name: str, message: str, push: bool, audit_head: Mapping[str, Any] | None = None
    ) -> tuple[str, str]:
        """`dvc add` the dataset folder, commit the pointer, tag `<name>@vN`, push. Returns (version id, tag).
        `audit_head` (the trail's head: `seq`, `hash`) is anchored as a git trailer of the commit
        (`docmill.state.audit_check.anchor_trailer`).

        The caller must hold the data folder's run lock (`RunContext.start_run`): a git `index.lock` found here
        was left by a killed run and is removed."""
        from dvc.repo import Repo

        stale = self.root / ".git" / "index.lock"
        if stale.exists():  # left by a run killed inside git; the caller holds the data folder's run lock
            log.warning("removing stale %s left by an interrupted run", stale)
            stale.unlink()
        with Repo(str(self.root)) as repo:
            repo.add(str(self.dataset_dir(name)))
            checkpoint("version")
            if push:
                repo.push(remote=self.remote_name)
        if audit_head:
            from docmill.state.audit_check import anchor_trailer

            message += f"\n\n{anchor_trailer((int(audit_head['seq']), str(audit_head['hash'])))}"
        self._git("add", f"{name}.dvc", ".gitignore")
        if self._git("status", "--porcelain", "--", f"{name}.dvc", ".gitignore"):
            self._git("commit", "-q", "-m", message)
        tag = self._tag_of_pointer(name)
        if tag is None:
            numbers = [
                int(t.rsplit("@v", 1)[1])
                for t in self._git("tag", "--list", f"{name}@v*").split()
                if t.rsplit("@v", 1)[1].isdigit()
            ]
            tag = f"{name}@v{max(numbers, default=0) + 1}"
            self._git("tag", tag)
        version = self.version_id(name)
        assert version is not None
        return version, tag

    def _tag_of_pointer(self, name: str) -> str | None:
        """The tag of the committed pointer: the tag on its commit, else an older tag of the same content (a
        dataset that went back to an earlier version's bytes gets that version back, not a new number)."""
        last = self._git("log", "-1", "--format=%H", "--", f"{name}.dvc")
        tags = self._git("tag", "--list", f"{name}@v*", "--points-at", last).split() if last else []
        if tags:
            return tags[0]
        current = self.version_id(name)
        return next((t for t in self.tags(name) if self.tag_hash(t) == current), None) if current else None

    def tags(self, name: str) -> list[str]:
        """The dataset's version tags, oldest first."""
        found = self._git("tag", "--list", f"{name}@v*").split()
        return sorted((t for t in found if t.rsplit("@v", 1)[1].isdigit()), key=lambda t: int(t.rsplit("@v", 1)[1]))

    def tag_hash(self, tag: str) -> str:
        """DVC hash (the version id) of the dataset folder at a tag."""
        name = tag.rsplit("@v", 1)[0]
        return str(yaml.safe_load(self._git("show", f"{tag}:{name}.dvc"))["outs"][0]["md5"])

    def tag_info(self, tag: str) -> dict[str, str]:
        """Version id, git commit and commit time (UTC, ISO 8601) of a tag.

        Raises:
            KeyError: when the tag does not exist.
        """
        if tag not in self._git("tag", "--list", tag).split():
            raise KeyError(f"no dataset version {tag} in {self.root}")
        rev = self._git("rev-list", "-n", "1", tag)
        when = self._git("log", "-1", "--format=%cd", "--date=iso-strict", rev)
        return {"tag": tag, "version": self.tag_hash(tag), "git_rev": rev, "created": when}

    def read_file(self, tag: str, relpath: str) -> bytes:
        """A file of a dataset version, from the local DVC cache or else the remote (nothing is checked out).

        Raises:
            FileNotFoundError: neither the local cache nor the remote holds the file (what to check is named).
        """
        import dvc.api
        from dvc.exceptions import DvcException

        name = tag.rsplit("@v", 1)[0]
        try:
            return bytes(dvc.api.read(f"{name}/{relpath}", repo=str(self.root), rev=tag, mode="rb"))
        except DvcException as exc:
            raise FileNotFoundError(
                f"{name}/{relpath} of {tag} is in neither the DVC cache ({self.root / '.dvc' / 'cache'}) nor the "
                f"remote {self.remote_name!r}: {type(exc).__name__}"
            ) from exc

    def checkout(self, tag: str) -> Path:
        """Restore a dataset version in its folder byte for byte (pointer from git, files from the local
        cache or, when they are gone, the remote); returns the folder. The caller holds the run lock."""
        from dvc.repo import Repo

        name = tag.rsplit("@v", 1)[0]
        self.tag_info(tag)  # a clear error for an unknown tag
        self._git("checkout", tag, "--", f"{name}.dvc")
        with Repo(str(self.root)) as repo:
            repo.pull(targets=[str(self.root / f"{name}.dvc")], remote=self.remote_name, force=True)
        return self.dataset_dir(name)

    def commit_paths(self, paths: list[str], message: str) -> str:
        """Commit plain git files of the data repository (e.g. the training registry); returns the commit."""
        self._git("add", "--", *paths)
        if self._git("status", "--porcelain", "--", *paths):
            self._git("commit", "-q", "-m", message, "--", *paths)
        return self._git("rev-parse", "HEAD")

    def is_committed(self, name: str) -> bool:
        """True when the dataset's pointer is committed and tagged (a finished version)."""
        dirty = self._git("status", "--porcelain", "--", f"{name}.dvc")
        return not dirty and self._tag_of_pointer(name) is not None

    def current_tag(self, name: str) -> str | None:
        """The newest `<name>@vN` tag, if any."""
        tags = self._git("tag", "--list", f"{name}@v*", "--sort=-v:refname").splitlines()
        return tags[0] if tags else None

    def exists(self) -> bool:
        """True once the data repository has been initialised."""
        return (self.root / ".git").is_dir() and (self.root / ".dvc").is_dir()

    def versions_containing(self, chunk_id: str) -> list[str]:
        """Tags (`<name>@vN`, oldest first) whose dataset holds the chunk (the pipeline's `chunks.parquet` or a
        snapshot's per-split Parquet/JSONL files), read from the local DVC cache (a version whose files are not
        in the cache any more is listed as `<tag> (not in local cache)`)."""
        found = []
        for tag in self._git("tag", "--list", "*@v*", "--sort=v:refname").split():
            listing = self._cached(self.tag_hash(tag))
            if listing is None:
                found.append(f"{tag} (not in local cache)")
                continue
            files = {f["relpath"]: f["md5"] for f in json.loads(listing.read_text())}
            data = [self._cached(md5) for rel, md5 in sorted(files.items()) if rel.endswith((".parquet", ".jsonl"))]
            if not data or None in data:
                found.append(f"{tag} (not in local cache)")
            elif any(_holds(path, chunk_id) for path in data if path is not None):
                found.append(tag)
        return found

    def _cached(self, md5: str) -> Path | None:
        path = self.root / ".dvc" / "cache" / "files" / "md5" / md5[:2] / md5[2:]
        return path if md5 and path.is_file() else None

    def status_clean(self) -> bool:
        """True when the DVC-tracked data matches the committed pointers."""
        from dvc.repo import Repo

        with Repo(str(self.root)) as repo:
            return not repo.status()


def file_sha256(path: Path) -> str:
    """sha256 of a file."""
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _holds(path: Path, chunk_id: str) -> bool:
    """True when a cached Parquet or JSONL data file holds the chunk."""
    import pyarrow.parquet as pq

    with path.open("rb") as handle:
        parquet = handle.read(4) == b"PAR1"
    if parquet:
        table = pq.read_table(path, columns=["chunk_id"], filters=[("chunk_id", "=", chunk_id)])
        return bool(table.num_rows)
    needle = f'"chunk_id": "{chunk_id}"'.encode()
    with path.open("rb") as handle:
        return any(needle in line for line in handle)
