"""Every MaxCompute function checked against Python's result, whichever engine runs the SQL.

`FunctionCases` holds the cases; a test module subclasses it as `Test...` and gives a fixture
`run` that runs one MaxCompute SELECT over the table `t` built from the rows below (`id`, `ts`,
`st` as TIMESTAMP, `s`, `x` as BIGINT, `e` JSON text, `g`, `a`, `b`) and returns its rows as
Python values. DuckDB (test_dialect.py) and Spark (test_spark_engine.py) run the same cases.
"""

from __future__ import annotations

import calendar
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

# Runs one MaxCompute SELECT and returns its rows.
Run = Callable[[str], list[tuple[Any, ...]]]

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
TABLE_COLUMNS = ("id", "ts", "st", "s", "x", "e", "g", "a", "b")


def table_rows() -> list[tuple[Any, ...]]:
    """The rows of `t` as Python values, in TABLE_COLUMNS order."""
    rows = []
    for i, (end, start) in enumerate(PAIRS):
        arn, b = STRINGS[i % len(STRINGS)]
        rows.append(
            (
                i,
                end,
                start,
                end.strftime("%Y-%m-%d %H:%M:%S"),
                calendar.timegm(end.timetuple()),
                json.dumps(JSONS[i]),
                GROUPS[i],
                arn,
                b,
            )
        )
    return rows


def column(run: Run, expr: str) -> list[Any]:
    """Run `SELECT <expr> AS v FROM t ORDER BY id` written in MaxCompute SQL; return the column."""
    return [row[0] for row in run(f"SELECT {expr} AS v FROM t ORDER BY id")]


# ---- expected values, computed in Python --------------------------------------------------


def _ymd(d: datetime) -> str:
    return f"{d.year:04d}{d.month:02d}{d.day:02d}"


def _full(d: datetime) -> str:
    return f"{d.year:04d}-{d.month:02d}-{d.day:02d} {d.hour:02d}:{d.minute:02d}:{d.second:02d}"


def _h12(d: datetime) -> str:
    return f"{d.hour % 12 or 12:02d} {'AM' if d.hour < 12 else 'PM'}"


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


def json_path(doc: Any, path: str) -> str | None:
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


def _parsed(v: str | None) -> Any:
    """JSON objects and arrays parsed (spacing differs by engine), other values as they are."""
    return json.loads(v) if v and v[0] in "[{" else v


class FunctionCases:
    """The cases; subclasses named `Test...` supply the `run` fixture of one engine."""

    # ---- datetime formats -------------------------------------------------------------------

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
    def test_to_char(self, run: Run, fmt: str, expected: Callable[[datetime], str]) -> None:
        assert column(run, f'TO_CHAR(ts, "{fmt}")') == [expected(end) for end, _ in PAIRS]

    def test_to_char_of_a_string_column_and_a_number(self, run: Run) -> None:
        assert column(run, "TO_CHAR(s, 'yyyymmdd')") == [_ymd(end) for end, _ in PAIRS]
        assert column(run, "TO_CHAR(id)") == [str(i) for i in range(len(PAIRS))]

    def test_to_date(self, run: Run) -> None:
        assert column(run, "TO_DATE(s, 'yyyy-mm-dd hh:mi:ss')") == [
            end.replace(microsecond=0) for end, _ in PAIRS
        ]
        # A string that does not match the format gives NULL, as in MaxCompute.
        assert column(run, "TO_DATE(a, 'yyyy-mm-dd')") == [None] * len(PAIRS)

    def test_regression_to_char_of_to_date_uses_maxcompute_tokens(self, run: Run) -> None:
        """Read as Hive, `mm`/`mi`/`hh` were Hive tokens and this returned NULLs."""
        got = column(run, "TO_CHAR(TO_DATE(s, 'yyyy-mm-dd hh:mi:ss'), 'yyyymmdd')")
        assert got == [_ymd(end) for end, _ in PAIRS]

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
        self, run: Run, fmt: str, expected: Callable[[datetime], str]
    ) -> None:
        assert column(run, f'DATE_FORMAT(ts, "{fmt}")') == [expected(end) for end, _ in PAIRS]

    # ---- date arithmetic --------------------------------------------------------------------

    @pytest.mark.parametrize("unit", UNITS)
    def test_datetrunc(self, run: Run, unit: str) -> None:
        assert column(run, f"DATETRUNC(ts, '{unit}')") == [_trunc(end, unit) for end, _ in PAIRS]

    @pytest.mark.parametrize("unit", UNITS)
    @pytest.mark.parametrize("n", [-7, 1, 13])
    def test_dateadd(self, run: Run, unit: str, n: int) -> None:
        expected = [_add(end, n, unit) for end, _ in PAIRS]
        assert column(run, f"DATEADD(ts, {n}, '{unit}')") == expected

    def test_dateadd_with_a_column_amount_and_a_string_date(self, run: Run) -> None:
        expected = [_add(end.replace(microsecond=0), -i, "dd") for i, (end, _) in enumerate(PAIRS)]
        assert column(run, "DATEADD(s, -id, 'dd')") == expected

    @pytest.mark.parametrize("unit", UNITS)
    def test_datediff(self, run: Run, unit: str) -> None:
        assert column(run, f"DATEDIFF(ts, st, '{unit}')") == [_diff(e, s, unit) for e, s in PAIRS]

    def test_regression_datediff_in_hours_keeps_its_unit(self, run: Run) -> None:
        """Read as Hive, the 'hh' was dropped and days were counted."""
        got = column(run, "DATEDIFF(ts, st, 'hh')")
        assert got == [_diff(e, s, "hh") for e, s in PAIRS]
        assert got != [_diff(e, s, "dd") for e, s in PAIRS]

    def test_datediff_with_two_arguments_counts_days(self, run: Run) -> None:
        assert column(run, "DATEDIFF(ts, st)") == [(e.date() - s.date()).days for e, s in PAIRS]

    def test_getdate_is_now_in_utc(self, run: Run) -> None:
        before = datetime.now(UTC).replace(tzinfo=None) - timedelta(seconds=1)
        got = run("SELECT GETDATE()")[0][0]
        after = datetime.now(UTC).replace(tzinfo=None) + timedelta(seconds=1)
        assert isinstance(got, datetime) and got.tzinfo is None
        assert before <= got <= after

    def test_weekday_counts_from_monday(self, run: Run) -> None:
        assert column(run, "WEEKDAY(ts)") == [end.weekday() for end, _ in PAIRS]

    def test_from_unixtime(self, run: Run) -> None:
        expected = [datetime.fromtimestamp(calendar.timegm(e.timetuple()), UTC) for e, _ in PAIRS]
        assert column(run, "FROM_UNIXTIME(x)") == [d.replace(tzinfo=None) for d in expected]

    @pytest.mark.parametrize("arg", ["ts", "s"])
    def test_unix_timestamp(self, run: Run, arg: str) -> None:
        # Whole seconds, the fraction dropped (ts has milliseconds in some rows).
        assert column(run, f"UNIX_TIMESTAMP({arg})") == [
            calendar.timegm(e.timetuple()) for e, _ in PAIRS
        ]

    # ---- JSON and strings -------------------------------------------------------------------

    @pytest.mark.parametrize(
        "path", ["$.a", "$.b.c", "$.b.n", "$.arr[0].k", "$.arr[1].k", "$.missing", "$.t", "$.b"]
    )
    def test_get_json_object(self, run: Run, path: str) -> None:
        got = column(run, f"GET_JSON_OBJECT(e, '{path}')")
        expected = [json_path(doc, path) for doc in JSONS]
        # Objects come back as JSON text whose spacing may differ: compare them parsed.
        assert [_parsed(v) for v in got] == [_parsed(v) for v in expected]

    def test_get_json_object_bracket_keys_and_invalid_json(self, run: Run) -> None:
        got = column(run, "GET_JSON_OBJECT(e, '$[\\'b\\'].c')")
        assert got == [json_path(doc, "$.b.c") for doc in JSONS]
        # MaxCompute returns NULL for a string that is not JSON.
        assert column(run, "GET_JSON_OBJECT(a, '$.x')") == [None] * len(PAIRS)

    def test_concat_ws_is_null_when_any_input_is(self, run: Run) -> None:
        expected = [
            None if b is None else f"{a}|{b}|{i}"
            for i, (a, b) in ((i, STRINGS[i % len(STRINGS)]) for i in range(len(PAIRS)))
        ]
        assert column(run, "CONCAT_WS('|', a, b, TO_CHAR(id))") == expected

    @pytest.mark.parametrize(
        ("pattern", "group"),
        [(r"::(\\d+):", None), (r"user/(\\w+)|role/(\\w+)", 2), (r"acs:(\\w+)", 0)],
    )
    def test_regexp_extract(self, run: Run, pattern: str, group: int | None) -> None:
        arg = "" if group is None else f", {group}"
        sql_pattern = pattern.replace("\\\\", "\\")
        expected: list[str | None] = []
        for i in range(len(PAIRS)):
            m = re.search(sql_pattern, STRINGS[i % len(STRINGS)][0])
            expected.append(None if m is None else m.group(1 if group is None else group))
        got = column(run, f"REGEXP_EXTRACT(a, '{pattern}'{arg})")
        # Rows without a match (or an unmatched group) are left out: DuckDB and Spark give ''
        # there, and MaxCompute's result for them is not documented.
        assert [g for g, e in zip(got, expected, strict=True) if e] == [e for e in expected if e]

    def test_lateral_view_json_tuple(self, run: Run) -> None:
        rows = run(
            "SELECT t.id, j.a, j.b, j.t, j.nope, k.c FROM t "
            "LATERAL VIEW JSON_TUPLE(t.e, 'a', 'b', 't', 'nope') j AS a, b, t, nope "
            "LATERAL VIEW OUTER JSON_TUPLE(j.b, 'c') k AS c ORDER BY t.id"
        )
        got = [tuple(_parsed(v) for v in row[1:]) for row in rows]
        expected = [
            tuple(_parsed(json_path(doc, p)) for p in ("$.a", "$.b", "$.t", "$.nope", "$.b.c"))
            for doc in JSONS
        ]
        assert got == expected

    # ---- aggregates and windows -------------------------------------------------------------

    def test_wm_concat_and_count_distinct(self, run: Run) -> None:
        rows = run(
            "SELECT g, WM_CONCAT(',', TO_CHAR(id)) AS ids, "
            "COUNT(DISTINCT TO_CHAR(ts, 'yyyy')) AS n FROM t GROUP BY g ORDER BY g"
        )
        got = {g: (sorted(ids.split(",")), n) for g, ids, n in rows}
        expected: dict[str, tuple[list[str], int]] = {}
        for g in sorted(set(GROUPS)):
            members = [i for i, gi in enumerate(GROUPS) if gi == g]
            expected[g] = (
                sorted(str(i) for i in members),
                len({PAIRS[i][0].year for i in members}),
            )
        assert got == expected

    def test_window_functions(self, run: Run) -> None:
        got = run(
            "SELECT id, ROW_NUMBER() OVER (PARTITION BY g ORDER BY ts DESC) AS rn, "
            "COUNT(*) OVER (PARTITION BY g) AS c FROM t ORDER BY id"
        )
        expected = []
        for i, g in enumerate(GROUPS):
            peers = sorted(
                (j for j, gj in enumerate(GROUPS) if gj == g),
                key=lambda j: -PAIRS[j][0].timestamp(),
            )
            expected.append((i, peers.index(i) + 1, len(peers)))
        assert [tuple(row) for row in got] == expected
