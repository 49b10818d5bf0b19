"""The day files' writer in a process of its own, so that indexing holds no GIL of the server's.

The indexer thread (`indexer.py`) still decides what to index and when, and keeps every count;
what it hands over is the work the server's GIL paid for: making each event's rows, inserting
them and merging the recent tables (`days.py`), which held the server's GIL 18% of the time
under full-rate PutEvents (docs/storage.md, "The index process"). Requests go over a pipe
(`helper_process.py`) as MessagePack, a day's records at a time, at most
`RECORDS_PER_REQUEST`; measured under that load, the indexer thread then used 0.04 of a core
(~3 µs an event) and the child 0.43. The server keeps its own readers.

Safety, each one tested (`tests/unit/store/test_index_process.py`, the crash points):
- One writer at a time. The child holds `days/LOCK` while it runs. A server killed with
  `kill -9` leaves its child finishing the batch in hand (it ends when its stdin closes), so a
  server opening the store waits for that lock before it touches a day file.
- A crash point reached in the child kills the server first (`faults.kill_parent_too`): a kill
  there is a kill of the server, as the crash-point tests expect.
- A child that dies any other way is replaced by the next request, and the request it died on
  fails with `IndexProcessLost`: the indexer retries its batch (records a day file holds already
  are passed over) and counts its days' events again.
- A day file is deleted (purge) only after the child has closed its connection to it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Protocol

import msgspec

from trailhouse.errors import StoreError
from trailhouse.helper_process import HelperProcess
from trailhouse.store.sqlite.days import DayFiles
from trailhouse.store.sqlite.records import LogRecord

# How long a server opening the store waits for an earlier server's child to finish its batch
# (one batch into a large day takes a few seconds) and a new child for the one it replaces.
LOCK_WAIT_SECONDS = 60.0
# How much nicer than the server the child runs: a caller waits for the log, not for the index
# (the indexer thread it replaces ran as nice; indexer.py).
NICENESS = 10


# Records in one request at most: the child holds a request's bytes and its decoded records at
# once (~0.8 and ~1.8 KB an event of 450 compressed bytes, measured), and the server the encoded
# request. It bounds the worst case, an indexer batch of 100,000 (~250 MB sent whole); in
# `bench/delivery.py`, whose batches are mostly smaller, the tree's peak did not move (589 MB
# whole, 596 MB in requests of 20,000, one run each).
RECORDS_PER_REQUEST = 20_000


class DayWriter(Protocol):
    """What changes day files: `DayFiles` itself in the server, or `IndexProcess`."""

    records_per_call: int  # the most records one `index` call should be given

    def index(self, day: int, records: Sequence[LogRecord]) -> int:
        """Add `records` (all of `day`) to its file in one transaction; count the new ones."""
        ...

    def sync(self, day: int) -> None:
        """Make what was indexed into `day` so far durable."""
        ...

    def delete_before(self, day: int, older_than: int) -> int:
        """Delete the events of `day` older than `older_than`; count them."""
        ...

    def forget_beyond(self, seq: int) -> int:
        """Delete indexed events above `seq`; count them."""
        ...

    def drop(self, day: int) -> None:
        """Delete the file of `day`."""
        ...

    def close(self) -> None:
        """Stop writing; idempotent."""
        ...


class IndexProcessLost(StoreError):
    """The index process died while it had a request in hand (not at a crash point, which kills
    the server too); the next request starts another."""


class Index(msgspec.Struct, tag="index", array_like=True):
    """Index `records`, all of `day`, in one transaction; answered with how many were new."""

    day: int
    records: list[LogRecord]


class Sync(msgspec.Struct, tag="sync", array_like=True):
    """Make `day`'s file durable (`DayFiles.sync`)."""

    day: int


class DeleteBefore(msgspec.Struct, tag="delete_before", array_like=True):
    """A purge within `day`; answered with how many events went."""

    day: int
    older_than: int


class ForgetBeyond(msgspec.Struct, tag="forget_beyond", array_like=True):
    """Delete what is indexed above `seq` (a log cut back); answered with how many went."""

    seq: int


class CloseDay(msgspec.Struct, tag="close_day", array_like=True):
    """Let go of `day`'s file, which the server is about to delete."""

    day: int


Request = Index | Sync | DeleteBefore | ForgetBeyond | CloseDay


class Answer(msgspec.Struct, array_like=True):
    """A request's count, or the error it met: which kind, its code (SQLite's extended result
    code or errno) and its text."""

    value: int = 0
    error: str = ""  # "", "sqlite", "os" or "other"
    code: int = 0
    message: str = ""


# Both sides' (`index_child.py` is the child's).
encode = msgspec.msgpack.Encoder().encode
decode_request = msgspec.msgpack.Decoder(Request).decode
_decode_answer = msgspec.msgpack.Decoder(Answer).decode


class IndexProcess:
    """The day files' writer, a child process; `days` is the server's own `DayFiles`, kept
    told of the files the child makes and deletes. Not thread-safe: the indexer's lock is held
    around every call."""

    records_per_call = RECORDS_PER_REQUEST

    def __init__(self, days: DayFiles, mmap_bytes: int) -> None:
        self._days = days
        self._helper = HelperProcess(
            "trailhouse.store.sqlite.index_child",
            [str(days.directory), str(mmap_bytes), str(NICENESS)],
        )

    def index(self, day: int, records: Sequence[LogRecord]) -> int:
        inserted = self._ask(Index(day, list(records)))
        self._days.noticed(day)  # the child may have made its file
        return inserted

    def sync(self, day: int) -> None:
        self._ask(Sync(day))

    def delete_before(self, day: int, older_than: int) -> int:
        return self._ask(DeleteBefore(day, older_than))

    def forget_beyond(self, seq: int) -> int:
        return self._ask(ForgetBeyond(seq))

    def drop(self, day: int) -> None:
        self._ask(CloseDay(day))  # the child lets go of the file first
        self._days.drop(day)

    def close(self) -> None:
        self._helper.stop()

    def pid(self) -> int | None:
        """The child's process id while it runs (for tests and benchmarks)."""
        return self._helper.pid()

    def _ask(self, request: Request) -> int:
        try:
            answer = _decode_answer(self._helper.ask(encode(request)))
        except (EOFError, OSError) as exc:
            self._helper.stop()
            raise IndexProcessLost(f"the index process died ({exc}); it is started again") from exc
        if answer.error == "sqlite":
            failed = sqlite3.OperationalError(answer.message)
            failed.sqlite_errorcode = answer.code  # what `store_error` tells a full disk by
            raise failed
        if answer.error == "os":
            raise OSError(answer.code, answer.message)
        if answer.error:
            raise StoreError(f"the index process failed: {answer.message}")
        return answer.value
