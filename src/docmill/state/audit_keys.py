"""The audit trail's HMAC keys: who holds them can sign entries, so they live apart from the trail.

Keys come from the environment variable `paths.audit_key_env` (whitespace-separated) or else from the key file
`paths.audit_key` (one per line), the first one current (it signs new entries) and the others retired (they
only verify older entries). The key file must be readable by its owner only (mode 0600): a broader one is
refused. Every entry records the fingerprint of the key that signed it (`key`), so a trail spans rotations.
Rotation (`docmill audit rotate-key`): a new key goes first in the file, the old one stays below it, and an
`audit_key_rotated` entry signed by the new key names the old key's fingerprint.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def fingerprint(key: bytes) -> str:
    """A key's public name: an HMAC of a fixed message under the key (never the key itself)."""
    return hmac.new(key, b"docmill audit key fingerprint", hashlib.sha256).hexdigest()[:16]


@dataclass(frozen=True)
class Keyring:
    """The current audit key and the retired ones, by fingerprint."""

    keys: dict[str, bytes]
    current: str

    @classmethod
    def of(cls, *keys: bytes) -> Keyring:
        """A keyring of `keys`, the first current."""
        if not keys or not all(keys):
            raise ValueError("an audit keyring needs at least one non-empty key")
        return cls({fingerprint(k): k for k in keys}, fingerprint(keys[0]))

    def sign(self, body: bytes, key_id: str | None = None) -> str:
        """HMAC-SHA256 of `body` under the key `key_id` (default: the current key).

        Raises:
            KeyError: for a key this keyring does not hold.
        """
        return hmac.new(self.keys[key_id or self.current], body, hashlib.sha256).hexdigest()


def _check_rights(path: Path) -> None:
    mode = path.stat().st_mode
    if stat.S_IMODE(mode) & 0o077:
        raise PermissionError(
            f"audit key file {path} is readable or writable by others (mode {stat.S_IMODE(mode):o}): "
            f"`chmod 600 {path}`, or keep the key in the environment variable instead"
        )


def _create(path: Path) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return  # created concurrently: read it
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_hex(32) + "\n")
    log.info("created a new audit trail key file at %s", path)


def load_keyring(env_name: str, key_file: Path, create: bool = True) -> Keyring:
    """The audit keys (see the module docstring).

    Args:
        env_name: Environment variable holding the keys (whitespace-separated), used when set and not empty.
        key_file: Otherwise this file; created with one random key (mode 0600, parent 0700) when missing and
            `create`.
        create: False to refuse a missing key (a reader must never invent a key and call a trail forged).

    Raises:
        FileNotFoundError: when the key file is missing and `create` is False.
        PermissionError: when the key file is open to group or others.
        ValueError: when the key file holds no key.
    """
    from_env = os.environ.get(env_name, "").split()
    if from_env:
        return Keyring.of(*(k.encode("utf-8") for k in from_env))
    if not key_file.exists():
        if not create:
            raise FileNotFoundError(
                f"audit key file {key_file} does not exist: set {env_name} or paths.audit_key_file to the key that "
                "signed the trail"
            )
        _create(key_file)
    _check_rights(key_file)
    keys = [line.strip().encode("utf-8") for line in key_file.read_text(encoding="utf-8").splitlines()]
    keys = [k for k in keys if k]
    if not keys:
        raise ValueError(f"audit key file {key_file} holds no key: restore it from your backup, or set {env_name}")
    return Keyring.of(*keys)


def keyring(settings: Any, create: bool = True) -> Keyring:
    """The keyring of `settings.paths` (`audit_key_env`, `audit_key`)."""
    return load_keyring(settings.paths.audit_key_env, settings.paths.audit_key, create)


def rotate(settings: Any) -> tuple[Keyring, str]:
    """Put a new random key first in the key file (the old ones stay, retired); returns the new keyring and the
    retired key's fingerprint.

    Raises:
        RuntimeError: when the keys come from the environment variable (rotate them there).
    """
    paths = settings.paths
    if os.environ.get(paths.audit_key_env, "").strip():
        raise RuntimeError(
            f"the audit keys come from {paths.audit_key_env}: put a new key first in it (keep the old ones after it)"
        )
    old = keyring(settings, create=False)
    new = secrets.token_hex(32)
    path: Path = paths.audit_key
    lines = [new, *(k.decode("utf-8") for k in old.keys.values())]
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write("\n".join(lines) + "\n")
    os.replace(tmp, path)
    return keyring(settings, create=False), old.current
