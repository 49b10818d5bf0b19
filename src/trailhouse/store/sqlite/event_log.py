"""The embedded event log: an fsynced append-only log first, a per-day SQLite index just behind.

`append` is durable once the log's group commit is fsynced (~120k events/s measured), far
faster than inserting into indexed SQLite tables (~16k/s); the indexer makes each event
searchable a moment later. Layout under `<data_dir>/events/`: `log/` segments, `days/` index
files, `dicts/` compression dictionaries, `state.json`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from pathlib import Path

import msgspec

from trailhouse import faults
from trailhouse.errors import StoreUnavailable
from trailhouse.events.attributes import attributes_of_body
from trailhouse.events.model import EventRecord, LoggedEvent, LookupPage, LookupQuery
from trailhouse.store.ports import EventLog, LogStats
from trailhouse.store.sqlite.compression import Codecs, DictionaryTrainer
from trailhouse.store.sqlite.days import (
    DERIVED_FORMAT,
    INDEX_FORMAT,
    MMAP_BYTES,
    RECENT_TABLES_FORMAT,
    RECORDER_FORMAT,
    DayFiles,
    day_of,
    day_start,
)
from trailhouse.store.sqlite.index_process import LOCK_WAIT_SECONDS, DayWriter, IndexProcess
from trailhouse.store.sqlite.indexer import Indexer
from trailhouse.store.sqlite.lock import DirectoryLock
from trailhouse.store.sqlite.lookup import lookup_rows, position_of
from trailhouse.store.sqlite.records import LogRecord, Prepared, fields_of, pack_fields
from trailhouse.store.sqlite.segments import SEGMENT_BYTES, SegmentFiles
from trailhouse.store.sqlite.state import LogState
from trailhouse.store.sqlite.tail import TAIL_BYTES, TAIL_RECORDS, SharedStrings, Tail, merge_rows
from trailhouse.store.sqlite.writer import GroupCommitWriter, PendingKeys

_log = logging.getLogger(__name__)

_PURGE_CATCH_UP_SECONDS = 60.0
# How long the indexer may make no progress while PutEvents calls wait for room in the unindexed
# tail. One batch of the indexer (100,000 events into a large day) takes a few seconds; an
# indexer silent this long is stuck, and ingest goes on without waiting (`Tail.room_for`).
_ROOM_WAIT_SECONDS = 30.0
TRAIN_AFTER = 2_000


class SqliteEventLog(EventLog):
    """The event log of one trailhouse process, in files under `directory`."""

    def __init__(
        self,
        directory: Path,
        *,
        gather_seconds: float,
        train_after: int = TRAIN_AFTER,
        segment_bytes: int = SEGMENT_BYTES,
        tail_records: int = TAIL_RECORDS,
        index_paused: bool = False,
        mmap_bytes: int = MMAP_BYTES,
        tail_bytes: int = TAIL_BYTES,
        index_process: bool = False,
    ) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self._directory = directory
        self._lock = DirectoryLock(directory)
        try:
            self._codecs = Codecs(directory / "dicts")
            self._segments = SegmentFiles(directory / "log", segment_bytes)
            (directory / "days").mkdir(exist_ok=True)
            # An index process a killed server left behind finishes its batch first.
            DirectoryLock(directory / "days", LOCK_WAIT_SECONDS).release()
            self._days = DayFiles(directory / "days", mmap_bytes)
            # Day files with no state saved yet may be an older release's, crashed early on.
            unsaved_format = 1 if self._days.days() else INDEX_FORMAT
            self._state = LogState(directory / "state.json", unsaved_format)
            if self._state.index_format == RECORDER_FORMAT - 1 and not (
                self._days.damaged or self._state.damaged
            ):
                self._days.add_recorder_column()
                faults.point("index.recorder_column.added")
                self._state.set_format(RECORDER_FORMAT)
            if self._state.index_format == DERIVED_FORMAT - 1 and not (
                self._days.damaged or self._state.damaged
            ):
                self._days.add_derived_rows(self._derived_of_stored)
                faults.point("index.derived_rows.added")
                self._state.set_format(DERIVED_FORMAT)
            if self._state.index_format == RECENT_TABLES_FORMAT - 1 and not (
                self._days.damaged or self._state.damaged
            ):
                self._days.add_recent_tables()
                faults.point("index.recent_tables.added")
                self._state.set_format(RECENT_TABLES_FORMAT)
            if self._state.index_format != INDEX_FORMAT:
                _log.warning(
                    "the event index in %s has format %d; building format %d from the log",
                    directory,
                    self._state.index_format,
                    INDEX_FORMAT,
                )
                self._rebuild_index()
            elif self._days.damaged or self._state.damaged:
                _log.warning(
                    "the event index in %s is damaged; building it again from the log", directory
                )
                self._rebuild_index()
        except BaseException:
            self._lock.release()
            raise
        self._day_writer: DayWriter = self._days
        if index_process:
            self._days.close_writers()  # what the migrations above opened
            self._day_writer = IndexProcess(self._days, mmap_bytes)
        self._pending = PendingKeys()
        self._tail = Tail(0, tail_records, tail_bytes)
        self._strings = SharedStrings()
        self._trainer = DictionaryTrainer(self._codecs, train_after)
        try:
            self._finish_purge()
            self._indexer = Indexer(
                self._segments,
                self._days,
                self._day_writer,
                self._pending,
                self._state,
                self._with_derived,
                self._tail,
                paused=index_paused,  # a test hook: LookupEvents answers from the tail alone
            )
        except BaseException:
            self._day_writer.close()
            self._days.close()
            self._lock.release()
            raise
        self._writer = GroupCommitWriter(
            self._segments,
            self._days,
            self._pending,
            gather_seconds,
            self._indexer.committed,
            self._tail,
        )
        self._close_lock = threading.Lock()
        self._closed = False

    def _derived_of_stored(self, dict_id: int, body: bytes) -> tuple[str, str, str, str]:
        """The derived lookup values of a stored (compressed) event body."""
        found = attributes_of_body(self._codecs.decompress(dict_id, body))
        return (found.event_type, found.source_ip, found.sensitive, found.role_name)

    def _with_derived(self, record: LogRecord) -> LogRecord:
        """`record`, written before the derived values were kept, with them from its body."""
        event_type, source_ip, sensitive, role_name = self._derived_of_stored(
            record.dict_id, record.body
        )
        return msgspec.structs.replace(
            record,
            event_type=event_type,
            source_ip=source_ip,
            sensitive=sensitive,
            role_name=role_name,
        )

    def _rebuild_index(self) -> None:
        """Delete the day files and record that the index starts again from the log's start."""
        # Files first: a crash before the state is saved deletes them again.
        self._days.drop_all()
        faults.point("index.rebuild.dropped")
        self._state.restart_index(INDEX_FORMAT)

    def append(self, records: Sequence[EventRecord]) -> list[bool]:
        """Append `records` durably; True for each one stored, False for each duplicate."""
        if self._closed:
            raise StoreUnavailable("the event log is closed")
        if not records:
            return []
        if self._indexer.paused:  # a test hook: nothing makes room meanwhile
            return self._append(records)
        # Slowed to the index's pace rather than acknowledged beyond what LookupEvents finds.
        with self._tail.room_for(len(records), _ROOM_WAIT_SECONDS):
            return self._append(records)

    def _append(self, records: Sequence[EventRecord]) -> list[bool]:
        plain = [record.body for record in records]
        self._trainer.offer(plain)
        # Compressing here, in the callers' threads, keeps the one writer thread lean.
        dict_id, bodies = self._codecs.compress(plain)
        shared = self._strings.for_batch()
        prepared = []
        for record, body in zip(records, bodies, strict=True):
            # Computed once: packed for the log's frame, kept whole for the tail (not decoded).
            fields = fields_of(record, shared)
            prepared.append(
                Prepared(
                    record.account_id,
                    record.event_id,
                    record.event_time,
                    pack_fields(fields),
                    dict_id,
                    body,
                    record.recorder,
                    fields,
                )
            )
        return self._writer.submit(prepared)

    def recorders(self, records: Sequence[EventRecord]) -> list[str | None]:
        """Who recorded the stored copy of each record: found where `append` looks for
        duplicates, the pending keys first, then the day file of the record's event time."""
        found: list[str | None] = [None] * len(records)
        wanted: dict[tuple[int, str], list[int]] = {}
        for index, record in enumerate(records):
            # The pending keys first: the indexer adds to a day file before it forgets one.
            recorder = self._pending.recorder((record.account_id, record.event_id))
            if recorder is not None:
                found[index] = recorder
            else:
                wanted.setdefault((day_of(record.event_time), record.account_id), []).append(index)
        for (day, account), indexes in wanted.items():
            known = self._days.recorders(day, account, [records[i].event_id for i in indexes])
            for index in indexes:
                found[index] = known.get(records[index].event_id)
        return found

    def read_after(self, seq: int, limit: int) -> list[LoggedEvent]:
        """Up to `limit` events with a sequence number above `seq`, in sequence order."""
        found: list[LoggedEvent] = []
        add = found.append
        position = seq
        while len(found) < limit:
            batch = self._segments.read_events(position, limit - len(found))
            if not batch:
                break
            purged_upto = self._state.purged_upto
            hidden = self._state.hidden
            decompress = None
            decompress_id = -1
            # Delivery reads millions of events in a row: one plain loop, with no call per event
            # beyond the decompression and the event itself.
            for f in batch:
                if f.seq <= purged_upto and hidden(f.seq, f.event_time):
                    continue
                if f.dict_id != decompress_id or decompress is None:
                    decompress = self._codecs.decompressor(f.dict_id).decompress
                    decompress_id = f.dict_id
                body = decompress(f.body)
                add(
                    LoggedEvent(
                        f.seq,
                        f.account_id,
                        f.event_id,
                        f.event_time,
                        f.accepted_ms,
                        body,
                        f.recorder,
                    )
                )
            position = batch[-1].seq
        return found

    def last_seq(self) -> int:
        """The highest committed sequence number (0 for an empty log)."""
        return self._segments.last_seq

    def lookup(self, query: LookupQuery) -> LookupPage:
        """One page of an account's history matching `query` (all conditions ANDed)."""
        purged_upto, hidden = self._state.purged_upto, self._state.hidden
        # The tail first: whatever leaves it after this is in the day files by then.
        tail_rows = self._tail.rows(
            query, lambda seq, time: seq <= purged_upto and hidden(seq, time)
        )
        rows, more = merge_rows(*lookup_rows(self._days, query), tail_rows, query)
        events = [
            LoggedEvent(
                seq, account, event_id, time, accepted_ms, self._codecs.decompress(d, b), by or ""
            )
            for seq, account, event_id, time, accepted_ms, d, b, by in rows
        ]
        return LookupPage(events, position_of(rows[-1]) if more and rows else None)

    def count_by_day(self, account_id: str, start: int, end: int) -> dict[int, int]:
        """The account's searchable events per UTC day, counted in the day files' index."""
        return self._days.count_by_day(account_id, start, end)

    def pause_indexing(self, paused: bool = True) -> None:
        """Hold (or release) the indexer: a test hook; LookupEvents then answers from the
        unindexed tail (`store/sqlite/tail.py`)."""
        self._indexer.pause(paused)

    def catch_up(self, timeout: float = 10.0) -> bool:
        """Block until every appended event is searchable by `lookup`; False on timeout."""
        return self._indexer.wait(timeout)

    def purge(self, older_than: int) -> int:
        """Delete events whose event_time is before `older_than`; return how many went."""
        upto = self._segments.last_seq
        # Counting is exact once the index holds everything appended before the purge.
        self._indexer.wait(_PURGE_CATCH_UP_SECONDS)
        self._state.add_purge(older_than, upto)
        faults.point("purge.rule_saved")
        with self._indexer.lock:
            removed = self._drop_purged(older_than, self._indexer.counts(), within_day=True)
        faults.point("purge.segments_dropped")
        self._segments.drop_older(older_than, upto)
        return removed

    def _drop_purged(self, older_than: int, counts: dict[int, int], *, within_day: bool) -> int:
        """Delete the day files before `older_than`'s day and, `within_day`, that day's older
        events; count what went by `counts` (events per day, kept up to date)."""
        cutoff = day_of(older_than)
        removed = 0
        for day in self._days.days():
            if day < cutoff:
                removed += counts.pop(day, 0)
                self._day_writer.drop(day)
                faults.point("purge.day_dropped")
            elif day == cutoff and within_day and older_than > day_start(day):
                gone = self._day_writer.delete_before(day, older_than)
                counts[day] = counts.get(day, 0) - gone
                removed += gone
        return removed

    def _finish_purge(self) -> None:
        """Complete the files of a purge a crash interrupted: its rule is saved before any file
        goes, so readers already skip its events; this gives their disk space back. The events
        it left in the cut-off day lie outside LookupEvents' window and go at the next purge
        (deleting them means scanning that day, which start-up should not wait for)."""
        rule = self._state.newest_purge
        if rule is not None:
            self._drop_purged(rule[0], {}, within_day=False)
            self._segments.drop_older(*rule)

    def stats(self) -> LogStats:
        """Counts and sizes, for status pages and benchmarks."""
        last = self._segments.last_seq
        with self._indexer.lock:
            indexed = self._indexer.files_seq
            events = sum(self._indexer.counts().values()) + max(last - indexed, 0)
        size = sum(path.stat().st_size for path in self._directory.rglob("*") if path.is_file())
        return LogStats(
            events=events,
            last_seq=last,
            indexed_seq=indexed,
            bytes_on_disk=size,
            let_go=self._tail.let_go,
            index_wait_seconds=self._tail.waited_seconds,
        )

    def close(self) -> None:
        """Finish pending appends and indexing, then release every file; idempotent."""
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
            self._writer.close()
            self._trainer.join()
            self._indexer.close()
            self._day_writer.close()
            self._days.close()
            self._segments.close()
            self._lock.release()
