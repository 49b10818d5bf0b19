"""SQLite connections of the metadata and nonce stores: private files, one caller at a time,
and the store error each SQLite failure stands for (a full disk is not an internal error)."""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from trailhouse.errors import DiskFailed, DiskFull, StoreError, StoreUnavailable

_T = TypeVar("_T")

# SQLite's primary result codes (the low byte of an extended code such as SQLITE_IOERR_FSYNC).
_SQLITE_IOERR = 10
_SQLITE_FULL = 13


def connect_private(path: Path, synchronous: str) -> sqlite3.Connection:
    """A WAL-mode connection to `path`, creating the file readable by its owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))
    os.chmod(path, 0o600)
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={synchronous}")
    conn.execute("PRAGMA busy_timeout=5000")
    return conn


def store_error(exc: sqlite3.Error, what: str) -> StoreError:
    """The store error a SQLite failure in `what` stands for: DiskFull when the disk is full,
    DiskFailed on an I/O error, a plain StoreError otherwise."""
    code = getattr(exc, "sqlite_errorcode", 0) & 0xFF
    if code == _SQLITE_FULL:
        return DiskFull(f"{what}: the disk is full ({exc})")
    if code == _SQLITE_IOERR:
        return DiskFailed(f"{what}: the storage failed ({exc})")
    return StoreError(f"{what}: {exc}")


class Guarded:
    """One connection used by many threads, one call at a time."""

    def __init__(self, conn: sqlite3.Connection, what: str) -> None:
        self._conn: sqlite3.Connection | None = conn
        self._what = what
        self._lock = threading.Lock()

    def run(self, work: Callable[[sqlite3.Connection], _T]) -> _T:
        """`work` on the connection; its SQLite errors (but IntegrityError) as store errors."""
        with self._lock:
            if self._conn is None:
                raise StoreUnavailable(f"the {self._what} is closed")
            try:
                return work(self._conn)
            except sqlite3.IntegrityError:
                raise
            except sqlite3.Error as exc:
                raise store_error(exc, self._what) from exc

    def close(self) -> None:
        """Close the connection; idempotent."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
