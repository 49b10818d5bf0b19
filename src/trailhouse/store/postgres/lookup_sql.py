"""The SQL of a LookupEvents page over the day-partitioned event table.

Each condition maps to a column the indexes cover; the time window is also stated on the
partition key `day` so that PostgreSQL reads only the partitions of the window.
"""

from __future__ import annotations

from psycopg import sql

from trailhouse.events.model import Direction, LookupKey, LookupQuery
from trailhouse.store.postgres.recorders import RECORDER_OF_ROW
from trailhouse.store.postgres.schema import day_of

_EQUALS = {
    LookupKey.SERVICE_NAME: "service_name",
    LookupKey.EVENT_NAME: "event_name",
    LookupKey.USER: "user_name",
    LookupKey.EVENT_ID: "event_id",
    LookupKey.EVENT_ACCESS_KEY_ID: "access_key_id",
    LookupKey.SOURCE_IP_ADDRESS: "source_ip",
    LookupKey.ROLE_NAME: "role_name",
}
_CONTAINS = {
    LookupKey.RESOURCE_TYPE: "resource_types",
    LookupKey.RESOURCE_NAME: "resource_names",
}

LOGGED_COLUMNS = sql.SQL(
    f"seq, account_id, event_id, event_time, accepted_ms, body, {RECORDER_OF_ROW}, dict_id"
)


def lookup_statement(query: LookupQuery) -> tuple[sql.Composed, list[object]]:
    """The statement selecting one page (plus one row, to know whether more exist)."""
    where: list[sql.Composable] = [
        sql.SQL("account_id = %s"),
        sql.SQL("event_time BETWEEN %s AND %s"),
        sql.SQL("day BETWEEN %s AND %s"),
    ]
    params: list[object] = [
        query.account_id,
        query.start,
        query.end,
        day_of(query.start),
        day_of(query.end),
    ]
    for key, value in query.conditions:
        if key is LookupKey.EVENT_RW:
            # A literal, not a parameter, so a generic plan can still use the partial index.
            where.append(sql.SQL("event_rw = {}").format(sql.Literal(value)))
        elif key is LookupKey.EVENT_TYPE:
            # A literal, so that the plan can prove the partial index (all but `ApiCall`) holds it.
            where.append(sql.SQL("event_type = {}").format(sql.Literal(value)))
        elif key is LookupKey.SENSITIVE_ACTION:
            # A literal, so the partial index serves `true`; `false` reads by time.
            sensitive = "sensitive" if value == "true" else "NOT sensitive"
            where.append(sql.SQL(sensitive))
        elif key in _CONTAINS:
            where.append(sql.SQL("{} @> ARRAY[%s]::TEXT[]").format(sql.Identifier(_CONTAINS[key])))
            params.append(value)
        else:
            where.append(sql.SQL("{} = %s").format(sql.Identifier(_EQUALS[key])))
            params.append(value)
    backward = query.direction is Direction.BACKWARD
    if query.after is not None:
        beyond = "(event_time, seq) < (%s, %s)" if backward else "(event_time, seq) > (%s, %s)"
        where.append(sql.SQL(beyond))
        params.extend((query.after.event_time, query.after.seq))
    order = sql.SQL("event_time DESC, seq DESC" if backward else "event_time, seq")
    statement = sql.SQL("SELECT {} FROM events WHERE {} ORDER BY {} LIMIT %s").format(
        LOGGED_COLUMNS, sql.SQL(" AND ").join(where), order
    )
    params.append(query.limit + 1)
    return statement, params
