"""The PostgreSQL schema, its migrations, and the day partitions of the event table.

All objects are created unqualified, so they land in the first schema of the connection's
search_path. Creation is idempotent and serialised by an advisory lock, so several processes
may open the same database at once.
"""

from __future__ import annotations

import datetime as dt

import zstandard
from psycopg import sql

from trailhouse import faults
from trailhouse.events.attributes import attributes_of_body
from trailhouse.store.migrations import Migration, SchemaNeedsUpgrade, check, pending
from trailhouse.store.postgres.pool import Connection

SCHEMA_VERSION = 1

# Arbitrary constants naming the advisory locks that serialise DDL between processes.
_SCHEMA_LOCK = 0x7472_6169_6C00_0001
_PARTITION_LOCK = 0x7472_6169_6C00_0002

_DDL = (
    """
    CREATE TABLE IF NOT EXISTS schema_version (
        version INTEGER NOT NULL,
        applied_at BIGINT NOT NULL
    )
    """,
    f"""
    INSERT INTO schema_version (version, applied_at)
    SELECT {SCHEMA_VERSION}, extract(epoch FROM now())::BIGINT
    WHERE NOT EXISTS (SELECT 1 FROM schema_version)
    """,
    # One row; since version 6 it holds the base of seqs and the floor of last_seq.
    """
    CREATE TABLE IF NOT EXISTS log_head (
        id SMALLINT PRIMARY KEY CHECK (id = 1),
        last_seq BIGINT NOT NULL
    )
    """,
    "INSERT INTO log_head (id, last_seq) VALUES (1, 0) ON CONFLICT (id) DO NOTHING",
    """
    CREATE TABLE IF NOT EXISTS events (
        seq BIGINT NOT NULL,
        account_id TEXT NOT NULL,
        event_id TEXT NOT NULL,
        event_time BIGINT NOT NULL,
        day INTEGER NOT NULL,
        accepted_ms BIGINT NOT NULL,
        event_name TEXT NOT NULL,
        service_name TEXT NOT NULL,
        event_rw TEXT NOT NULL,
        user_name TEXT,
        access_key_id TEXT,
        resource_types TEXT[] NOT NULL,
        resource_names TEXT[] NOT NULL,
        body BYTEA NOT NULL
    ) PARTITION BY RANGE (day)
    """,
    # A unique index on a partitioned table must hold the partition key; a retried event
    # carries the same event_time, hence the same day.
    "CREATE UNIQUE INDEX IF NOT EXISTS events_dedup ON events (account_id, event_id, day)",
    "CREATE INDEX IF NOT EXISTS events_seq ON events (seq)",
    "CREATE INDEX IF NOT EXISTS events_time ON events (account_id, event_time, seq)",
    "CREATE INDEX IF NOT EXISTS events_name ON events (account_id, event_name, event_time, seq)",
    "CREATE INDEX IF NOT EXISTS events_service "
    "ON events (account_id, service_name, event_time, seq)",
    "CREATE INDEX IF NOT EXISTS events_user ON events (account_id, user_name, event_time, seq)",
    "CREATE INDEX IF NOT EXISTS events_key ON events (account_id, access_key_id, event_time, seq)",
    # Writes are the rare, interesting ones (~15 %); reads are served by events_time.
    "CREATE INDEX IF NOT EXISTS events_writes "
    "ON events (account_id, event_time, seq) WHERE event_rw = 'Write'",
    "CREATE INDEX IF NOT EXISTS events_resource_types ON events USING GIN (resource_types)",
    "CREATE INDEX IF NOT EXISTS events_resource_names ON events USING GIN (resource_names)",
    """
    CREATE TABLE IF NOT EXISTS accounts (
        account_id TEXT PRIMARY KEY,
        created_at BIGINT NOT NULL
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS ram_users (
        account_id TEXT NOT NULL,
        user_name TEXT NOT NULL,
        user_id TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        PRIMARY KEY (account_id, user_name)
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS access_keys (
        access_key_id TEXT PRIMARY KEY,
        secret TEXT NOT NULL,
        kind TEXT NOT NULL,
        account_id TEXT NOT NULL,
        name TEXT NOT NULL,
        principal_id TEXT NOT NULL,
        created_at BIGINT NOT NULL
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS nonces (
        nonce TEXT PRIMARY KEY,
        expires_at BIGINT NOT NULL
    )
    """,
    "CREATE INDEX IF NOT EXISTS nonces_expiry ON nonces (expires_at)",
    # Byte-wise collation: documents list in the same order as on SQLite, whatever the
    # database's locale, and the primary key index serves that order.
    """
    CREATE TABLE IF NOT EXISTS documents (
        kind TEXT COLLATE "C" NOT NULL,
        scope TEXT COLLATE "C" NOT NULL,
        name TEXT COLLATE "C" NOT NULL,
        body BYTEA NOT NULL,
        version INTEGER NOT NULL,
        updated_at BIGINT NOT NULL,
        PRIMARY KEY (kind, scope, name)
    )
    """,
)

# Day numbers are YYYYMMDD integers; times beyond what datetime handles are clamped.
_MIN_TIME = -62135596800  # 0001-01-01T00:00:00Z
_MAX_TIME = 253402300799  # 9999-12-31T23:59:59Z


def _add_rate_buckets(conn: Connection) -> None:
    """Version 2: token buckets of rate limits, so every process enforces one limit."""
    conn.execute(
        """
        CREATE TABLE IF NOT EXISTS rate_buckets (
            bucket TEXT PRIMARY KEY,
            tokens DOUBLE PRECISION NOT NULL,
            updated DOUBLE PRECISION NOT NULL
        )
        """
    )


def _add_key_status(conn: Connection) -> None:
    """Version 3: a status per access key (existing keys stay Active), and keys by account."""
    conn.execute(
        "ALTER TABLE access_keys ADD COLUMN IF NOT EXISTS status TEXT NOT NULL DEFAULT 'Active'"
    )
    conn.execute("CREATE INDEX IF NOT EXISTS access_keys_account ON access_keys (account_id)")


def _add_event_recorder(conn: Connection) -> None:
    """Version 4: who recorded each event (`events/recorder.py`); NULL for the events stored
    before, whose recorder is unknown. Adding a nullable column rewrites no partition."""
    conn.execute("ALTER TABLE events ADD COLUMN IF NOT EXISTS recorder TEXT")


_BACKFILL_BATCH = 5_000


def _add_derived_keys(conn: Connection) -> None:
    """Version 5: LookupEvents' derived keys (`events/attributes.py`) as indexed columns, filled
    in for the events stored before from their bodies."""
    for statement in (
        "ALTER TABLE events ADD COLUMN IF NOT EXISTS event_type TEXT",
        "ALTER TABLE events ADD COLUMN IF NOT EXISTS source_ip TEXT",
        "ALTER TABLE events ADD COLUMN IF NOT EXISTS sensitive BOOLEAN NOT NULL DEFAULT false",
        "ALTER TABLE events ADD COLUMN IF NOT EXISTS role_name TEXT",
        "CREATE INDEX IF NOT EXISTS events_type "
        "ON events (account_id, event_type, event_time, seq)",
        "CREATE INDEX IF NOT EXISTS events_source_ip "
        "ON events (account_id, source_ip, event_time, seq)",
        "CREATE INDEX IF NOT EXISTS events_role ON events (account_id, role_name, event_time, seq) "
        "WHERE role_name IS NOT NULL",
        "CREATE INDEX IF NOT EXISTS events_sensitive "
        "ON events (account_id, event_time, seq) WHERE sensitive",
    ):
        conn.execute(statement)
    decompressor = zstandard.ZstdDecompressor()
    last = -1
    while True:
        rows = conn.execute(
            "SELECT seq, day, body FROM events WHERE seq > %s AND event_type IS NULL "
            "ORDER BY seq LIMIT %s",
            (last, _BACKFILL_BATCH),
        ).fetchall()
        if not rows:
            return
        found = [attributes_of_body(decompressor.decompress(bytes(body))) for _, _, body in rows]
        conn.execute(
            "UPDATE events e SET event_type = u.event_type, source_ip = u.source_ip, "
            "sensitive = u.sensitive, role_name = u.role_name "
            "FROM unnest(%s::BIGINT[], %s::INTEGER[], %s::TEXT[], %s::TEXT[], %s::BOOLEAN[], "
            "%s::TEXT[]) AS u(seq, day, event_type, source_ip, sensitive, role_name) "
            "WHERE e.seq = u.seq AND e.day = u.day",
            [
                [int(seq) for seq, _, _ in rows],
                [int(day) for _, day, _ in rows],
                [a.event_type for a in found],  # "" (not NULL): back-filled, no type
                [a.source_ip or None for a in found],
                [a.sensitive == "true" for a in found],
                [a.role_name or None for a in found],
            ],
        )
        last = int(rows[-1][0])


def _sequence_by_transaction(conn: Connection) -> None:
    """Version 6: appends no longer serialise on the `log_head` row lock; their seqs come from
    their transaction ids above a constant base (`horizon.py`). The base is the highest seq
    given so far, so every new seq lies above every old one. `last_seq` becomes `seq_floor`
    (raised by purges only): a process of an older release, still running, fails on it rather
    than appending seqs readers would never reach."""
    renamed = _scalar(
        conn,
        "SELECT count(*) FROM information_schema.columns WHERE table_schema = current_schema() "
        "AND table_name = 'log_head' AND column_name = 'seq_floor'",
    )
    if renamed:  # applied already (a test that re-runs the steps after 5)
        return
    conn.execute("ALTER TABLE log_head ADD COLUMN seq_base BIGINT NOT NULL DEFAULT 0")
    conn.execute("UPDATE log_head SET seq_base = last_seq WHERE id = 1")
    conn.execute("ALTER TABLE log_head RENAME COLUMN last_seq TO seq_floor")


def _shrink_events(conn: Connection) -> None:
    """Version 7: smaller events. Bodies name the zstd dictionary they were compressed with
    (`dictionaries.py`; 0 for every body stored before: none). The EventType index keeps only
    the events whose type is not the usual `ApiCall`; a lookup of `ApiCall` reads by time, as
    SQLite's absent-row design does. `compacted_days` lists the sealed day partitions whose
    indexes were rebuilt full (`compaction.py`). New rows name their recorder by id in
    `recorders` (`recorders.py`); rows stored before keep its text."""
    conn.execute(
        "CREATE TABLE IF NOT EXISTS zstd_dicts (id INTEGER PRIMARY KEY, dict BYTEA NOT NULL)"
    )
    conn.execute("ALTER TABLE events ADD COLUMN IF NOT EXISTS dict_id SMALLINT NOT NULL DEFAULT 0")
    conn.execute(
        "CREATE TABLE IF NOT EXISTS compacted_days (day INTEGER PRIMARY KEY, "
        "compacted_at BIGINT NOT NULL)"
    )
    conn.execute(
        "CREATE TABLE IF NOT EXISTS recorders "
        "(id SERIAL PRIMARY KEY, recorder TEXT UNIQUE NOT NULL)"
    )
    conn.execute("ALTER TABLE events ADD COLUMN IF NOT EXISTS recorder_id INTEGER")
    conn.execute("DROP INDEX IF EXISTS events_type")
    conn.execute(
        "CREATE INDEX events_type ON events (account_id, event_type, event_time, seq) "
        "WHERE event_type <> 'ApiCall'"
    )


# Version 1 is `_DDL`; later versions are steps appended here, never edited once released.
POSTGRES_MIGRATIONS: list[Migration[Connection]] = [
    Migration(2, "rate-limit token buckets shared by every process", _add_rate_buckets),
    Migration(3, "access keys can be disabled (status)", _add_key_status),
    Migration(4, "events keep who recorded them (recorder)", _add_event_recorder),
    Migration(
        5,
        "LookupEvents searches eventType, sourceIpAddress, SensitiveAction, RoleName",
        _add_derived_keys,
    ),
    Migration(
        6, "appends take no shared lock: seqs from transaction ids", _sequence_by_transaction
    ),
    Migration(
        7, "dictionary-compressed bodies, interned recorders, smaller indexes", _shrink_events
    ),
]


def create_schema(conn: Connection, *, upgrade: bool = False) -> int:
    """Create the schema in an empty database, or check (with `upgrade`, migrate) an existing
    one; return its version. SchemaTooNew or SchemaNeedsUpgrade say what to do."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
        fresh = bool(_scalar(conn, "SELECT to_regclass('schema_version') IS NULL"))
        if fresh:  # version 1 (or a store made before versions were kept: IF NOT EXISTS)
            for statement in _DDL:
                conn.execute(statement)
        current = int(str(_scalar(conn, "SELECT max(version) FROM schema_version")))
        check("the PostgreSQL database", current, POSTGRES_MIGRATIONS)
        steps = pending(current, POSTGRES_MIGRATIONS)
        if steps and not (upgrade or fresh):
            raise SchemaNeedsUpgrade(
                f"the PostgreSQL database has schema version {current} and this trailhouse needs "
                f"{steps[-1].version}; run `trailhouse db upgrade` once (other processes wait)"
            )
        for step in steps:
            step.apply(conn)
            conn.execute(
                "INSERT INTO schema_version (version, applied_at) "
                "VALUES (%s, extract(epoch FROM now())::BIGINT)",
                (step.version,),
            )
            faults.point("migration.applied")
            current = int(step.version)
        return current


def _scalar(conn: Connection, query: str) -> object:
    row = conn.execute(query).fetchone()
    return row[0] if row else None


def day_of(event_time: int) -> int:
    """The UTC day of an epoch second as the integer YYYYMMDD (the partition key)."""
    clamped = min(max(event_time, _MIN_TIME), _MAX_TIME)
    day = dt.datetime.fromtimestamp(clamped, tz=dt.UTC)
    return day.year * 10000 + day.month * 100 + day.day


def partition_name(day: int) -> str:
    """The table holding the events of `day`, e.g. events_20250301."""
    return f"events_{day:08d}"


def create_partitions(conn: Connection, days: set[int]) -> None:
    """Create the day partitions in `days` that do not exist yet."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_PARTITION_LOCK,))
        for day in sorted(days):
            name = partition_name(day)
            exists = conn.execute("SELECT to_regclass(%s)", (name,)).fetchone()
            if exists is not None and exists[0] is not None:
                continue
            conn.execute(
                sql.SQL("CREATE TABLE {} PARTITION OF events FOR VALUES FROM ({}) TO ({})").format(
                    sql.Identifier(name), sql.Literal(day), sql.Literal(day + 1)
                )
            )


def list_partitions(conn: Connection) -> dict[int, str]:
    """The existing day partitions, by day."""
    rows = conn.execute(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = 'events'::regclass"
    ).fetchall()
    partitions: dict[int, str] = {}
    for (name,) in rows:
        assert isinstance(name, str)
        suffix = name.removeprefix("events_")
        if suffix.isdigit():
            partitions[int(suffix)] = name
    return partitions
