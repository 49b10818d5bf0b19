"""Sequence numbers of the PostgreSQL event log and the safe horizon every reader stays below.

Appends take no lock that other appends wait for. An append transaction's `seq` values are
derived from its own PostgreSQL transaction id: `seq = base + (xid << SEQ_SHIFT) + n` for its
n-th row (n < 2**SEQ_SHIFT). Transaction ids only grow, so two appends' seq ranges never overlap
and are ordered like their transaction ids, whatever order they commit in.

A reader must not move past an append that may still commit (ARCHITECTURE decision 1). Every
append transaction first takes a *shared* advisory lock of this log (`begin_append`), before it
has a transaction id; appends never conflict on it, it only makes them findable in `pg_locks`.
`safe_horizon` then reads, in two statements:

1. `xmax` of a fresh snapshot: every transaction id below it was assigned before that moment;
2. the transaction ids of the appends holding the advisory lock now (one read of `pg_locks`).

The horizon is the lowest of those ids, or `xmax` when no append is in flight. Every row whose
transaction id is below it has committed or rolled back for good: such an append had its id
before step 1, hence its advisory lock too, so if it were still running it would have been
seen in step 2. A statement issued after `safe_horizon` returns therefore sees every row with
`seq < horizon_seq` that will ever exist, and `read_after` never returns a row at or above it.
Only this log's appends hold a reader back, not other transactions of the cluster (a long
batch job in another database does not delay delivery, as `pg_snapshot_xmin` alone would).
"""

from __future__ import annotations

import zlib

from trailhouse.store.postgres.pool import Connection

SEQ_SHIFT = 20
MAX_ROWS_PER_APPEND = (1 << SEQ_SHIFT) - 1

# The advisory lock's first key names trailhouse's event log ('trai'); the second, the schema
# the log lives in, so that logs in different schemas of one database do not wait on each other.
_LOCK_CLASS = 0x74726169
_XID_WRAP = 1 << 32

_LOCK_HOLDERS = """
WITH l AS MATERIALIZED (SELECT locktype, database, classid, objid, objsubid, pid, mode,
                               granted, transactionid FROM pg_locks)
SELECT t.transactionid::text::bigint
FROM l AS a JOIN l AS t ON t.pid = a.pid
WHERE a.locktype = 'advisory' AND a.granted AND a.objsubid = 2
  AND a.database = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND a.classid = %s::bigint::oid AND a.objid = %s::bigint::oid
  AND t.locktype = 'transactionid' AND t.mode = 'ExclusiveLock' AND t.granted
"""


def log_key(conn: Connection) -> int:
    """The advisory lock key of the log in the connection's current schema."""
    row = conn.execute("SELECT current_schema()").fetchone()
    schema = str(row[0]) if row else ""
    return zlib.crc32(schema.encode()) & 0x7FFFFFFF


def begin_append(conn: Connection, key: int) -> None:
    """Mark the open transaction as an append of this log; call before it writes anything."""
    conn.execute("SELECT pg_advisory_xact_lock_shared(%s, %s)", (_LOCK_CLASS, key))


# The seq of row `ord` (1-based) of the current append: the first placeholder is the base.
SEQ_OF_ROW = f"(%s + (pg_current_xact_id()::text::bigint << {SEQ_SHIFT}) + u.ord - 1)"


def safe_horizon(conn: Connection, key: int, base: int) -> int:
    """The lowest seq an append still in flight may commit: every row below it is final.

    Two statements, so `conn` must be in autocommit mode (each gets its own snapshot), and
    the caller's next statement must start after this returns.
    """
    row = conn.execute("SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint").fetchone()
    assert row is not None
    xmax = int(row[0])
    horizon = xmax
    for (xid32,) in conn.execute(_LOCK_HOLDERS, (_LOCK_CLASS, key)).fetchall():
        # pg_locks shows 32-bit ids; a running one lies within 2**31 below xmax.
        horizon = min(horizon, xmax - ((xmax - int(xid32)) % _XID_WRAP))
    return base + (horizon << SEQ_SHIFT)
