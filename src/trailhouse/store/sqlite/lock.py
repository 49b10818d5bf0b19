"""An exclusive lock on a data directory, so that one process at a time writes the event log."""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path

from trailhouse.errors import StoreError

_POLL_SECONDS = 0.05


class DirectoryLock:
    """Holds `flock(LOCK_EX)` on `<directory>/LOCK` until released; the file names the holder.
    Held by another process, it is waited for up to `wait_seconds` (none by default: a second
    server is refused at once), then refused with StoreError."""

    def __init__(self, directory: Path, wait_seconds: float = 0.0) -> None:
        path = directory / "LOCK"
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        deadline = time.monotonic() + wait_seconds
        while True:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() < deadline:
                    time.sleep(_POLL_SECONDS)
                    continue
                holder = os.read(descriptor, 32).decode(errors="replace").strip() or "unknown"
                os.close(descriptor)
                raise StoreError(
                    f"the event log in {directory} is in use by another trailhouse process (pid "
                    f"{holder}); stop it first, or run this command against that server instead"
                ) from None
        os.ftruncate(descriptor, 0)
        os.write(descriptor, str(os.getpid()).encode())
        self._descriptor: int | None = descriptor

    def release(self) -> None:
        """Let another process open the directory; idempotent."""
        if self._descriptor is not None:
            fcntl.flock(self._descriptor, fcntl.LOCK_UN)
            os.close(self._descriptor)
            self._descriptor = None
