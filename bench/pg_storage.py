"""Disk per million events in the PostgreSQL store, relation by relation.

Prefills a fresh schema of `--database-url` with generated events over `--days` days through
the store's own `append` (as `ingest_lookup.py --prefill` does), then prints what the day
partitions take per million events: the heap, TOAST, and each index summed over the
partitions, as appended and again after the store compacted its sealed days
(`store/postgres/compaction.py`), beside the events' compact JSON (the baseline: what the same
events weigh raw) and the issue's target of 1.3 GB. The schema is dropped at the end.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import orjson
import psycopg
from psycopg import sql

from _events import DEFAULT_GEN_DIR, TimeWindow
from _prefill import prefill
from _scale_procs import schema_url
from trailhouse.events.model import EventRecord
from trailhouse.settings import Settings
from trailhouse.store import open_stores
from trailhouse.store.postgres.event_log import PostgresEventLog

# Per index of the parent table: the bytes of its partitions' indexes (pg_inherits links them).
_INDEXES = """
SELECT parent.relname, coalesce(sum(pg_relation_size(child.oid)), 0)::BIGINT
FROM pg_index pi
JOIN pg_class parent ON parent.oid = pi.indexrelid
JOIN pg_inherits inh ON inh.inhparent = parent.oid
JOIN pg_class child ON child.oid = inh.inhrelid
WHERE pi.indrelid = 'events'::regclass
GROUP BY parent.relname ORDER BY 2 DESC
"""
_TABLES = """
SELECT coalesce(sum(pg_relation_size(c.oid)), 0)::BIGINT,
       coalesce(sum(pg_total_relation_size(c.reltoastrelid)), 0)::BIGINT,
       coalesce(sum(pg_total_relation_size(c.oid)), 0)::BIGINT
FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
WHERE i.inhparent = 'events'::regclass
"""


def arguments() -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url", default="postgresql://127.0.0.1:5432/test")
    parser.add_argument("--events", type=int, default=300_000)
    parser.add_argument("--days", type=float, default=7.0, help="days the event times span")
    parser.add_argument("--workers", type=int, default=1, help="event generating processes")
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--gen-dir", type=Path, default=DEFAULT_GEN_DIR)
    parser.add_argument(
        "--recorders",
        type=int,
        default=0,
        help="give events one of this many recorders, as PutEvents does (0: none, as a prefill)",
    )
    parser.add_argument("--keep", action="store_true", help="do not drop the schema")
    return parser.parse_args()


def main() -> int:
    """Prefill, measure, print, drop."""
    args = arguments()
    schema = f"th_pgstorage_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(args.database_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    url = schema_url(args.database_url, schema)
    try:
        settings = Settings.load({"data_dir": "/tmp", "database_url": url}, environ={})
        stores = open_stores(settings)
        try:
            began = time.perf_counter()
            result = prefill(
                WithRecorders(stores.events, args.recorders),  # type: ignore[arg-type]
                gen_dir=args.gen_dir,
                seed=args.seed,
                account_id="1234567890123456",
                total=args.events,
                window=TimeWindow.last_days(int(time.time()), args.days),
                workers=args.workers,
            )
            seconds = time.perf_counter() - began
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute("VACUUM ANALYZE events")  # a settled table, as days old enough are
                appended = sizes(conn)
            log = stores.events
            assert isinstance(log, PostgresEventLog)
            began = time.perf_counter()
            compacted = log.compact_sealed_days()
            compaction_seconds = time.perf_counter() - began
            with psycopg.connect(url, autocommit=True) as conn:
                after = sizes(conn)
        finally:
            stores.close()
    finally:
        if not args.keep:
            with psycopg.connect(args.database_url, autocommit=True) as admin:
                admin.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
    count = appended["events"]
    per_m = 1_000_000 / max(count, 1) / 1e9
    print(
        f"{count:,} events over {args.days:g} days, appended in {seconds:.0f} s "
        f"({count / seconds:,.0f}/s), {args.recorders} recorder(s); {len(compacted)} sealed "
        f"day(s) compacted in "
        f"{compaction_seconds:.1f} s. GB per million events:"
    )
    print(f"  {'':<28} {'appended':>8} {'compacted':>9}")
    for name in appended:
        if name != "events":
            print(f"  {name:<28} {appended[name] * per_m:8.3f} {after.get(name, 0) * per_m:9.3f}")
    print(f"  {'baseline: compact JSON':<28} {result.stats.json_bytes * per_m:8.3f}")
    print("  target: all partitions ≤ 1.3")
    return 0


class WithRecorders:
    """The store's log, giving each appended event one of `count` recorders (key by key)."""

    def __init__(self, log: Any, count: int) -> None:
        self._log = log
        self._recorders = [
            orjson.dumps(
                {
                    "type": "ram-user",
                    "accessKeyId": f"LTAI5tBench{n:010d}",
                    "principalId": f"2037858123456789{n:02d}",
                    "accountId": "1234567890123456",
                    "userName": f"bench-user-{n}",
                }
            ).decode()
            for n in range(count)
        ]

    def append(self, records: list[EventRecord]) -> list[bool]:
        """Append with recorders set."""
        if self._recorders:
            records = [
                dataclasses.replace(r, recorder=self._recorders[n % len(self._recorders)])
                for n, r in enumerate(records)
            ]
        stored: list[bool] = self._log.append(records)
        return stored

    def catch_up(self, timeout: float = 10.0) -> bool:
        """As the log's."""
        return bool(self._log.catch_up(timeout))


def sizes(conn: psycopg.Connection[tuple[Any, ...]]) -> dict[str, int]:
    """Bytes of the day partitions, in all and by part; `events`: the rows they hold."""
    row = conn.execute("SELECT count(*) FROM events").fetchone()
    heap, toast, total = conn.execute(_TABLES).fetchone() or (0, 0, 0)
    found = {"events": int(row[0]) if row else 0, "all partitions": int(total)}
    found |= {"  heap": int(heap), "  TOAST": int(toast)}
    for name, size in conn.execute(_INDEXES).fetchall():
        found[f"  {name}"] = int(size)
    return found


if __name__ == "__main__":
    sys.exit(main())
