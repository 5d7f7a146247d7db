"""The data folder's run lock: one writer (a pipeline run, a snapshot, a training record) at a time."""

from __future__ import annotations

import fcntl
import getpass
import os
import socket
from pathlib import Path
from typing import IO


def lock_data_dir(data_dir: Path, holder: str) -> IO[str]:
    """Take the exclusive lock on `data_dir/run.lock` (released by the OS when the process dies, so a killed
    writer never blocks the next one). Close the returned handle to release it.

    Raises:
        RuntimeError: when another process holds the lock.
    """
    path = data_dir / "run.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = path.open("a+", encoding="utf-8")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        other = handle.read().strip() or "unknown"
        handle.close()
        raise RuntimeError(
            f"another docmill run is working on {data_dir} ({other}); wait for it to finish or stop it, then run again"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"{holder}, pid {os.getpid()}, {getpass.getuser()}@{socket.gethostname()}\n")
    handle.flush()
    return handle


def holder_gone(data_dir: Path, holder: str) -> bool:
    """True when `data_dir/run.lock` names `holder` as its last holder on this machine and that process no longer
    exists: it died without finishing (the next holder records it). Reads the file only, never takes the lock."""
    try:
        text = (data_dir / "run.lock").read_text(encoding="utf-8").strip()
    except OSError:
        return False
    head, _, where = text.rpartition(", ")
    name, _, pid = head.rpartition(", pid ")
    if name != holder or not pid.isdigit() or where.rpartition("@")[2] != socket.gethostname():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return False
