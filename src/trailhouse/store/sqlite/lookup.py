"""LookupEvents over the day files: one statement, run day after day until a page is full.

The most selective condition drives an index of the day file; the others are checked on the
rows it yields (`+column` keeps SQLite from choosing another index). Resource types and names
live in a side table, so an event whose resourceName lists several names is found by each.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from trailhouse.events.model import Direction, LookupKey, LookupPosition, LookupQuery
from trailhouse.events.validation import EVENT_TYPES
from trailhouse.store.sqlite.days import (
    ABSENT_MEANS,
    EVENT_TYPE,
    NAME_ID,
    RESOURCE_NAME,
    RESOURCE_TABLES,
    RESOURCE_TYPE,
    ROLE_NAME,
    SENSITIVE,
    SOURCE_IP,
    DayFiles,
    days_between,
    id_hash,
    seqs_of_hashes_sql,
)

_COLUMNS = {
    LookupKey.EVENT_ID: "event_id",
    LookupKey.EVENT_NAME: "event_name",
    LookupKey.SERVICE_NAME: "service_name",
    LookupKey.USER: "user_name",
    LookupKey.EVENT_ACCESS_KEY_ID: "access_key_id",
    LookupKey.EVENT_RW: "event_rw",
}
# Keys kept as rows of the `resources` side table (the derived ones: `events/attributes.py`).
_RESOURCE_KINDS = {
    LookupKey.RESOURCE_TYPE: RESOURCE_TYPE,
    LookupKey.RESOURCE_NAME: RESOURCE_NAME,
    LookupKey.EVENT_TYPE: EVENT_TYPE,
    LookupKey.SOURCE_IP_ADDRESS: SOURCE_IP,
    LookupKey.SENSITIVE_ACTION: SENSITIVE,
    LookupKey.ROLE_NAME: ROLE_NAME,
}

# Which condition drives the index, most selective first; EventRW (two values) and a value
# kept as the absence of a row (EventType=ApiCall, SensitiveAction=false) never do.
_SELECTIVITY = (
    LookupKey.EVENT_ID,
    LookupKey.RESOURCE_NAME,
    LookupKey.SOURCE_IP_ADDRESS,
    LookupKey.EVENT_ACCESS_KEY_ID,
    LookupKey.USER,
    LookupKey.ROLE_NAME,
    LookupKey.SENSITIVE_ACTION,
    LookupKey.EVENT_NAME,
    LookupKey.RESOURCE_TYPE,
    LookupKey.SERVICE_NAME,
    LookupKey.EVENT_TYPE,
)
_ABSENT = {
    (key, ABSENT_MEANS[kind]) for key, kind in _RESOURCE_KINDS.items() if kind in ABSENT_MEANS
}
# The values a row of such a kind can hold (validation allows no others), so that its absence
# is checked with seeks into the primary key, not a scan of the account's rows of the kind.
_PRESENT_VALUES = {
    SENSITIVE: ("true",),
    EVENT_TYPE: tuple(sorted(EVENT_TYPES - {ABSENT_MEANS[EVENT_TYPE]})),
}

# What a row returns; driven by `resources`, its seq and time are taken from there (the same
# values), so that each table's rows come out in the order of its primary key.
_SELECTED = (
    "{alias}.seq, (SELECT value FROM names WHERE id = e.account), e.event_id, "
    "{alias}.event_time, e.accepted_ms, e.dict_id, e.body, "
    "(SELECT value FROM names WHERE id = e.recorder)"
)

Row = tuple[int, str, str, int, int, int, bytes, str | None]


@dataclass(frozen=True, slots=True)
class _Statement:
    sql: str
    params: list[object]
    limit_index: int


def lookup_rows(days: DayFiles, query: LookupQuery) -> tuple[list[Row], bool]:
    """Up to `query.limit` matching rows in the query's order, and whether more follow."""
    backward = query.direction is Direction.BACKWARD
    start, end = query.start, query.end
    if query.after is not None:
        if backward:
            end = min(end, query.after.event_time)
        else:
            start = max(start, query.after.event_time)
    if start > end:
        return [], False
    statement = _statement(query, start, end)
    existing = set(days.days())
    window = [day for day in days_between(start, end) if day in existing]
    if backward:
        window.reverse()
    wanted = query.limit + 1
    rows: list[Row] = []
    for day in window:
        params = list(statement.params)
        params[statement.limit_index] = wanted - len(rows)
        with days.reading(day) as conn:
            if conn is None:
                continue
            try:
                rows.extend(conn.execute(statement.sql, params).fetchall())
            except sqlite3.OperationalError as exc:
                if "no such table" in str(exc):  # a file being created right now
                    continue
                raise
        if len(rows) >= wanted:
            break
    return rows[: query.limit], len(rows) > query.limit


def position_of(row: Row) -> LookupPosition:
    """The paging position of a returned row."""
    return LookupPosition(row[3], row[0])


def _statement(query: LookupQuery, start: int, end: int) -> _Statement:
    backward = query.direction is Direction.BACKWARD
    keys = {key for key, value in query.conditions if (key, value) not in _ABSENT}
    driver = next((key for key in _SELECTIVITY if key in keys), None)
    driven = False
    params: list[object] = []
    where: list[str] = []
    if driver in _RESOURCE_KINDS:
        source = "{resources} r CROSS JOIN events e ON e.seq = r.seq"
        time_column, seq_column = "r.event_time", "r.seq"
        where.append(f"r.account = {NAME_ID} AND r.kind = ? AND r.value = ?")
        value = next(v for k, v in query.conditions if k is driver)
        params.extend((query.account_id, _RESOURCE_KINDS[driver], value))
    else:
        # Without statistics SQLite might prefer (account, event_time) to the id's hash: an
        # event id is looked up by seq (NOT INDEXED leaves SQLite only the primary key).
        source = "events e NOT INDEXED" if driver is LookupKey.EVENT_ID else "events e"
        time_column, seq_column = "e.event_time", "e.seq"
        where.append(f"e.account = {NAME_ID}")
        params.append(query.account_id)
    where.append(f"{time_column} BETWEEN ? AND ?")
    params.extend((start, end))
    if query.after is not None:
        sign = "<" if backward else ">"
        where.append(f"({time_column} {sign} ? OR ({time_column} = ? AND {seq_column} {sign} ?))")
        params.extend((query.after.event_time, query.after.event_time, query.after.seq))
    for key, value in query.conditions:
        if key is driver and not driven:
            driven = True
            if key in _RESOURCE_KINDS:
                continue
            if key is LookupKey.EVENT_ID:
                where.append(f"e.seq IN {seqs_of_hashes_sql(1)} AND +e.event_id = ?")
                params.extend((id_hash(value), id_hash(value), value))
                continue
            where.append(f"e.{_COLUMNS[key]} = {NAME_ID}")
        elif (key, value) in _ABSENT:  # the event has no row of the kind
            kind = _RESOURCE_KINDS[key]
            present = _PRESENT_VALUES[kind]
            where.append(
                " AND ".join(
                    f"NOT EXISTS (SELECT 1 FROM {table} x WHERE x.account = e.account "
                    f"AND x.kind = ? AND x.value IN ({', '.join('?' * len(present))}) "
                    "AND x.event_time = e.event_time AND x.seq = e.seq)"
                    for table in RESOURCE_TABLES
                )
            )
            params.extend((kind, *present) * len(RESOURCE_TABLES))
            continue
        elif key in _RESOURCE_KINDS:
            where.append(
                "("
                + " OR ".join(
                    f"EXISTS (SELECT 1 FROM {table} x WHERE x.account = e.account "
                    "AND x.kind = ? AND x.value = ? AND x.event_time = e.event_time "
                    "AND x.seq = e.seq)"
                    for table in RESOURCE_TABLES
                )
                + ")"
            )
            params.extend((_RESOURCE_KINDS[key], value) * len(RESOURCE_TABLES))
            continue
        elif key is LookupKey.EVENT_ID:
            where.append("+e.event_id = ?")
        else:
            where.append(f"+e.{_COLUMNS[key]} = {NAME_ID}")
        params.append(value)
    order = "DESC" if backward else "ASC"
    condition = " AND ".join(where)
    if driver in _RESOURCE_KINDS:
        # A row of the driving key is in one of the two tables: each table's rows in the order
        # of its primary key, merged (SQLite's compound ORDER BY), stopping at the limit.
        sql = " UNION ".join(
            f"SELECT {_SELECTED.format(alias='r')} FROM {source.format(resources=table)} "
            f"WHERE {condition}"
            for table in RESOURCE_TABLES
        )
        sql += f" ORDER BY 4 {order}, 1 {order} LIMIT ?"
        params = params * len(RESOURCE_TABLES)
    else:
        sql = (
            f"SELECT {_SELECTED.format(alias='e')} FROM {source} WHERE {condition} "
            f"ORDER BY {time_column} {order}, {seq_column} {order} LIMIT ?"
        )
    params.append(0)
    return _Statement(sql, params, len(params) - 1)
