"""The history index: one SQLite database per UTC day of event time, `days/YYYYMMDD.sqlite`.

Small per-day files keep every b-tree small (inserts into a 10M-row table are 2x slower) and
make retention a file deletion. Only the indexer thread writes; readers borrow pooled
connections, one thread at a time each. Day files use `synchronous=NORMAL`: the event log is
the durable copy, and the indexer fsyncs a day file itself before it records its progress.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import logging
import os
import re
import sqlite3
import threading
import time
import zlib
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from trailhouse import faults
from trailhouse.durable import fsync_path
from trailhouse.store.sqlite.inserts import insert_rows
from trailhouse.store.sqlite.records import LogRecord

_log = logging.getLogger(__name__)

RESOURCE_TYPE = 1
RESOURCE_NAME = 2
# LookupEvents' derived keys share the `resources` table (`events/attributes.py`): an event has
# a row per value it has, except the value most events have, which is the absence of a row
# (`ABSENT_MEANS`): eventType ApiCall, SensitiveAction false. Measured with the benchmark's
# events, a row per event for each key made the index 45% slower to build.
EVENT_TYPE = 3
SOURCE_IP = 4
SENSITIVE = 5
ROLE_NAME = 6
ABSENT_MEANS = {EVENT_TYPE: "ApiCall", SENSITIVE: "false"}

# Strings that repeat (accounts, event names, services, users, keys, Read/Write) are stored as
# ids into `names`, and the event id is found through a 32-bit hash of it: index entries shrink
# from ~60 bytes to ~12. Measured here on a day file growing from 500k to 700k events, that
# halved SQLite's CPU per indexed event (24.7 → 13.0 µs) and shrank the file by 40%.
# Uniqueness per (account, event id) is the writer's check (`PendingKeys` and the day files).
#
# Keys at random places (an id's hash, a resource name, an IP address) are kept in two tables
# each (`_RECENT_TABLES`): a batch adds its rows to the small `event_ids_recent` and
# `resources_recent`, which are merged into `event_ids` and `resources` in one pass, in key
# order, once they hold the rows of `_RECENT_MIN` events (or 1/`_RECENT_SHARE` of the merged
# ones). An index of every such key of a large day took each new row to a page of its own, so
# every batch wrote thousands of pages to the WAL and again into the file: into a day of 2.7M
# events the indexer took 45 µs of CPU an event, against 25-27 µs with the recent tables into a
# day of 4M (docs/storage.md, "Recent rows apart"). Readers look in both tables.
_SCHEMA_EVENTS = """
CREATE TABLE IF NOT EXISTS names (id INTEGER PRIMARY KEY, value TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY, account INTEGER NOT NULL, event_id TEXT NOT NULL,
    id_hash INTEGER NOT NULL, event_time INTEGER NOT NULL, accepted_ms INTEGER NOT NULL,
    event_name INTEGER NOT NULL, service_name INTEGER NOT NULL, event_rw INTEGER NOT NULL,
    user_name INTEGER, access_key_id INTEGER, dict_id INTEGER NOT NULL, body BLOB NOT NULL,
    recorder INTEGER
);
CREATE INDEX IF NOT EXISTS events_time ON events (account, event_time);
CREATE INDEX IF NOT EXISTS events_name ON events (account, event_name, event_time);
CREATE INDEX IF NOT EXISTS events_service ON events (account, service_name, event_time);
CREATE INDEX IF NOT EXISTS events_user ON events (account, user_name, event_time)
    WHERE user_name IS NOT NULL;
CREATE INDEX IF NOT EXISTS events_key ON events (account, access_key_id, event_time)
    WHERE access_key_id IS NOT NULL;
CREATE TABLE IF NOT EXISTS resources (
    account INTEGER NOT NULL, kind INTEGER NOT NULL, value TEXT NOT NULL,
    event_time INTEGER NOT NULL, seq INTEGER NOT NULL,
    PRIMARY KEY (account, kind, value, event_time, seq)
) WITHOUT ROWID;
"""
_RECENT_TABLES = """
CREATE TABLE IF NOT EXISTS event_ids (
    id_hash INTEGER NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY (id_hash, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS event_ids_recent (
    id_hash INTEGER NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY (id_hash, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS resources_recent (
    account INTEGER NOT NULL, kind INTEGER NOT NULL, value TEXT NOT NULL,
    event_time INTEGER NOT NULL, seq INTEGER NOT NULL,
    PRIMARY KEY (account, kind, value, event_time, seq)
) WITHOUT ROWID;
"""
_SCHEMA = _SCHEMA_EVENTS + _RECENT_TABLES
# The tables merged into and their recent rows' (readers look in both), and their keys.
_ID_TABLES = ("event_ids", "event_ids_recent")
RESOURCE_TABLES = ("resources", "resources_recent")
_KEYS = {"event_ids": "id_hash, seq", "resources": "account, kind, value, event_time, seq"}
# Formats 2 to 4 had an index `events_id` ON events (id_hash) instead of `_RECENT_TABLES`.
_OLD_ID_INDEX = "events_id"
_RECENT_MIN = 250_000
_RECENT_SHARE = 16
# The layout above, as `state.json` records it: a store indexed in another layout is re-indexed
# from its log when opened (1: strings and event ids stored whole in every index), except
# format 2, which lacks only `recorder` and is brought up in place (`add_recorder_column`), and
# format 3, which lacks only the rows of the derived keys (`add_derived_rows`), and format 4,
# whose id hashes are an index on `events` (`add_recent_tables`).
INDEX_FORMAT = 5
RECORDER_FORMAT = 3  # the first format with `events.recorder` (a `names` id; NULL: unknown)
DERIVED_FORMAT = 4  # the first with `resources` rows of kinds EVENT_TYPE to ROLE_NAME
RECENT_TABLES_FORMAT = 5  # the first with `_RECENT_TABLES` instead of the index `events_id`
# SQL for the id of a string in `names`; NULL (matching nothing) when the day never saw it.
NAME_ID = "(SELECT id FROM names WHERE value = ?)"

_BACKFILL_BATCH = 20_000
_IDS_PER_SELECT = 500
# Connections kept open, each with its own page cache (`_CACHE_KIB`) and maps of its file: the
# server's memory grows with them, not with the number of days (docs/storage.md, "Memory").
# Writers: most indexing goes to today's file and yesterday's; late events open older days'.
_WRITER_DAYS = 8
# A writer unused this long is closed, and its page cache freed: the index process keeps all of
# its days' caches within one budget (`index_child.py`), and yesterday's full cache would
# otherwise squeeze today's for as long as it stayed open.
_WRITER_IDLE_SECONDS = 60.0
# Idle readers over all days (LookupEvents, the duplicate check), the most recently used kept.
_IDLE_READERS = 64
_IDLE_READERS_PER_DAY = 4
_CACHE_KIB = 16384
# How much of a day file each connection maps (SQLite's mmap_size; `index_mmap_mb`). Mapped
# pages are page cache, but they count in the server's resident memory, once per connection
# that touched them (docs/storage.md, "Memory").
MMAP_BYTES = 256 * 1024 * 1024
_SUFFIX = ".sqlite"
# A day file is made under this suffix and renamed into place only once its tables exist, so a
# file named `YYYYMMDD.sqlite` always has them; a leftover of a crash is deleted on open.
_STAGING_SUFFIX = ".new"
# What a complete day file holds (`sqlite_master`), checked for every file when the store opens.
# A file of formats 2 to 4 has `_OLD_ID_INDEX` instead of the recent tables.
_OBJECTS_PATTERN = r"CREATE (?:TABLE|INDEX) IF NOT EXISTS (\w+)"
_EVENT_OBJECTS = frozenset(re.findall(_OBJECTS_PATTERN, _SCHEMA_EVENTS))
_RECENT_OBJECTS = frozenset(re.findall(_OBJECTS_PATTERN, _RECENT_TABLES))


@functools.lru_cache(maxsize=1024)
def _day_number(days_since_epoch: int) -> int:
    date = dt.datetime.fromtimestamp(days_since_epoch * 86400, tz=dt.UTC)
    return date.year * 10000 + date.month * 100 + date.day


def day_of(event_time: int) -> int:
    """The UTC day of a time, as the number YYYYMMDD."""
    return _day_number(event_time // 86400)


def id_hash(event_id: str) -> int:
    """The key of an event id in the `events_id` index: its CRC-32, as a signed 32-bit int
    (stored in 4 bytes). Ids that share a hash are told apart by `event_id` itself."""
    return zlib.crc32(event_id.encode()) - 0x8000_0000


def day_start(day: int) -> int:
    """The first second of day YYYYMMDD."""
    date = dt.datetime(day // 10000, day // 100 % 100, day % 100, tzinfo=dt.UTC)
    return int(date.timestamp())


def days_between(first: int, last: int) -> list[int]:
    """Every day YYYYMMDD from the day of time `first` to the day of time `last`, ascending."""
    days: list[int] = []
    moment = day_start(day_of(first))
    while moment <= last:
        days.append(day_of(moment))
        moment += 86400
    return days


class DayFiles:
    """The day databases under one directory, their indexer connections and reader pool."""

    records_per_call = 1_000_000  # no limit: one transaction for each of the indexer's batches

    def __init__(self, directory: Path, mmap_bytes: int = MMAP_BYTES) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self._directory = directory
        self._mmap_bytes = mmap_bytes
        self._lock = threading.Lock()
        for stray in directory.glob("*" + _SUFFIX + _STAGING_SUFFIX + "*"):
            stray.unlink()  # a day file whose creation a crash interrupted: it held nothing yet
        self._days = {
            int(path.stem) for path in directory.glob("*" + _SUFFIX) if path.stem.isdigit()
        }
        # Days whose file is not a complete day file: the index must be built again.
        self.damaged = sorted(day for day in self._days if not _complete(self.path(day)))
        self._writers: OrderedDict[int, sqlite3.Connection] = OrderedDict()
        self._names: dict[int, dict[str, int]] = {}  # each writer's copy of its `names`
        self._recent: dict[int, _RecentCount] = {}  # each writer's events merged, and not yet
        self._writer_used: dict[int, float] = {}  # when each day's writer was last asked for
        self._idle: OrderedDict[int, list[sqlite3.Connection]] = OrderedDict()
        self._generation: dict[int, int] = {}

    @property
    def directory(self) -> Path:
        """Where the day files are."""
        return self._directory

    def days(self) -> list[int]:
        """The days that have a file, ascending."""
        with self._lock:
            return sorted(self._days)

    def path(self, day: int) -> Path:
        """The file of `day`."""
        return self._directory / f"{day}{_SUFFIX}"

    def index(self, day: int, records: Sequence[LogRecord]) -> int:
        """Add `records` (all of `day`) to its file in one transaction; count the new ones.
        Records the file holds already (indexed again after a restart) are passed over: their
        rows may have been merged since, where INSERT OR IGNORE into the recent tables would
        not see them."""
        conn = self._writer(day)
        stored = _stored_seqs(conn, records)
        if stored:
            records = [r for r in records if r.seq not in stored]
        names = self._names[day]
        added: list[tuple[int, str]] = []

        def name_id(value: str) -> int:
            found = names.get(value)
            if found is None:
                found = names[value] = len(names) + 1
                added.append((found, value))
            return found

        events = [
            (
                r.seq,
                name_id(r.account_id),
                r.event_id,
                id_hash(r.event_id),
                r.event_time,
                r.accepted_ms,
                name_id(r.event_name),
                name_id(r.service_name),
                name_id(r.event_rw),
                name_id(r.user_name) if r.user_name else None,
                name_id(r.access_key_id) if r.access_key_id else None,
                r.dict_id,
                r.body,
                name_id(r.recorder) if r.recorder else None,
            )
            for r in records
        ]
        resources = [
            (name_id(a), kind, value, t, seq) for a, kind, value, t, seq in _resources(records)
        ]
        ids = [(event[3], event[0]) for event in events]
        count = self._recent.get(day) or _RecentCount.of(conn)
        try:
            with _transaction(conn):
                insert_rows(conn, "names", added)
                inserted = insert_rows(conn, "events", events)
                insert_rows(conn, "resources_recent", resources)
                after = count.added(insert_rows(conn, "event_ids_recent", ids))
                if after.recent >= max(_RECENT_MIN, after.merged // _RECENT_SHARE):
                    after = after.added_merged(_merge_recent(conn))
        except BaseException:
            for _, value in added:  # the file never got them
                del names[value]
            raise
        self._recent[day] = after
        return inserted

    def sync(self, day: int) -> None:
        """Make what was indexed into `day` so far survive a power cut, and shrink its WAL."""
        conn = self._writers.get(day)
        if conn is not None:
            # A checkpoint syncs the WAL, copies it into the database, syncs that and empties the
            # WAL, which otherwise stays as large as the biggest transaction, in every day file.
            busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            if not busy:
                return
        for path in (self.path(day).with_name(self.path(day).name + "-wal"), self.path(day)):
            with contextlib.suppress(FileNotFoundError):
                fsync_path(path)

    @contextlib.contextmanager
    def reading(self, day: int) -> Iterator[sqlite3.Connection | None]:
        """A connection to `day` for this thread alone (None when the day has no file)."""
        with self._lock:
            present = day in self._days
            pool = self._idle.get(day) if present else None
            conn = pool.pop() if pool else None
            generation = self._generation.get(day, 0)
        if not present:
            yield None
            return
        if conn is None:
            conn = _connect(self.path(day), readonly=True, mmap_bytes=self._mmap_bytes)
        try:
            yield conn
        finally:
            self._give_back(day, conn, generation)

    def known(self, day: int, account: str, event_ids: Sequence[str]) -> set[str]:
        """Which of `event_ids` the file of `day` holds for `account`."""
        found: set[str] = set()
        with self.reading(day) as conn:
            if conn is None:
                return found
            for at in range(0, len(event_ids), _IDS_PER_SELECT):
                chunk = event_ids[at : at + _IDS_PER_SELECT]
                hashes = [*map(id_hash, chunk)]
                rows = conn.execute(
                    known_ids_sql(len(chunk)), [*hashes, *hashes, account]
                ).fetchall()
                wanted = set(chunk)  # ids that only share a hash are not the same event
                found.update(event_id for (event_id,) in rows if event_id in wanted)
        return found

    def count_by_day(self, account: str, start: int, end: int) -> dict[int, int]:
        """The account's events from `start` to `end` (inclusive) per day, keyed by the day's
        first second, counted in each day file's (account, event_time) index."""
        counts: dict[int, int] = {}
        for day in days_between(start, end):
            with self.reading(day) as conn:
                if conn is None:
                    continue
                row = conn.execute(
                    f"SELECT count(*) FROM events WHERE account = {NAME_ID} "
                    "AND event_time BETWEEN ? AND ?",
                    (account, start, end),
                ).fetchone()
            if row[0]:
                counts[day_start(day)] = int(row[0])
        return counts

    def recorders(self, day: int, account: str, event_ids: Sequence[str]) -> dict[str, str]:
        """Who recorded each of `event_ids` the file of `day` holds for `account` ("" unknown)."""
        found: dict[str, str] = {}
        with self.reading(day) as conn:
            if conn is None:
                return found
            for at in range(0, len(event_ids), _IDS_PER_SELECT):
                chunk = event_ids[at : at + _IDS_PER_SELECT]
                hashes = [*map(id_hash, chunk)]
                rows = conn.execute(
                    "SELECT event_id, (SELECT value FROM names WHERE id = e.recorder) "
                    f"FROM events e NOT INDEXED WHERE seq IN {seqs_of_hashes_sql(len(chunk))} "
                    f"AND account = {NAME_ID}",
                    [*hashes, *hashes, account],
                ).fetchall()
                wanted = set(chunk)
                found.update((event_id, by or "") for event_id, by in rows if event_id in wanted)
        return found

    def add_recorder_column(self) -> None:
        """Bring day files of format 2 up to 3 in place: their events predate recorders, so
        the new column is NULL (unknown) in every row. Idempotent: a crash midway re-runs it."""
        for day in self.days():
            conn = self._writer(day)
            columns = {row[1] for row in conn.execute("PRAGMA table_info(events)")}
            if "recorder" not in columns:
                conn.execute("ALTER TABLE events ADD COLUMN recorder INTEGER")
            self.sync(day)

    def add_derived_rows(self, derive: Callable[[int, bytes], tuple[str, str, str, str]]) -> None:
        """Bring day files of format 3 up to 4 in place: add the `resources` rows of the derived
        keys of every event, `derive(dict_id, compressed body)` giving its eventType,
        sourceIpAddress, SensitiveAction and RoleName. Idempotent (INSERT OR IGNORE): a crash
        midway re-runs it."""
        for day in self.days():
            conn = self._writer(day)
            names = self._names[day]
            accounts = {number: value for value, number in names.items()}
            last = 0
            while True:
                batch = conn.execute(
                    "SELECT seq, account, event_time, dict_id, body FROM events "
                    "WHERE seq > ? ORDER BY seq LIMIT ?",
                    (last, _BACKFILL_BATCH),
                ).fetchall()
                if not batch:
                    break
                rows = [
                    (account, kind, value, event_time, seq)
                    for seq, account, event_time, dict_id, body in batch
                    for _, kind, value, _, _ in _derived_rows(
                        accounts[account], event_time, seq, derive(dict_id, body)
                    )
                ]
                with _transaction(conn):
                    insert_rows(conn, "resources", rows)
                last = batch[-1][0]
            self.sync(day)
            faults.point("index.derived_rows.day_added")

    def add_recent_tables(self) -> None:
        """Bring day files of format 4 up to 5 in place: create the recent tables, copy each
        file's id hashes from its index `events_id` into `event_ids` and drop the index (its
        `resources` are all merged rows), in one transaction a file, so a crash midway leaves
        every file in one layout or the other; files already in the new layout are passed
        over."""
        for day in self.days():
            conn = self._writer(day)
            objects = {name for (name,) in conn.execute("SELECT name FROM sqlite_master")}
            if _OLD_ID_INDEX not in objects:
                continue
            with _transaction(conn):
                for statement in _RECENT_TABLES.split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute(
                    "INSERT OR IGNORE INTO event_ids "
                    "SELECT id_hash, seq FROM events ORDER BY id_hash, seq"
                )
                conn.execute(f"DROP INDEX {_OLD_ID_INDEX}")
            self._recent.pop(day, None)
            self.sync(day)
            faults.point("index.recent_tables.day_added")

    def count(self, day: int) -> int:
        """How many events the file of `day` holds."""
        with self.reading(day) as conn:
            if conn is None:
                return 0
            row = conn.execute("SELECT count(*) FROM events").fetchone()
            return int(row[0])

    def delete_before(self, day: int, older_than: int) -> int:
        """Delete the events of `day` older than `older_than` (indexer lock held); count them."""
        if day not in self.days():
            return 0
        conn = self._writer(day)
        with _transaction(conn):
            for table in _ID_TABLES:
                conn.execute(
                    f"DELETE FROM {table} WHERE seq IN "
                    "(SELECT seq FROM events WHERE event_time < ?)",
                    (older_than,),
                )
            for table in RESOURCE_TABLES:
                conn.execute(f"DELETE FROM {table} WHERE event_time < ?", (older_than,))
            removed = conn.execute("DELETE FROM events WHERE event_time < ?", (older_than,))
        self._recent.pop(day, None)
        return max(removed.rowcount, 0)

    def forget_beyond(self, seq: int) -> int:
        """Delete indexed events above `seq` (a log cut back past them); count them."""
        removed = 0
        for day in self.days():
            with self.reading(day) as reader:
                row = reader.execute("SELECT max(seq) FROM events").fetchone() if reader else None
            if row is None or row[0] is None or row[0] <= seq:
                continue
            conn = self._writer(day)
            with _transaction(conn):
                removed += conn.execute("DELETE FROM events WHERE seq > ?", (seq,)).rowcount
                for table in (*_ID_TABLES, *RESOURCE_TABLES):
                    conn.execute(f"DELETE FROM {table} WHERE seq > ?", (seq,))
            self._recent.pop(day, None)
        return removed

    def noticed(self, day: int) -> None:
        """`day` has a file now: made by the index process (`index_process.py`), not here."""
        with self._lock:
            self._days.add(day)

    def close_day(self, day: int) -> None:
        """Close every connection to `day`'s file and forget it had one (its file is about to
        go); readers still in it finish first."""
        with self._lock:
            self._days.discard(day)
            self._generation[day] = self._generation.get(day, 0) + 1
            idle = self._idle.pop(day, [])
        self._close_writer(day)
        for conn in idle:
            conn.close()

    def close_writers(self) -> None:
        """Close the indexer's connections (their page caches are large): the index process
        writes from now on."""
        for day in list(self._writers):
            self._close_writer(day)

    def drop(self, day: int) -> None:
        """Delete the file of `day` (indexer lock held); readers still in it finish first."""
        self.close_day(day)
        path = self.path(day)
        for doomed in (
            path,
            path.with_name(path.name + "-wal"),
            path.with_name(path.name + "-shm"),
        ):
            doomed.unlink(missing_ok=True)

    def drop_all(self) -> None:
        """Delete every day file, to build the index again from the log."""
        for day in self.days():
            self.drop(day)
        for stray in self._directory.glob("*" + _SUFFIX + "*"):
            stray.unlink()

    def bytes_on_disk(self) -> int:
        """The size of every day file, with its write-ahead log."""
        return sum(path.stat().st_size for path in self._directory.iterdir() if path.is_file())

    def close(self) -> None:
        """Close every connection."""
        with self._lock:
            conns = list(self._writers.values())
            conns.extend(conn for pool in self._idle.values() for conn in pool)
            self._writers.clear()
            self._names.clear()
            self._recent.clear()
            self._idle.clear()
        for conn in conns:
            conn.close()

    def _writer(self, day: int) -> sqlite3.Connection:
        """The indexer's connection to `day`'s file, opened (creating the file) if need be; past
        `_WRITER_DAYS` open, the least recently used is closed, and so is one unused for
        `_WRITER_IDLE_SECONDS` (what it committed stays: `sync` makes a closed writer's day
        durable through its files)."""
        now = time.monotonic()
        self._writer_used[day] = now
        idle = [d for d, used in self._writer_used.items() if now - used > _WRITER_IDLE_SECONDS]
        for stale in idle:
            self._close_writer(stale)
        conn = self._writers.get(day)
        if conn is not None:
            with self._lock:
                self._writers.move_to_end(day)
            return conn
        path = self.path(day)
        if not path.exists():
            _create(path)
        conn = _connect(path, readonly=False, mmap_bytes=self._mmap_bytes)
        self._names[day] = {
            value: number for number, value in conn.execute("SELECT id, value FROM names")
        }
        with self._lock:
            self._writers[day] = conn
            self._days.add(day)
            oldest = list(self._writers)[: max(len(self._writers) - _WRITER_DAYS, 0)]
        for evicted in oldest:
            self._close_writer(evicted)
        return conn

    def _close_writer(self, day: int) -> None:
        """Close `day`'s writer and forget what was kept beside it."""
        with self._lock:
            writer = self._writers.pop(day, None)
            self._names.pop(day, None)
            self._recent.pop(day, None)
            self._writer_used.pop(day, None)
        if writer is not None:
            writer.close()

    def _give_back(self, day: int, conn: sqlite3.Connection, generation: int) -> None:
        closing: list[sqlite3.Connection] = []
        with self._lock:
            pool = None
            if day in self._days and self._generation.get(day, 0) == generation:
                pool = self._idle.setdefault(day, [])
                self._idle.move_to_end(day)
            if pool is not None and len(pool) < _IDLE_READERS_PER_DAY:
                pool.append(conn)
            else:
                closing.append(conn)
            idle = sum(len(pool) for pool in self._idle.values())
            while idle > _IDLE_READERS:  # the least recently used days' readers go first
                oldest_day, oldest = next(iter(self._idle.items()))
                if oldest:
                    closing.append(oldest.pop())
                    idle -= 1
                if not oldest:
                    del self._idle[oldest_day]
        for stale in closing:
            stale.close()


@contextlib.contextmanager
def _transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """BEGIN … COMMIT, rolled back on any error; SQLite may have rolled back already (a full
    disk does), and the connection must never be left inside a transaction."""
    conn.execute("BEGIN")
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def _resources(records: Sequence[LogRecord]) -> Iterator[tuple[str, int, str, int, int]]:
    """The `resources` rows of `records` (account still a string): one per resource type and
    per resource name, and one per derived value the event has."""
    for r in records:
        for value in r.resource_types:
            yield (r.account_id, RESOURCE_TYPE, value, r.event_time, r.seq)
        for value in r.resource_names:
            yield (r.account_id, RESOURCE_NAME, value, r.event_time, r.seq)
        yield from _derived_rows(
            r.account_id, r.event_time, r.seq, (r.event_type, r.source_ip, r.sensitive, r.role_name)
        )


def _derived_rows(
    account: str, event_time: int, seq: int, derived: tuple[str | None, ...]
) -> Iterator[tuple[str, int, str, int, int]]:
    for kind, value in zip((EVENT_TYPE, SOURCE_IP, SENSITIVE, ROLE_NAME), derived, strict=True):
        if value and value != ABSENT_MEANS.get(kind):
            yield (account, kind, value, event_time, seq)


@dataclass(frozen=True)
class _RecentCount:
    """How many events a day file's recent tables hold, and how many were merged: when to merge
    (counted by their id rows, one an event)."""

    merged: int
    recent: int

    @classmethod
    def of(cls, conn: sqlite3.Connection) -> _RecentCount:
        (merged,) = conn.execute("SELECT count(*) FROM event_ids").fetchone()
        (recent,) = conn.execute("SELECT count(*) FROM event_ids_recent").fetchone()
        return cls(int(merged), int(recent))

    def added(self, recent: int) -> _RecentCount:
        return _RecentCount(self.merged, self.recent + recent)

    def added_merged(self, merged: int) -> _RecentCount:
        return _RecentCount(self.merged + merged, 0)


def _merge_recent(conn: sqlite3.Connection) -> int:
    """Move every row of the recent tables into the merged ones (inside the caller's
    transaction), in the order of their keys, so each page of a merged table is written once;
    count the events merged."""
    moved: dict[str, int] = {}
    for into, recent in (_ID_TABLES, RESOURCE_TABLES):
        key = _KEYS[into]
        moved[into] = conn.execute(
            f"INSERT OR IGNORE INTO {into} SELECT {key} FROM {recent} ORDER BY {key}"
        ).rowcount
        conn.execute(f"DELETE FROM {recent}")
    return max(moved["event_ids"], 0)


def _stored_seqs(conn: sqlite3.Connection, records: Sequence[LogRecord]) -> set[int]:
    """Which seqs of `records` the day file holds already (a range of its primary key)."""
    if not records:
        return set()
    seqs = [r.seq for r in records]
    rows = conn.execute(
        "SELECT seq FROM events WHERE seq BETWEEN ? AND ?", (min(seqs), max(seqs))
    ).fetchall()
    return {seq for (seq,) in rows}


@functools.lru_cache(maxsize=64)
def seqs_of_hashes_sql(count: int) -> str:
    """A subquery: the seqs of the events whose id hash is one of `count` parameters, which
    are bound twice, once for each id table."""
    marks = ", ".join("?" * count)
    return (
        f"(SELECT seq FROM event_ids WHERE id_hash IN ({marks}) "
        f"UNION ALL SELECT seq FROM event_ids_recent WHERE id_hash IN ({marks}))"
    )


@functools.lru_cache(maxsize=64)
def known_ids_sql(count: int) -> str:
    """The event ids of an account among `count` hashes (`DayFiles.known`; the hashes bound
    twice, then the account)."""
    # Found by seq: without statistics SQLite might prefer an index that leads with the account
    # and scan the whole day per batch (PutEvents fell from 20k to 4k events/s when it did).
    return (
        f"SELECT event_id FROM events NOT INDEXED "
        f"WHERE seq IN {seqs_of_hashes_sql(count)} AND account = {NAME_ID}"
    )


def _create(path: Path) -> None:
    """Make the empty day file `path` whole or not at all: its tables are created under a
    temporary name, which is renamed into place only then."""
    staged = path.with_name(path.name + _STAGING_SUFFIX)
    for suffix in ("", "-wal", "-shm"):
        staged.with_name(staged.name + suffix).unlink(missing_ok=True)
    conn = _connect(staged, readonly=False)
    try:
        conn.executescript(f"BEGIN; {_SCHEMA} COMMIT;")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    fsync_path(staged)
    faults.point("index.day_file.staged")
    os.replace(staged, path)
    fsync_path(path.parent)
    faults.point("index.day_file.created")


def _complete(path: Path) -> bool:
    """True when `path` is a SQLite database holding every table and index of a day file (the
    index `events_id` standing for the recent tables in a file `add_recent_tables` will bring
    up)."""
    try:
        with contextlib.closing(sqlite3.connect(path)) as conn:
            names = {name for (name,) in conn.execute("SELECT name FROM sqlite_master")}
    except sqlite3.Error as exc:
        _log.warning("the day file %s cannot be read (%s)", path, exc)
        return False
    missing = _EVENT_OBJECTS - names
    if _OLD_ID_INDEX not in names:  # a file of format 5 or later
        missing |= _RECENT_OBJECTS - names
    if missing:
        _log.warning("the day file %s lacks %s", path, ", ".join(sorted(missing)))
    return not missing


def writer_cache_bytes(mmap_bytes: int) -> int:
    """The page cache of the indexer's connection to a day (`_connect`)."""
    return _CACHE_KIB * 1024 + int(mmap_bytes)


def _connect(path: Path, *, readonly: bool, mmap_bytes: int = MMAP_BYTES) -> sqlite3.Connection:
    """A connection to a day file. A reader maps up to `mmap_bytes` of it beside a page cache
    of `_CACHE_KIB`. The indexer's connection maps nothing and has that memory as page cache
    instead: a batch dirties index pages all over a large day (an event id lands on a random
    page of `events_id`, a resource name on one of `resources`), and a dirtied page needs a
    place in the cache, mapped or not; with 16 MB the cache spilled dirty pages to the WAL in
    mid-transaction. Measured by `bench/index_cost.py` on a copy of a day of 1.78M events,
    200,000 new ones timed as they arrive, three rounds: 25.4 against 28.3 µs of CPU an event in
    batches of 100,000 (0.90x), 31.4 against 40.7 µs in batches of 20,000 (0.77x)."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA busy_timeout=10000")
    if readonly:
        conn.execute(f"PRAGMA mmap_size={int(mmap_bytes)}")
        conn.execute(f"PRAGMA cache_size=-{_CACHE_KIB}")
        conn.execute("PRAGMA query_only=1")
    else:
        conn.execute("PRAGMA mmap_size=0")
        conn.execute(f"PRAGMA cache_size=-{writer_cache_bytes(mmap_bytes) // 1024}")
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
    return conn
