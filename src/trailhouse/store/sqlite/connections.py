"""SQLite connections of the metadata and nonce stores: private files, one writer at a time,
readers that never wait for it, and the store error each SQLite failure stands for (a full disk
is not an internal error)."""

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


class Readers:
    """Read-only connections to a WAL-mode file, one per concurrent caller, so that a read never
    waits behind a commit. Every PutEvents call reads its access key from the metadata store;
    behind one shared connection it waited for whatever held it, and a delivery commit holds it
    through an fsync (`docs/storage.md`, "Reads do not wait for commits")."""

    def __init__(self, path: Path, what: str) -> None:
        self._path = path
        self._what = what
        self._idle: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._closed = False

    def run(self, work: Callable[[sqlite3.Connection], _T]) -> _T:
        """`work` (reads only) on an idle connection; its SQLite errors as store errors."""
        with self._lock:
            if self._closed:
                raise StoreUnavailable(f"the {self._what} is closed")
            conn = self._idle.pop() if self._idle else None
        try:
            if conn is None:
                conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
                conn.execute("PRAGMA query_only=ON")
                conn.execute("PRAGMA busy_timeout=5000")
            return work(conn)
        except sqlite3.Error as exc:
            raise store_error(exc, self._what) from exc
        finally:
            if conn is not None:
                with self._lock:
                    if self._closed:
                        conn.close()
                    else:
                        self._idle.append(conn)

    def close(self) -> None:
        """Close the idle connections (busy ones close when handed back); idempotent."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()
