"""The PostgreSQL event log: one day-partitioned table that many processes append to at once.

Appends take no lock that other appends wait for: their `seq` numbers come from their own
transaction ids, and every reader by `seq` stays below the safe horizon (`horizon.py`), so it
never moves past an append that commits late. Concurrent appends of one process share a
transaction (`group_commit.py`), so the commit's WAL flush is paid once per group rather than
once per call. Bodies are stored zstd-compressed with a dictionary trained on the deployment's
own events (`dictionaries.py`): the JSON is most of a row, and PostgreSQL's own compression only
applies to values above ~2 KB.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

import psycopg
from psycopg import sql
from psycopg.rows import TupleRow

from trailhouse.events.model import (
    EventRecord,
    LoggedEvent,
    LookupPage,
    LookupPosition,
    LookupQuery,
)
from trailhouse.store.ports import PENDING_CAP, EventLog, LogStats
from trailhouse.store.postgres.compaction import DayCompaction
from trailhouse.store.postgres.dictionaries import Dictionaries
from trailhouse.store.postgres.group_commit import GroupCommit
from trailhouse.store.postgres.horizon import (
    MAX_ROWS_PER_APPEND,
    SEQ_OF_ROW,
    begin_append,
    log_key,
    safe_horizon,
)
from trailhouse.store.postgres.lookup_sql import LOGGED_COLUMNS, lookup_statement
from trailhouse.store.postgres.pool import Connection, ConnectionPool
from trailhouse.store.postgres.recorders import RECORDER_OF_ROW, RecorderIds
from trailhouse.store.postgres.schema import (
    create_partitions,
    day_of,
    list_partitions,
    partition_name,
)
from trailhouse.store.postgres.statistics import PartitionStatistics

# Each candidate gets its seq from the transaction id and its place in the batch (`horizon.py`);
# ON CONFLICT skips the ones already stored (a retry) with one unique-index probe each, whatever
# the planner thinks of the table, so a duplicate leaves a gap in seq (allowed: readers need
# order and the horizon, not density).
_INSERT = f"""
INSERT INTO events (
    seq, account_id, event_id, event_time, day, accepted_ms, event_name, service_name,
    event_rw, user_name, access_key_id, resource_types, resource_names, body, recorder_id,
    event_type, source_ip, sensitive, role_name, dict_id
)
SELECT
    {SEQ_OF_ROW}, u.account_id, u.event_id, u.event_time, u.day, %s,
    u.event_name, u.service_name, u.event_rw, u.user_name, u.access_key_id,
    u.resource_types::TEXT[], u.resource_names::TEXT[], u.body, u.recorder_id,
    u.event_type, u.source_ip, u.sensitive, u.role_name, %s
FROM unnest(
    %s::TEXT[], %s::TEXT[], %s::BIGINT[], %s::INTEGER[], %s::TEXT[], %s::TEXT[], %s::TEXT[],
    %s::TEXT[], %s::TEXT[], %s::TEXT[], %s::TEXT[], %s::BYTEA[], %s::INTEGER[],
    %s::TEXT[], %s::TEXT[], %s::BOOLEAN[], %s::TEXT[]
) WITH ORDINALITY AS u(
    account_id, event_id, event_time, day, event_name, service_name, event_rw, user_name,
    access_key_id, resource_types, resource_names, body, recorder_id,
    event_type, source_ip, sensitive, role_name, ord
)
ON CONFLICT DO NOTHING
RETURNING seq, account_id, event_id
"""


class PostgresEventLog(EventLog):
    """The event log in a PostgreSQL database shared by any number of processes."""

    def __init__(self, pool: ConnectionPool) -> None:
        self._pool = pool
        with pool.connection() as conn:
            self._key = log_key(conn)
            self._base = _scalar(conn, "SELECT seq_base FROM log_head WHERE id = 1")
        self._known_days: set[int] = set()
        self._days_lock = threading.Lock()
        self._group_commit = GroupCommit(self._append_group)
        self._statistics = PartitionStatistics(pool)
        self._dictionaries = Dictionaries(pool)
        self._recorders = RecorderIds(pool)
        self._compaction = DayCompaction(pool)

    def append(self, records: Sequence[EventRecord]) -> list[bool]:
        """Append `records` durably; True for each one stored, False for each duplicate.

        Appends made meanwhile by other threads of this process share its transaction.
        """
        if not records:
            return []
        return self._group_commit.append(records)

    def _append_group(self, records: Sequence[EventRecord]) -> list[bool]:
        """One transaction for every record of a group (the first copy of an event wins)."""
        first: dict[tuple[str, str], int] = {}
        for index, record in enumerate(records):
            first.setdefault((record.account_id, record.event_id), index)
        unique = [records[index] for index in first.values()]
        days = [day_of(record.event_time) for record in unique]
        stored: set[tuple[str, str]] = set()
        # A transaction numbers at most MAX_ROWS_PER_APPEND rows (`horizon.py`).
        for start in range(0, len(unique), MAX_ROWS_PER_APPEND):
            end = start + MAX_ROWS_PER_APPEND
            stored |= self._append_chunk(unique[start:end], days[start:end])
        added: dict[int, int] = {}
        for record, day in zip(unique, days, strict=True):
            if (record.account_id, record.event_id) in stored:
                added[day] = added.get(day, 0) + 1
        self._statistics.appended(added)
        self._dictionaries.offer([r.body for r in unique])
        # Only the first copy of an event in the batch can be the stored one.
        return [
            first[(r.account_id, r.event_id)] == index and (r.account_id, r.event_id) in stored
            for index, r in enumerate(records)
        ]

    def _append_chunk(self, records: list[EventRecord], days: list[int]) -> set[tuple[str, str]]:
        """One append transaction; the (account, event id) of each record it stored."""
        dict_id, bodies = self._dictionaries.compress([r.body for r in records])
        recorder_ids = self._recorders.ids([r.recorder for r in records])
        params = _insert_columns(records, days, dict_id, bodies, recorder_ids)
        with self._pool.connection() as conn:
            for attempt in (1, 2):
                self._ensure_days(conn, set(days))
                try:
                    return _insert(conn, self._key, self._base, params)
                except psycopg.errors.CheckViolation:
                    # Another process purged a partition this one still believed in.
                    if attempt == 2:
                        raise
                    with self._days_lock:
                        self._known_days.clear()
        raise AssertionError("unreachable")

    def recorders(self, records: Sequence[EventRecord]) -> list[str | None]:
        """Who recorded the stored copy of each record, found by the dedup key (account,
        event id, day of the event time)."""
        if not records:
            return []
        keys = [(r.account_id, r.event_id, day_of(r.event_time)) for r in records]
        with self._pool.connection() as conn:
            rows = conn.execute(
                f"SELECT e.account_id, e.event_id, e.day, {RECORDER_OF_ROW} "
                "FROM unnest(%s::TEXT[], %s::TEXT[], %s::INTEGER[]) "
                "AS k(account_id, event_id, day) JOIN events e USING (account_id, event_id, day)",
                ([k[0] for k in keys], [k[1] for k in keys], [k[2] for k in keys]),
            ).fetchall()
        found = {(str(a), str(e), int(d)): str(by) for a, e, d, by in rows}
        return [found.get(key) for key in keys]

    def read_after(self, seq: int, limit: int) -> list[LoggedEvent]:
        """Up to `limit` events with a sequence number above `seq`, in sequence order, all
        below the safe horizon: an append still in flight holds back every later one."""
        with self._pool.connection() as conn:
            horizon = safe_horizon(conn, self._key, self._base)
            rows = conn.execute(
                sql.SQL(
                    "SELECT {} FROM events WHERE seq > %s AND seq < %s ORDER BY seq LIMIT %s"
                ).format(LOGGED_COLUMNS),
                (seq, horizon, limit),
            ).fetchall()
        return _logged(rows, self._dictionaries)

    def last_seq(self) -> int:
        """The highest sequence number below the safe horizon (0 for an empty log): every
        event up to it is committed and visible, and no later append can land below it."""
        with self._pool.connection() as conn:
            return self._last_seq(conn)

    def pending_after(self, seq: int, cap: int = PENDING_CAP, up_to: int | None = None) -> int:
        """How many events lie above `seq` up to `last_seq()` (and up to `up_to` when given),
        counted up to `cap` (seqs are sparse here: their difference counts transaction ids, not
        events)."""
        with self._pool.connection() as conn:
            horizon = safe_horizon(conn, self._key, self._base)
            if up_to is not None:
                horizon = min(horizon, up_to + 1)
            return _scalar(
                conn,
                sql.SQL(
                    "SELECT count(*) FROM (SELECT 1 FROM events WHERE seq > {} AND seq < {} "
                    "LIMIT {}) AS p"
                ).format(sql.Literal(seq), sql.Literal(horizon), sql.Literal(cap)),
            )

    def _last_seq(self, conn: Connection) -> int:
        horizon = safe_horizon(conn, self._key, self._base)
        return _scalar(
            conn,
            sql.SQL(
                "SELECT greatest((SELECT max(seq) FROM events WHERE seq < {}), "
                "(SELECT seq_floor FROM log_head WHERE id = 1))"
            ).format(sql.Literal(horizon)),
        )

    def lookup(self, query: LookupQuery) -> LookupPage:
        """One page of an account's history matching `query` (all conditions ANDed)."""
        statement, params = lookup_statement(query)
        with self._pool.connection() as conn:
            rows = conn.execute(statement, params).fetchall()
        events = _logged(rows[: query.limit], self._dictionaries)
        more = len(rows) > query.limit and events
        last = events[-1] if more else None
        position = LookupPosition(last.event_time, last.seq) if last is not None else None
        return LookupPage(events, position)

    def catch_up(self, timeout: float = 10.0) -> bool:
        """Always True at once: the indexes are updated in the append transaction."""
        return True

    def purge(self, older_than: int) -> int:
        """Drop the day partitions wholly before `older_than`; delete rows in the one it cuts."""
        cutoff = day_of(older_than)
        removed = 0
        with self._pool.connection() as conn:
            horizon = safe_horizon(conn, self._key, self._base)
            with conn.transaction():
                partitions = list_partitions(conn)
                for day, name in sorted(partitions.items()):
                    table = sql.Identifier(name)
                    if day < cutoff:
                        removed += self._drop(conn, table, horizon)
                if cutoff in partitions:
                    cursor = conn.execute(
                        "DELETE FROM events WHERE day = %s AND event_time < %s",
                        (cutoff, older_than),
                    )
                    removed += max(cursor.rowcount, 0)
        with self._days_lock:
            self._known_days = {day for day in self._known_days if day >= cutoff}
        self._statistics.forget({day for day in partitions if day < cutoff})
        return removed

    def _drop(self, conn: Connection, table: sql.Identifier, horizon: int) -> int:
        """Drop one day partition (in the caller's transaction); the rows it held. The highest
        final seq it held becomes the floor of `last_seq`, which never goes back."""
        count, top = conn.execute(
            sql.SQL("SELECT count(*), max(seq) FILTER (WHERE seq < %s) FROM {}").format(table),
            (horizon,),
        ).fetchone() or (0, None)
        if top is not None:
            conn.execute(
                "UPDATE log_head SET seq_floor = greatest(seq_floor, %s) WHERE id = 1", (top,)
            )
        conn.execute(sql.SQL("DROP TABLE {}").format(table))
        return int(count)

    def stats(self) -> LogStats:
        """Counts and sizes, for status pages and benchmarks."""
        with self._pool.connection() as conn:
            count = _scalar(conn, "SELECT count(*) FROM events")
            last = self._last_seq(conn)
            size = _scalar(
                conn,
                "SELECT coalesce(sum(pg_total_relation_size(inhrelid)), 0)::BIGINT "
                "FROM pg_inherits WHERE inhparent = 'events'::regclass",
            )
        return LogStats(events=count, last_seq=last, indexed_seq=last, bytes_on_disk=size)

    def statistics_kept(self, timeout: float = 30.0) -> bool:
        """Block until the partition statistics asked for so far are gathered (for tests and
        benchmarks); False on timeout."""
        return self._statistics.wait(timeout)

    def compact_sealed_days(self) -> list[int]:
        """Rebuild the indexes of sealed days now (a background thread does it hourly); the
        days compacted. For benchmarks and tests."""
        return self._compaction.compact_sealed()

    def close(self) -> None:
        """Release the connections; idempotent."""
        self._compaction.close()
        self._statistics.close()
        self._pool.close()

    def _ensure_days(self, conn: Connection, days: set[int]) -> None:
        with self._days_lock:
            missing = days - self._known_days
        if missing:
            create_partitions(conn, missing)
            self._statistics.seen(
                {
                    day: _scalar(
                        conn,
                        sql.SQL("SELECT reltuples::BIGINT FROM pg_class WHERE oid = {}").format(
                            sql.Literal(partition_name(day))
                        )
                        + sql.SQL("::regclass"),
                    )
                    for day in missing
                }
            )
            with self._days_lock:
                self._known_days |= missing


def _insert(conn: Connection, key: int, base: int, columns: list[object]) -> set[tuple[str, str]]:
    """One append transaction: marked as an append first (`horizon.begin_append`), then the
    rows, numbered from its transaction id. Nothing here waits for another append."""
    with conn.transaction():
        begin_append(conn, key)
        rows = conn.execute(_INSERT, [base, int(time.time() * 1000), *columns]).fetchall()
    return {(str(account), str(event)) for _, account, event in rows}


def _insert_columns(
    records: list[EventRecord],
    days: list[int],
    dict_id: int,
    bodies: list[bytes],
    recorder_ids: list[int | None],
) -> list[object]:
    """The parameters of `_INSERT` after the base and the time: the dictionary the bodies were
    compressed with, then one array per column."""
    return [
        dict_id,
        [r.account_id for r in records],
        [r.event_id for r in records],
        [r.event_time for r in records],
        days,
        [r.event_name for r in records],
        [r.service_name for r in records],
        [r.event_rw for r in records],
        [r.user_name for r in records],
        [r.access_key_id for r in records],
        [_array_literal(r.resource_types) for r in records],
        [_array_literal(r.resource_names) for r in records],
        bodies,
        recorder_ids,
        [r.event_type for r in records],
        [r.source_ip or None for r in records],
        [r.sensitive == "true" for r in records],
        [r.role_name or None for r in records],
    ]


def _array_literal(values: tuple[str, ...]) -> str:
    """A TEXT[] literal, since arrays of uneven length cannot travel in one 2-D parameter."""
    quoted = ('"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values)
    return "{" + ",".join(quoted) + "}"


def _logged(rows: list[TupleRow], dictionaries: Dictionaries) -> list[LoggedEvent]:
    return [
        LoggedEvent(
            seq=int(seq),
            account_id=str(account_id),
            event_id=str(event_id),
            event_time=int(event_time),
            accepted_ms=int(accepted_ms),
            body=dictionaries.decompressor(int(dict_id)).decompress(bytes(body)),
            recorder=str(recorder or ""),
        )
        for seq, account_id, event_id, event_time, accepted_ms, body, recorder, dict_id in rows
    ]


def _scalar(conn: Connection, statement: str | sql.Composed) -> int:
    row = conn.execute(statement).fetchone()
    return 0 if row is None or row[0] is None else int(row[0])
