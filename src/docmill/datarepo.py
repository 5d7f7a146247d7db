"""The data repository: a git repo with DVC in `data/datasets/`, holding dataset pointer files.

Each dataset lives in `<name>/` (DVC-tracked, git-ignored by DVC); `<name>.dvc` is committed to git and every
new version is tagged `<name>@v<N>`. The version id is DVC's content hash of the folder.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
from pathlib import Path
from typing import Any

import yaml

from docmill.faults import checkpoint

log = logging.getLogger(__name__)

_GITIGNORE = """\
# half-written dataset versions
*.staging/
"""


class DataRepo:
    """git + DVC operations on the data repository."""

    def __init__(self, root: Path, remote_name: str, remote_url: str) -> None:
        self.root = root.resolve()
        self.remote_name = remote_name
        self.remote_url = remote_url if "://" in remote_url else str(Path(remote_url).resolve())

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
            conf["remote"][self.remote_name] = {"url": self.remote_url}
        if self.remote_url.startswith("/"):
            Path(self.remote_url).mkdir(parents=True, exist_ok=True)
        self._git("add", "-A")
        if self._git("status", "--porcelain"):
            self._git("commit", "-q", "-m", "docmill: initialise data repository")

    def dataset_dir(self, name: str) -> Path:
        """Folder of a dataset's current version."""
        return self.root / name

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

    def commit_version(self, name: str, message: str, push: bool) -> tuple[str, str]:
        """`dvc add` the dataset folder, commit the pointer, tag `<name>@vN`, push. Returns (version id, tag).

        The caller must hold the data folder's run lock (`Runtime.start_run`): a git `index.lock` found here
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
        last = self._git("log", "-1", "--format=%H", "--", f"{name}.dvc")
        tags = self._git("tag", "--list", f"{name}@v*", "--points-at", last).split() if last else []
        return tags[0] if tags else None

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
        """Tags (`<name>@vN`, oldest first) whose dataset holds the chunk, read from the local DVC cache
        (a version whose files are not in the cache any more is listed as `<tag> (not in local cache)`)."""
        import pyarrow.parquet as pq

        found = []
        for tag in self._git("tag", "--list", "*@v*", "--sort=v:refname").split():
            name = tag.rsplit("@v", 1)[0]
            pointer = yaml.safe_load(self._git("show", f"{tag}:{name}.dvc"))
            listing = self._cached(str(pointer["outs"][0]["md5"]))
            if listing is None:
                found.append(f"{tag} (not in local cache)")
                continue
            files = {f["relpath"]: f["md5"] for f in json.loads(listing.read_text())}
            data = self._cached(files.get("chunks.parquet", ""))
            if data is None:
                found.append(f"{tag} (not in local cache)")
                continue
            table = pq.read_table(data, columns=["chunk_id"], filters=[("chunk_id", "=", chunk_id)])
            if table.num_rows:
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
