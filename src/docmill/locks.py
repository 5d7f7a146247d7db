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
