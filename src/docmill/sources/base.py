"""The connector contract every source implements, and what all connectors share: retries with backoff,
secrets from the environment or a secrets file, and scrubbing of secret values from messages.

A connector lists items (`FileItem`: a source URI without credentials, a stable item id in `relative`, a
version marker such as an etag, row version or mtime, a size, optional metadata) and streams an item's bytes
to a local path. Remote items are listed with an empty `path`; staging (`docmill.sources.staging`) fetches
them into the content-addressed `data/fetched/` area unless the catalog already holds the same version.
Deletions are what the catalog knows under the connector's `scope` (a URI prefix) that a complete listing
did not report.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Protocol, TypeVar, runtime_checkable

from docmill.records import FileItem, Reject

log = logging.getLogger(__name__)
T = TypeVar("T")


def scope_prefix(scope: Path | str) -> str:
    """A source's URI scope: a folder's `file://` URI with a trailing slash, or a connector's scope as is."""
    return scope if isinstance(scope, str) else scope.resolve().as_uri().rstrip("/") + "/"


class SourceUnavailable(RuntimeError):
    """The source as a whole cannot be reached (after retries): the run fails, naming the source."""


class ItemError(Exception):
    """One item cannot be read (permanently): it is quarantined with `reason`, the source keeps going."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message


@runtime_checkable
class Connector(Protocol):
    """What ingest needs from a source."""

    name: str  # the configured name: in messages and in `sources` run parameters
    scope: str  # URI prefix of every item this connector lists (deletions are scoped to it)
    local: bool  # items carry a readable local `path` (no fetch)

    def list_items(self) -> Iterator[FileItem | Reject]:
        """Every item in scope, or an ingest reject for an item that is refused (e.g. `symlink_escape`).

        Raises:
            SourceUnavailable: the source cannot be listed completely.
        """
        ...

    def fetch(self, item: FileItem, dest: Path) -> None:
        """Stream the item's bytes to `dest`.

        Raises:
            ItemError: the item cannot be read (quarantined).
            SourceUnavailable: the source went away.
        """
        ...

    def close(self) -> None:
        """Release connections."""
        ...


class Retry:
    """Call with retries and exponential backoff on transient errors; the source name goes into failures."""

    def __init__(
        self,
        source: str,
        transient: Callable[[BaseException], bool],
        attempts: int = 4,
        base_delay: float = 0.5,
        secrets: tuple[str, ...] = (),
    ) -> None:
        self.source = source
        self.transient = transient
        self.attempts = attempts
        self.base_delay = base_delay
        self.secrets = secrets

    def __call__(self, what: str, fn: Callable[[], T]) -> T:
        """Run `fn`; transient errors are retried, then raise SourceUnavailable; other errors pass through.

        Raises:
            SourceUnavailable: still failing after the last attempt.
        """
        for attempt in range(1, self.attempts + 1):
            try:
                return fn()
            except Exception as exc:
                if not self.transient(exc):
                    raise
                message = scrub(f"{type(exc).__name__}: {exc}", self.secrets)[:300]
                if attempt == self.attempts:
                    raise SourceUnavailable(
                        f"source {self.source!r} unreachable while {what} after {attempt} attempts: {message}"
                    ) from None
                delay = self.base_delay * 2 ** (attempt - 1)
                log.warning("source %s: %s failed (%s), retry %d in %.1fs", self.source, what, message, attempt, delay)
                time.sleep(delay)
        raise AssertionError("unreachable")


def scrub(text: str, secrets: tuple[str, ...]) -> str:
    """`text` with every secret value replaced by `***`."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def read_secret(env_name: str, secrets_file: Path | None) -> str | None:
    """A secret from the environment variable `env_name`, else from `NAME=value` lines in `secrets_file`."""
    if not env_name:
        return None
    if os.environ.get(env_name):
        return os.environ[env_name]
    if secrets_file is None:
        return None
    for line in secrets_file.read_text(encoding="utf-8").splitlines():
        key, sep, value = line.strip().partition("=")
        if sep and key.strip() == env_name and not key.lstrip().startswith("#"):
            return value.strip().strip("'\"")
    return None


def safe_name(name: str, default: str = "item") -> str:
    """A file name for a staged copy: the last path part, without separators or a leading dot."""
    tail = name.replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = "".join(c if c.isalnum() or c in "-_.@+= " else "_" for c in tail).strip(" .")
    return cleaned[:150] or default
