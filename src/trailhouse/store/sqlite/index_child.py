"""The index process's own side (`index_process.py`): `python -m` this module, serving a
server's requests on its own `DayFiles` until its stdin closes."""

from __future__ import annotations

import contextlib
import errno
import sqlite3
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path

from trailhouse import faults
from trailhouse.helper_process import serve
from trailhouse.memory import trim_heap
from trailhouse.store.sqlite.days import DayFiles, writer_cache_bytes
from trailhouse.store.sqlite.index_process import (
    LOCK_WAIT_SECONDS,
    Answer,
    CloseDay,
    DeleteBefore,
    ForgetBeyond,
    Index,
    Request,
    Sync,
    decode_request,
    encode,
)
from trailhouse.store.sqlite.lock import DirectoryLock


class _Served:
    """The child's side: each request done on its own `DayFiles`."""

    def __init__(self, days: DayFiles) -> None:
        self._days = days

    def answer(self, raw: bytes) -> bytes:
        request = decode_request(raw)
        del raw
        try:
            return encode(Answer(self._do(request)))
        except sqlite3.Error as exc:
            return encode(Answer(error="sqlite", code=exc.sqlite_errorcode, message=str(exc)))
        except OSError as exc:
            code = exc.errno if exc.errno is not None else errno.EIO
            return encode(Answer(error="os", code=code, message=exc.strerror or str(exc)))
        except Exception:  # a bug: the server logs it, traceback and all, and retries
            return encode(Answer(error="other", message=traceback.format_exc()))

    def _do(self, request: Request) -> int:
        days = self._days
        match request:
            case Index(day, records):
                return days.index(day, records)
            case Sync(day):
                days.sync(day)
            case DeleteBefore(day, older_than):
                return days.delete_before(day, older_than)
            case ForgetBeyond(seq):
                return days.forget_beyond(seq)
            case CloseDay(day):
                days.close_day(day)
        return 0


# SQLite's memory in this process, over every day it writes (SQLite's soft heap limit, which it
# keeps to by shrinking page caches): two days' writer caches (today's and yesterday's) in full,
# late events' days squeezed. Unbounded, eight writers' caches could hold 8 × (16 MB +
# `index_mmap_mb`); in `bench/delivery.py` the child peaked at 201 MB of anonymous memory
# without the limit and 174 MB with it (one run each).
_CACHED_DAYS = 2


def main(arguments: Sequence[str]) -> None:
    """The child: `<days directory> <mmap bytes> <niceness>`, serving until its stdin closes."""
    directory, mmap_bytes, niceness = Path(arguments[0]), int(arguments[1]), int(arguments[2])
    faults.kill_parent_too()
    limit = _CACHED_DAYS * writer_cache_bytes(mmap_bytes)
    with contextlib.closing(sqlite3.connect(":memory:")) as conn:  # the pragma is per process
        conn.execute(f"PRAGMA soft_heap_limit={limit}")
    lock = DirectoryLock(directory, LOCK_WAIT_SECONDS)
    days = DayFiles(directory, mmap_bytes)
    try:
        serve(_Served(days).answer, niceness, after=trim_heap)
    finally:
        days.close()
        lock.release()


if __name__ == "__main__":
    main(sys.argv[1:])
