"""MaxCompute SQL translated to DuckDB: every function's result checked against Python's."""

from __future__ import annotations

import calendar
import json
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb
import pytest

from trailhouse.warehouse.sql.dialect import (
    InvalidSql,
    UnsupportedSql,
    java_format_to_strftime,
    maxcompute_format_to_strftime,
    to_duckdb,
)

# (end, start) pairs: leap day, month and year ends, millisecond fractions, reversed order.
PAIRS = [
    (datetime(2024, 2, 29, 23, 59, 59, 123000), datetime(2024, 2, 28, 0, 30, 0)),
    (datetime(2025, 1, 31, 0, 0, 0), datetime(2024, 12, 31, 23, 59, 59)),
    (datetime(2025, 12, 31, 13, 5, 9, 500000), datetime(2025, 12, 31, 12, 59, 59)),
    (datetime(2025, 3, 9, 8, 30, 0), datetime(2025, 3, 10, 9, 45, 30)),
    (datetime(1999, 12, 31, 23, 0, 1), datetime(1998, 1, 1, 0, 0, 0)),
]
JSONS = [
    {"a": "x", "b": {"c": "deep", "n": 7}, "arr": [{"k": "k0"}, {"k": "k1"}], "t": True},
    {"a": "y", "b": {"c": None}, "arr": [], "t": False},
    {"b": {"n": 1.5}, "arr": [{"k": "only"}]},
    {"a": "z", "arr": [{"k": "q"}, {}]},
    {},
]
STRINGS = [("acs:ram::123:user/alice", "x"), ("acs:ram::456:role/ops", None), ("no-id", "z")]
GROUPS = ["g1", "g2", "g1", "g2", "g1"]


@pytest.fixture(scope="module")
def con() -> Iterator[duckdb.DuckDBPyConnection]:
    c = duckdb.connect()
    c.execute(
        "CREATE TABLE t (id INTEGER, ts TIMESTAMP, st TIMESTAMP, s VARCHAR, x BIGINT, "
        "e VARCHAR, g VARCHAR, a VARCHAR, b VARCHAR)"
    )
    for i, (end, start) in enumerate(PAIRS):
        arn, b = STRINGS[i % len(STRINGS)]
        c.execute(
            "INSERT INTO t VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                i,
                end,
                start,
                end.strftime("%Y-%m-%d %H:%M:%S"),
                calendar.timegm(end.timetuple()),
                json.dumps(JSONS[i]),
                GROUPS[i],
                arn,
                b,
            ],
        )
    yield c
    c.close()


def column(con: duckdb.DuckDBPyConnection, expr: str) -> list[Any]:
    """Run `SELECT <expr> FROM t ORDER BY id` written in MaxCompute SQL; return the column."""
    sql = to_duckdb(f"SELECT {expr} AS v FROM t ORDER BY id")
    return [row[0] for row in con.execute(sql).fetchall()]


# ---- datetime formats -------------------------------------------------------------------


def _ymd(d: datetime) -> str:
    return f"{d.year:04d}{d.month:02d}{d.day:02d}"


def _full(d: datetime) -> str:
    return f"{d.year:04d}-{d.month:02d}-{d.day:02d} {d.hour:02d}:{d.minute:02d}:{d.second:02d}"


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        ("yyyymmdd", _ymd),
        ("yyyy-mm-dd hh:mi:ss", _full),
        ("hh:mi", lambda d: f"{d.hour:02d}:{d.minute:02d}"),
        ("mm/dd", lambda d: f"{d.month:02d}/{d.day:02d}"),
        ("ss.ff3", lambda d: f"{d.second:02d}.{d.microsecond // 1000:03d}"),
        ("yyyy-mm-dd'T'hh:mi:ss'Z'", lambda d: _full(d).replace(" ", "T") + "Z"),
        ("yyyy年mm月", lambda d: f"{d.year}年{d.month:02d}月"),
        ("100% yyyy", lambda d: f"100% {d.year}"),
    ],
)
def test_to_char(
    con: duckdb.DuckDBPyConnection, fmt: str, expected: Callable[[datetime], str]
) -> None:
    assert column(con, f'TO_CHAR(ts, "{fmt}")') == [expected(end) for end, _ in PAIRS]


def test_to_char_of_a_string_column_and_a_number(con: duckdb.DuckDBPyConnection) -> None:
    assert column(con, "TO_CHAR(s, 'yyyymmdd')") == [_ymd(end) for end, _ in PAIRS]
    assert column(con, "TO_CHAR(id)") == [str(i) for i in range(len(PAIRS))]


def test_to_date(con: duckdb.DuckDBPyConnection) -> None:
    assert column(con, "TO_DATE(s, 'yyyy-mm-dd hh:mi:ss')") == [
        end.replace(microsecond=0) for end, _ in PAIRS
    ]
    # A string that does not match the format gives NULL, as in MaxCompute.
    assert column(con, "TO_DATE(a, 'yyyy-mm-dd')") == [None] * len(PAIRS)


def test_regression_to_char_of_to_date_uses_maxcompute_tokens(
    con: duckdb.DuckDBPyConnection,
) -> None:
    """Read as Hive, `mm`/`mi`/`hh` were Hive tokens and this returned NULLs."""
    got = column(con, "TO_CHAR(TO_DATE(s, 'yyyy-mm-dd hh:mi:ss'), 'yyyymmdd')")
    assert got == [_ymd(end) for end, _ in PAIRS]


@pytest.mark.parametrize(
    ("pattern", "strftime"),
    [
        ("yyyy-mm-dd hh:mi:ss", "%Y-%m-%d %H:%M:%S"),
        ("YYYYMMDD", "%Y%m%d"),
        ("hh:mi:ss.ff3", "%H:%M:%S.%f_three"),
        ("yyyy-mm-dd'T'hh'h'", "%Y-%m-%dT%Hh"),
        ("'mm'mm", "mm%m"),
        ("a''b", "a'b"),
        ("50%", "50%%"),
    ],
)
def test_format_tokens(pattern: str, strftime: str) -> None:
    assert maxcompute_format_to_strftime(pattern) == strftime


def _h12(d: datetime) -> str:
    return f"{d.hour % 12 or 12:02d} {'AM' if d.hour < 12 else 'PM'}"


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        ("yyyy-MM-dd HH:mm:ss", _full),
        ("yyyy-MM-dd'T'HH:mm:ss'Z'", lambda d: _full(d).replace(" ", "T") + "Z"),
        ("HH:mm:ss.SSS", lambda d: f"{d:%H:%M:%S}.{d.microsecond // 1000:03d}"),
        ("yy/MM/dd hh a", lambda d: f"{d.year % 100:02d}/{d:%m/%d} {_h12(d)}"),
    ],
)
def test_date_format_reads_java_patterns(
    con: duckdb.DuckDBPyConnection, fmt: str, expected: Callable[[datetime], str]
) -> None:
    assert column(con, f'DATE_FORMAT(ts, "{fmt}")') == [expected(end) for end, _ in PAIRS]


def test_java_format_rejects_unknown_letters() -> None:
    assert java_format_to_strftime("dd MMM yyyy, EEE") == "%d %b %Y, %a"
    with pytest.raises(UnsupportedSql, match="'Q'"):
        java_format_to_strftime("yyyy-Q")


# ---- date arithmetic --------------------------------------------------------------------

UNITS = ["yyyy", "mm", "dd", "hh", "mi", "ss"]


def _trunc(d: datetime, unit: str) -> datetime:
    d = d.replace(microsecond=0)
    if unit == "ss":
        return d
    d = d.replace(second=0)
    if unit == "mi":
        return d
    d = d.replace(minute=0)
    if unit == "hh":
        return d
    d = d.replace(hour=0)
    if unit == "dd":
        return d
    d = d.replace(day=1)
    return d if unit == "mm" else d.replace(month=1)


def _add_months(d: datetime, months: int) -> datetime:
    total = d.year * 12 + d.month - 1 + months
    year, month = divmod(total, 12)
    day = min(d.day, calendar.monthrange(year, month + 1)[1])
    return d.replace(year=year, month=month + 1, day=day)


def _add(d: datetime, n: int, unit: str) -> datetime:
    if unit == "yyyy":
        return _add_months(d, 12 * n)
    if unit == "mm":
        return _add_months(d, n)
    seconds = {"dd": 86400, "hh": 3600, "mi": 60, "ss": 1}[unit]
    return d + timedelta(seconds=n * seconds)


def _diff(end: datetime, start: datetime, unit: str) -> int:
    if unit == "yyyy":
        return end.year - start.year
    if unit == "mm":
        return (end.year - start.year) * 12 + end.month - start.month
    seconds = {"dd": 86400, "hh": 3600, "mi": 60, "ss": 1}[unit]
    delta = _trunc(end, unit) - _trunc(start, unit)
    return int(delta.total_seconds()) // seconds


@pytest.mark.parametrize("unit", UNITS)
def test_datetrunc(con: duckdb.DuckDBPyConnection, unit: str) -> None:
    assert column(con, f"DATETRUNC(ts, '{unit}')") == [_trunc(end, unit) for end, _ in PAIRS]


@pytest.mark.parametrize("unit", UNITS)
@pytest.mark.parametrize("n", [-7, 1, 13])
def test_dateadd(con: duckdb.DuckDBPyConnection, unit: str, n: int) -> None:
    assert column(con, f"DATEADD(ts, {n}, '{unit}')") == [_add(end, n, unit) for end, _ in PAIRS]


def test_dateadd_with_a_column_amount_and_a_string_date(con: duckdb.DuckDBPyConnection) -> None:
    expected = [_add(end.replace(microsecond=0), -i, "dd") for i, (end, _) in enumerate(PAIRS)]
    assert column(con, "DATEADD(s, -id, 'dd')") == expected


@pytest.mark.parametrize("unit", UNITS)
def test_datediff(con: duckdb.DuckDBPyConnection, unit: str) -> None:
    assert column(con, f"DATEDIFF(ts, st, '{unit}')") == [_diff(e, s, unit) for e, s in PAIRS]


def test_regression_datediff_in_hours_keeps_its_unit(con: duckdb.DuckDBPyConnection) -> None:
    """Read as Hive, the 'hh' was dropped and days were counted."""
    got = column(con, "DATEDIFF(ts, st, 'hh')")
    assert got == [_diff(e, s, "hh") for e, s in PAIRS]
    assert got != [_diff(e, s, "dd") for e, s in PAIRS]


def test_datediff_with_two_arguments_counts_days(con: duckdb.DuckDBPyConnection) -> None:
    assert column(con, "DATEDIFF(ts, st)") == [(e.date() - s.date()).days for e, s in PAIRS]


def test_getdate_is_now_in_utc(con: duckdb.DuckDBPyConnection) -> None:
    before = datetime.now(UTC).replace(tzinfo=None) - timedelta(seconds=1)
    got = con.execute(to_duckdb("SELECT GETDATE()")).fetchall()[0][0]
    after = datetime.now(UTC).replace(tzinfo=None) + timedelta(seconds=1)
    assert isinstance(got, datetime) and got.tzinfo is None
    assert before <= got <= after


def test_weekday_counts_from_monday(con: duckdb.DuckDBPyConnection) -> None:
    assert column(con, "WEEKDAY(ts)") == [end.weekday() for end, _ in PAIRS]


def test_from_unixtime(con: duckdb.DuckDBPyConnection) -> None:
    expected = [datetime.fromtimestamp(calendar.timegm(e.timetuple()), UTC) for e, _ in PAIRS]
    assert column(con, "FROM_UNIXTIME(x)") == [d.replace(tzinfo=None) for d in expected]


@pytest.mark.parametrize("arg", ["ts", "s"])
def test_unix_timestamp(con: duckdb.DuckDBPyConnection, arg: str) -> None:
    # Whole seconds, the fraction dropped (ts has milliseconds in some rows).
    assert column(con, f"UNIX_TIMESTAMP({arg})") == [
        calendar.timegm(e.timetuple()) for e, _ in PAIRS
    ]


# ---- JSON and strings -------------------------------------------------------------------


def _json_path(doc: Any, path: str) -> str | None:
    """GET_JSON_OBJECT's result computed in Python: scalars as text, objects as JSON."""
    for key, index in re.findall(r"\.(\w+)|\[(\d+)\]", path[1:]):
        if key and isinstance(doc, dict) and key in doc:
            doc = doc[key]
        elif index and isinstance(doc, list) and int(index) < len(doc):
            doc = doc[int(index)]
        else:
            return None
    if doc is None:
        return None
    if isinstance(doc, bool):
        return "true" if doc else "false"
    return doc if isinstance(doc, str) else json.dumps(doc)


@pytest.mark.parametrize(
    "path", ["$.a", "$.b.c", "$.b.n", "$.arr[0].k", "$.arr[1].k", "$.missing", "$.t", "$.b"]
)
def test_get_json_object(con: duckdb.DuckDBPyConnection, path: str) -> None:
    got = column(con, f"GET_JSON_OBJECT(e, '{path}')")
    expected = [_json_path(doc, path) for doc in JSONS]
    # Objects come back as JSON text whose spacing may differ: compare them parsed.
    assert [json.loads(v) if v and v[0] in "[{" else v for v in got] == [
        json.loads(v) if v and v[0] in "[{" else v for v in expected
    ]


def test_get_json_object_bracket_keys_and_invalid_json(con: duckdb.DuckDBPyConnection) -> None:
    got = column(con, "GET_JSON_OBJECT(e, '$[\\'b\\'].c')")
    assert got == [_json_path(doc, "$.b.c") for doc in JSONS]
    # MaxCompute returns NULL for a string that is not JSON.
    assert column(con, "GET_JSON_OBJECT(a, '$.x')") == [None] * len(PAIRS)


def test_concat_ws_is_null_when_any_input_is(con: duckdb.DuckDBPyConnection) -> None:
    expected = [
        None if b is None else f"{a}|{b}|{i}"
        for i, (a, b) in ((i, STRINGS[i % len(STRINGS)]) for i in range(len(PAIRS)))
    ]
    assert column(con, "CONCAT_WS('|', a, b, TO_CHAR(id))") == expected


@pytest.mark.parametrize(
    ("pattern", "group"),
    [(r"::(\\d+):", None), (r"user/(\\w+)|role/(\\w+)", 2), (r"acs:(\\w+)", 0)],
)
def test_regexp_extract(con: duckdb.DuckDBPyConnection, pattern: str, group: int | None) -> None:
    arg = "" if group is None else f", {group}"
    sql_pattern = pattern.replace("\\\\", "\\")
    expected: list[str | None] = []
    for i in range(len(PAIRS)):
        m = re.search(sql_pattern, STRINGS[i % len(STRINGS)][0])
        expected.append(None if m is None else m.group(1 if group is None else group))
    got = column(con, f"REGEXP_EXTRACT(a, '{pattern}'{arg})")
    # Rows without a match (or an unmatched group) are left out: DuckDB gives '' there, and
    # MaxCompute's result for them is not documented.
    assert [g for g, e in zip(got, expected, strict=True) if e] == [e for e in expected if e]


def _parsed(v: str | None) -> Any:
    return json.loads(v) if v and v[0] in "[{" else v


def test_lateral_view_json_tuple(con: duckdb.DuckDBPyConnection) -> None:
    sql = to_duckdb(
        "SELECT t.id, j.a, j.b, j.t, j.nope, k.c FROM t "
        "LATERAL VIEW JSON_TUPLE(t.e, 'a', 'b', 't', 'nope') j AS a, b, t, nope "
        "LATERAL VIEW OUTER JSON_TUPLE(j.b, 'c') k AS c ORDER BY t.id"
    )
    got = [tuple(_parsed(v) for v in row[1:]) for row in con.execute(sql).fetchall()]
    expected = [
        tuple(_parsed(_json_path(doc, p)) for p in ("$.a", "$.b", "$.t", "$.nope", "$.b.c"))
        for doc in JSONS
    ]
    assert got == expected


# ---- aggregates and windows -------------------------------------------------------------


def test_wm_concat_and_count_distinct(con: duckdb.DuckDBPyConnection) -> None:
    sql = to_duckdb(
        "SELECT g, WM_CONCAT(',', TO_CHAR(id)) AS ids, COUNT(DISTINCT TO_CHAR(ts, 'yyyy')) AS n "
        "FROM t GROUP BY g ORDER BY g"
    )
    got = {g: (sorted(ids.split(",")), n) for g, ids, n in con.execute(sql).fetchall()}
    expected: dict[str, tuple[list[str], int]] = {}
    for g in sorted(set(GROUPS)):
        rows = [i for i, gi in enumerate(GROUPS) if gi == g]
        expected[g] = (sorted(str(i) for i in rows), len({PAIRS[i][0].year for i in rows}))
    assert got == expected


def test_window_functions(con: duckdb.DuckDBPyConnection) -> None:
    sql = to_duckdb(
        "SELECT id, ROW_NUMBER() OVER (PARTITION BY g ORDER BY ts DESC) AS rn, "
        "COUNT(*) OVER (PARTITION BY g) AS c FROM t ORDER BY id"
    )
    got = con.execute(sql).fetchall()
    expected = []
    for i, g in enumerate(GROUPS):
        peers = sorted(
            (j for j, gj in enumerate(GROUPS) if gj == g), key=lambda j: -PAIRS[j][0].timestamp()
        )
        expected.append((i, peers.index(i) + 1, len(peers)))
    assert got == expected


# ---- errors -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sql", "named"),
    [
        ("INSERT INTO t SELECT * FROM t", "INSERT"),
        ("INSERT OVERWRITE TABLE t PARTITION (ds='20250101') SELECT * FROM t", "INSERT"),
        ("DROP TABLE t", "DROP"),
        ("CREATE TABLE u (a STRING)", "CREATE"),
        ("DELETE FROM t WHERE id = 1", "DELETE"),
        ("SELECT MY_UDF(a) FROM t", "MY_UDF"),
        ("SELECT 1; SELECT 2", "one statement"),
        ("SELECT DATEADD(ts, 1, 'fortnight') FROM t", "fortnight"),
        ("SELECT DATETRUNC(ts, a) FROM t", "DATETRUNC"),
        ("SELECT GET_JSON_OBJECT(e, '$.arr[*].k') FROM t", "wildcard"),
        ("SELECT TO_CHAR(ts, 'yyyy''mm') FROM t", "TO_CHAR"),
        ("SELECT x FROM t LATERAL VIEW EXPLODE(SPLIT(a, ':')) v AS x", "EXPLODE"),
        ("SELECT x FROM t LATERAL VIEW JSON_TUPLE(e, 'a', 'b') v AS x", "one column name per key"),
        ("SELECT JSON_TUPLE(e, 'a') FROM t", "JSON_TUPLE"),
    ],
)
def test_unsupported_sql_names_what(sql: str, named: str) -> None:
    with pytest.raises(UnsupportedSql, match=re.escape(named)):
        to_duckdb(sql)


def test_unparseable_sql() -> None:
    with pytest.raises(InvalidSql):
        to_duckdb("SELECT FROM WHERE (")
