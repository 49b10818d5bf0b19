"""The indexer: one thread that copies committed log records into the day files, just behind,
through a `DayWriter` (the index process in a server: `index_process.py`).

It indexes thousands of records per transaction, and saves how far it got (`indexed_seq`)
only after fsyncing the day files it wrote, so a restart resumes from there; re-indexing a seq
is a no-op (seq is the primary key).
"""

from __future__ import annotations

import logging
import os
import sqlite3
import sys
import threading
import time
from collections.abc import Callable

from trailhouse import faults
from trailhouse.errors import DiskError, disk_error
from trailhouse.store.sqlite.connections import store_error
from trailhouse.store.sqlite.days import DayFiles, day_of
from trailhouse.store.sqlite.index_process import DayWriter, IndexProcessLost
from trailhouse.store.sqlite.records import LogRecord
from trailhouse.store.sqlite.segments import SegmentFiles
from trailhouse.store.sqlite.state import LogState
from trailhouse.store.sqlite.tail import Tail
from trailhouse.store.sqlite.writer import Key, PendingKeys

_log = logging.getLogger(__name__)

# Records per transaction when behind. Each commit writes every page it dirtied to the WAL, and
# event ids land on random pages of `events_id`, so a commit costs about the same for 20k
# events as for 100k. Measured after 60 s of full-rate ingest with 10M stored: the index was
# 21-22 s behind with 100k instead of 37 s with 20k, at the same ingest rate.
_BATCH = 100_000
_SAVE_EVERY_SECONDS = 1.0
_RETRY_SECONDS = 1.0
# A longer unindexed tail is indexed before the log opens (a new index format, or a crash at
# full rate): held in `PendingKeys` instead, 10 million keys would take gigabytes.
_INDEX_FIRST_ABOVE = 200_000
_PROGRESS_SECONDS = 10.0
# When ingest keeps every core busy, the indexer yields: a caller waits for the log, not for
# the index. Measured with 10M stored on 2 cores, PutEvents ran 7% faster over 30 s and 10%
# over 120 s; the index fell further behind while the load lasted (8-10 s instead of 3-4 s
# after 30 s) and caught up once it dropped.
_NICENESS = 10


class Indexer:
    """Builds the history index behind the log; `lock` is held while it changes day files,
    which it does through `writer` (`days` itself, or the index process), and reads through
    `days`."""

    def __init__(
        self,
        segments: SegmentFiles,
        days: DayFiles,
        writer: DayWriter,
        pending: PendingKeys,
        state: LogState,
        derive: Callable[[LogRecord], LogRecord],
        tail: Tail,
        *,
        paused: bool = False,
    ) -> None:
        self.lock = threading.Lock()
        self._tail = tail
        self._derive = derive
        self._segments = segments
        self._days = days
        self._writer = writer
        self._pending = pending
        self._state = state
        self._indexed = min(state.indexed_seq, segments.last_seq)
        # Only a damaged log loses fsynced records, but then the index must not keep them: their
        # seqs will be given to new events.
        writer.forget_beyond(segments.last_seq)
        self.files_seq = self._indexed  # what the day files hold; read under `lock`
        self._committed = segments.last_seq
        self._cond = threading.Condition()
        self._closing = False
        self._paused = paused  # a test hook (`pause`)
        self._dirty_days: set[int] = set()
        self.day_counts: dict[int, int] | None = None
        if self._committed - self._indexed > _INDEX_FIRST_ABOVE:
            self._index_tail()
        self._recover_pending()
        self._thread = threading.Thread(target=self._run, name="event-log-indexer", daemon=True)
        self._thread.start()

    @property
    def indexed_seq(self) -> int:
        """The highest seq whose event `lookup` can find."""
        return self._indexed

    @property
    def paused(self) -> bool:
        """Whether indexing is held (`pause`): no room is made in the tail meanwhile."""
        return self._paused

    def committed(self, seq: int) -> None:
        """Told by the writer: the log now holds everything up to `seq`."""
        with self._cond:
            self._committed = seq
            self._cond.notify_all()

    def wait(self, timeout: float) -> bool:
        """Block until everything committed is indexed; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._indexed < self._committed:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not self._thread.is_alive():
                    return False
                self._cond.wait(remaining)
        return True

    def pause(self, paused: bool = True) -> None:
        """Stop (or, `paused` False, resume) indexing: a test hook, to look up events that only
        the unindexed tail holds. Closing resumes it."""
        with self._cond:
            self._paused = paused
            self._cond.notify_all()

    def counts(self) -> dict[int, int]:
        """Events per day file, counted once and then kept up to date (lock held)."""
        if self.day_counts is None:
            self.day_counts = {day: self._days.count(day) for day in self._days.days()}
        return self.day_counts

    def close(self) -> None:
        """Index what is committed, save progress and stop."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._thread.join()

    def _index_tail(self) -> None:
        """Index everything committed now, in this thread, logging progress."""
        started = last_note = time.monotonic()
        first = self._indexed
        while self._indexed < self._committed:
            before = self._indexed
            self._index_batch()
            if self._indexed == before:  # nothing more to read; the thread retries
                break
            if time.monotonic() - last_note >= _PROGRESS_SECONDS:
                self._save()  # a crash now resumes from here
                last_note = time.monotonic()
                _log.info("indexing the event log: seq %d of %d", self._indexed, self._committed)
        self._save()
        _log.info(
            "indexed %d events of the log in %.0f s",
            self._indexed - first,
            time.monotonic() - started,
        )

    def _recover_pending(self) -> None:
        """After a restart, the unindexed tail of the log is the window duplicates hide in, and
        what LookupEvents finds in memory until it is indexed."""
        position = self._indexed
        self._tail.indexed(position)
        while batch := self._segments.read(position, _BATCH):
            self._pending.add(
                [(r.account_id, r.event_id) for r in batch], [r.recorder for r in batch]
            )
            self._tail.add([r if r.event_type is not None else self._derive(r) for r in batch])
            position = batch[-1].seq

    def _run(self) -> None:
        _lower_priority()
        last_save = time.monotonic()
        while True:
            with self._cond:
                while (self._indexed >= self._committed or self._paused) and not self._closing:
                    self._cond.wait(_SAVE_EVERY_SECONDS if self._dirty_days else None)
                    if self._dirty_days and time.monotonic() - last_save >= _SAVE_EVERY_SECONDS:
                        break
                closing = self._closing and self._indexed >= self._committed
                paused = self._paused and not self._closing
            try:
                if self._indexed < self._committed and not paused:
                    self._index_batch()
                if closing or time.monotonic() - last_save >= _SAVE_EVERY_SECONDS:
                    self._save()
                    last_save = time.monotonic()
            except Exception as exc:
                _log_failure(exc)
                if isinstance(exc, IndexProcessLost):
                    with self.lock:  # what its last request added is not known: count again
                        self.day_counts = None
                if self._closing:  # what is left is indexed on the next open
                    return
                time.sleep(_RETRY_SECONDS)
                continue
            if closing:
                return

    def _index_batch(self) -> None:
        # The tail holds what the writer committed since, already decoded: reading it back from
        # the segments cost a CRC and a MessagePack decode per record on ingest's cores.
        records = self._tail.following(self._indexed, _BATCH)
        if records is None:
            records = self._segments.read(self._indexed, _BATCH)
        if not records:
            return
        by_day: dict[int, list[LogRecord]] = {}
        purged_upto = self._state.purged_upto
        for record in records:
            if record.seq > purged_upto or not self._state.hidden(record.seq, record.event_time):
                if record.event_type is None:  # written before the derived values were kept
                    record = self._derive(record)
                by_day.setdefault(day_of(record.event_time), []).append(record)
        with self.lock:
            per_call = self._writer.records_per_call
            for day, day_records in by_day.items():
                for at in range(0, len(day_records), per_call):
                    inserted = self._writer.index(day, day_records[at : at + per_call])
                    if self.day_counts is not None:
                        self.day_counts[day] = self.day_counts.get(day, 0) + inserted
                    self._dirty_days.add(day)
            self.files_seq = records[-1].seq
        faults.point("index.transaction.committed")
        self._tail.indexed(records[-1].seq)  # LookupEvents finds these in the day files now
        keys: list[Key] = [(r.account_id, r.event_id) for r in records]
        # Only now: the writer's duplicate check finds these in the day files.
        self._pending.discard(keys)
        with self._cond:
            self._indexed = records[-1].seq
            self._cond.notify_all()

    def _save(self) -> None:
        with self.lock:
            dirty = set(self._dirty_days)
            for day in sorted(dirty):
                self._writer.sync(day)  # on failure every day stays dirty and nothing is saved
                self._dirty_days.discard(day)
        faults.point("index.synced")
        if dirty or self._state.indexed_seq != self._indexed:
            self._state.save_indexed(self._indexed)


def _lower_priority() -> None:
    """Make the calling thread `_NICENESS` nicer than it is. Linux only: there, and not on
    macOS, a thread's native id names that one thread to `setpriority`."""
    if sys.platform != "linux":
        return
    thread = threading.get_native_id()
    try:
        niceness = os.getpriority(os.PRIO_PROCESS, thread)
        os.setpriority(os.PRIO_PROCESS, thread, min(niceness + _NICENESS, 19))
    except OSError as exc:  # not worth failing for: the index is only built a little later
        _log.info("could not lower the indexer's priority: %s", exc)


def _log_failure(exc: Exception) -> None:
    """Log why a batch failed to index. A full or failing disk is an operating condition, not a
    bug: one warning line says so (the batch is retried and LookupEvents still finds its events
    in the tail); anything else is logged with its traceback."""
    if isinstance(exc, sqlite3.Error):
        exc = store_error(exc, "event index")
    elif isinstance(exc, OSError):
        exc = disk_error(exc, "event index")
    if isinstance(exc, DiskError):
        _log.warning("indexing the event log waits for the disk: %s; retrying", exc)
    else:
        _log.exception("indexing the event log failed; retrying")
