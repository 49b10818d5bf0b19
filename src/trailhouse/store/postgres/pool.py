"""A small thread-safe pool of PostgreSQL connections (psycopg_pool is not a dependency).

Connections are opened lazily up to `max_size`, run in autocommit mode (transactions are
explicit `conn.transaction()` blocks) and are discarded when they come back broken.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg.pq import TransactionStatus
from psycopg.rows import TupleRow

from trailhouse.errors import DiskFailed, DiskFull, StoreError, StoreUnavailable

Connection = psycopg.Connection[TupleRow]


class ConnectionPool:
    """Hands out at most `max_size` connections to `url`, one thread at a time each."""

    def __init__(self, url: str, max_size: int = 8, timeout: float = 30.0) -> None:
        self._url = url
        self._max_size = max_size
        self._timeout = timeout
        self._idle: list[Connection] = []
        self._opened = 0
        self._closed = False
        self._cond = threading.Condition()

    @contextmanager
    def connection(self) -> Iterator[Connection]:
        """A connection for the duration of the block, returned to the pool afterwards."""
        conn = self._acquire()
        try:
            yield conn
        except psycopg.Error as exc:
            raise store_error(exc) from exc
        finally:
            self._release(conn)

    def close(self) -> None:
        """Close idle connections now and busy ones when they come back; idempotent."""
        with self._cond:
            self._closed = True
            idle, self._idle = self._idle, []
            self._opened -= len(idle)
            self._cond.notify_all()
        for conn in idle:
            conn.close()

    def _acquire(self) -> Connection:
        with self._cond:
            while True:
                if self._closed:
                    raise StoreUnavailable("the PostgreSQL store is closed")
                if self._idle:
                    return self._idle.pop()
                if self._opened < self._max_size:
                    self._opened += 1
                    break
                if not self._cond.wait(self._timeout):
                    raise StoreError(
                        f"no PostgreSQL connection free after {self._timeout:.0f} s "
                        f"({self._max_size} in use)"
                    )
        try:
            # No server-side prepared statements: a generic plan of the append statement cannot
            # see the batch size and degrades to scanning the whole table as it grows.
            return psycopg.connect(self._url, autocommit=True, prepare_threshold=None)
        except psycopg.Error as exc:
            with self._cond:
                self._opened -= 1
                self._cond.notify()
            raise StoreError(f"cannot connect to PostgreSQL: {exc}") from exc

    def _release(self, conn: Connection) -> None:
        reusable = not conn.closed and not conn.broken
        if reusable and conn.info.transaction_status != TransactionStatus.IDLE:
            # A block left a transaction open (it raised mid-way): do not lend it out dirty.
            try:
                conn.rollback()
            except psycopg.Error:
                reusable = False
        with self._cond:
            if reusable and not self._closed:
                self._idle.append(conn)
                self._cond.notify()
                return
            self._opened -= 1
            self._cond.notify()
        conn.close()


# SQLSTATEs of a database server whose disk is full (disk_full) or failed (io_error).
_DISK_FULL = "53100"
_IO_ERROR = "58030"


def store_error(exc: psycopg.Error) -> StoreError:
    """The store error a PostgreSQL failure stands for (DiskFull, DiskFailed or StoreError)."""
    if exc.sqlstate == _DISK_FULL:
        return DiskFull(f"PostgreSQL: the database server's disk is full ({exc})")
    if exc.sqlstate == _IO_ERROR:
        return DiskFailed(f"PostgreSQL: the database server's storage failed ({exc})")
    return StoreError(f"PostgreSQL: {exc}")
