"""PostgreSQL lookups do not wait for autovacuum: with it off on the day partitions, the store
analyzes a fresh partition itself, and an EventId lookup's plan then uses the event-id index
instead of walking every partition's time index."""

from __future__ import annotations

import time
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from trailhouse.events.model import Direction, EventRecord, LookupKey, LookupQuery
from trailhouse.settings import Settings
from trailhouse.store import open_stores
from trailhouse.store.postgres.event_log import PostgresEventLog
from trailhouse.store.postgres.lookup_sql import lookup_statement
from trailhouse.store.postgres.schema import day_of, partition_name
from trailhouse.store.postgres.statistics import FIRST_ANALYZE_ROWS

ACCOUNT = "1234567890123456"
DAY = 86400
ROWS = 40_000  # enough for the planner, without statistics, to prefer the time index


def plan(conn: psycopg.Connection[tuple[object, ...]], query: LookupQuery) -> str:
    statement, params = lookup_statement(query)
    rows = conn.execute(sql.SQL("EXPLAIN ") + statement, params).fetchall()
    return "\n".join(str(row[0]) for row in rows)


@pytest.mark.postgres
def test_a_fresh_partition_is_analyzed_by_the_store_without_autovacuum(
    postgres_url: str, tmp_path: Path
) -> None:
    now = int(time.time())
    today = day_of(now)
    # The events fall in today's partition at any hour: from an hour ago, but not before
    # midnight (just after it, some are minutes ahead of now; the lookup reaches an hour ahead).
    start = max(now - 3600, now // DAY * DAY)
    settings = Settings.load({"data_dir": tmp_path, "database_url": postgres_url}, environ={})
    stores = open_stores(settings)
    try:
        log = stores.events
        assert isinstance(log, PostgresEventLog)
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            # The week's partitions exist with autovacuum off, as an operator may leave them.
            for back in range(4):
                day = day_of(now - back * DAY)
                conn.execute(
                    sql.SQL(
                        "CREATE TABLE {} PARTITION OF events FOR VALUES FROM ({}) TO ({}) "
                        "WITH (autovacuum_enabled = false)"
                    ).format(sql.Identifier(partition_name(day)), day, day + 1)
                )
            for first in range(0, ROWS, 2000):
                log.append(
                    [
                        EventRecord(
                            ACCOUNT,
                            f"stat-{n:06d}",
                            start + n % 3000,
                            "DescribeInstances",
                            "Ecs",
                            "Read",
                            "alice",
                            None,
                            (),
                            (),
                            b'{"n":1}',
                        )
                        for n in range(first, first + 2000)
                    ]
                )
            assert log.statistics_kept()
            query = LookupQuery(
                ACCOUNT,
                now - 3 * DAY,
                now + 3600,
                Direction.BACKWARD,
                ((LookupKey.EVENT_ID, "stat-000007"),),
                20,
            )
            chosen = plan(conn, query)
            assert f"{partition_name(today)}_account_id_event_id_day_idx" in chosen, chosen
            assert "Merge Append" not in chosen, chosen
            analyzed = conn.execute(
                "SELECT reltuples FROM pg_class WHERE oid = %s::regclass",
                (partition_name(today),),
            ).fetchone()
            assert analyzed is not None and float(str(analyzed[0])) >= FIRST_ANALYZE_ROWS
            autovacuum = conn.execute(
                "SELECT reloptions FROM pg_class WHERE oid = %s::regclass",
                (partition_name(today),),
            ).fetchone()
            assert autovacuum is not None and "autovacuum_enabled=false" in str(autovacuum[0])
            page = log.lookup(query)
            assert [event.event_id for event in page.events] == ["stat-000007"]
    finally:
        stores.close()
