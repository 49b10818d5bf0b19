"""The window functions' examples of MaxCompute's "Window functions" topic, with the results it
prints: test_page_examples.py runs them with page_examples.py's queries, on DuckDB and Spark.

The topic was read from the reference library's copy of it (an earlier version of
https://www.alibabacloud.com/help/en/doc-detail/34994.htm, the one topic for every window
function before each had a page of its own). Its sample tables are written as subqueries:

- `emp` (DENSE_RANK, RANK, ROW_NUMBER, CUME_DIST): the aggregate functions' `emp`
  (page_examples.EMP). This version of the topic prints `sal` as 5000.0 where the aggregate
  page's `emp` has a BIGINT `sal` (5000); the values are the same;
- `test_src`: its rows as the examples print them, `user_id` alone for COUNT's first two
  examples (five rows), `user_id` and `price` for the others (eight rows);
- `sliding_window`: `seq` 0 to 9, as LAG's example prints them, in one window: the page shows
  no `window` value, and only the first row has no row before it (its `r` alone is NULL).

None of these queries has an ORDER BY of its own, so rows are compared in any order (both
sides sorted), as the page's printed order is not promised. Left out: the examples whose
answer depends on the order rows are stored in, which no query states (FIRST_VALUE,
LAST_VALUE and NTH_VALUE without ORDER BY in the window: `nth_value(price, 3) over (partition
by user_id)` is 6.5 on the page and 5.5 on DuckDB), the examples after
`set odps.sql.hive.compatible=true;` (refused: trailhouse answers as MaxCompute's default
mode), STDDEV's (STDDEV is refused), LEAD's three queries over a `dual` whose rows the page
does not give (it prints no result), and CLUSTER_SAMPLE's (random sampling, refused).
"""

from __future__ import annotations

from typing import Any

from page_examples import EMP

WINDOWS = "https://www.alibabacloud.com/help/en/doc-detail/34994.htm"
_HIVE_FALSE = "set odps.sql.hive.compatible=false;\n"

_USERS = "(" + " UNION ALL ".join(f"SELECT {u}L AS user_id" for u in (1, 1, 1, 2, 3)) + ") test_src"
_PRICES = [(1, "4.5"), (1, "5.5"), (1, "5.5"), (1, "6.5"), (2, "NULL"), (2, "3.0")]
_PRICES += [(3, "NULL"), (3, "4.0")]
TEST_SRC = (
    "("
    + " UNION ALL ".join(
        f"SELECT {u}L AS user_id, CAST({p} AS DOUBLE) AS price" for u, p in _PRICES
    )
    + ") test_src"
)
SLIDING_WINDOW = (
    "("
    + " UNION ALL ".join(f"SELECT 1L AS `window`, {s}L AS seq" for s in range(10))
    + ") sliding_window"
)

_N = None


def _by_user(values: list[Any]) -> list[list[Any]]:
    """The eight test_src rows, in the page's order, each with its printed value."""
    return [
        [u, None if p == "NULL" else float(p), v] for (u, p), v in zip(_PRICES, values, strict=True)
    ]


def _emp(
    deptno: int, rows: list[tuple[str, int, Any]]
) -> list[list[Any]]:  # the page prints sal as 5000.0
    return [[deptno, name, float(sal), value] for name, sal, value in rows]


def _query(function: str, sql: str, rows: list[list[Any]]) -> tuple[str, str, Any, str]:
    return (function, sql, rows, WINDOWS)


WINDOW_QUERIES: list[tuple[str, str, list[list[Any]], str]] = [
    _query(
        "COUNT",
        f"select user_id,count(user_id) over (partition by user_id) as count from {_USERS}",
        [[1, 3], [1, 3], [1, 3], [2, 1], [3, 1]],
    ),
    _query(
        "COUNT",
        "select user_id,count(user_id) over (partition by user_id order by user_id) as count "
        f"from {_USERS}",
        [[1, 1], [1, 2], [1, 3], [2, 1], [3, 1]],
    ),
    _query(
        "COUNT",
        f"{_HIVE_FALSE}select user_id, price, count(price) over "
        f"(partition by user_id order by price) as count from {TEST_SRC}",
        _by_user([1, 2, 3, 4, 0, 1, 0, 1]),
    ),
    _query(
        "AVG",
        f"{_HIVE_FALSE}select user_id, price, avg(price) over "
        f"(partition by user_id order by price) from {TEST_SRC}",
        _by_user([4.5, 5.0, 5.166666666666667, 5.5, _N, 3.0, _N, 4.0]),
    ),
    _query(
        "SUM",
        f"{_HIVE_FALSE}select user_id, price, sum(price) over "
        f"(partition by user_id order by price) from {TEST_SRC}",
        _by_user([4.5, 10.0, 15.5, 22.0, _N, 3.0, _N, 4.0]),
    ),
    _query(
        "FIRST_VALUE",
        "select user_id, price, first_value(price) over (partition by user_id order by price) "
        f"as first_value from {TEST_SRC}",
        _by_user([4.5, 4.5, 4.5, 4.5, _N, _N, _N, _N]),
    ),
    _query(
        "LAST_VALUE",
        "select user_id, price, last_value(price) over (partition by user_id order by price) "
        f"as last_value from {TEST_SRC}",
        _by_user([4.5, 5.5, 5.5, 6.5, _N, 3.0, _N, 4.0]),
    ),
    _query(
        "NTH_VALUE",
        "select user_id, price, nth_value(price, 2) over (partition by user_id order by price) "
        f"as nth_value from {TEST_SRC}",
        _by_user([_N, 5.5, 5.5, 5.5, _N, 3.0, _N, 4.0]),
    ),
    _query(
        "LAG",
        "select seq, lag(seq+100, 1) over (partition by window order by seq) as r from "
        f"{SLIDING_WINDOW}",
        [[0, None], *([s, s + 99] for s in range(1, 10))],
    ),
    _query(
        "DENSE_RANK",
        "SELECT deptno, ename, sal, DENSE_RANK() OVER (PARTITION BY deptno ORDER BY sal DESC) "
        f"AS nums FROM {EMP}",
        _emp(10, [("JACCKA", 5000, 1), ("KING", 5000, 1), ("CLARK", 2450, 2)])
        + _emp(10, [("WELAN", 2450, 2), ("TEBAGE", 1300, 3), ("MILLER", 1300, 3)])
        + _emp(20, [("SCOTT", 3000, 1), ("FORD", 3000, 1), ("JONES", 2975, 2)])
        + _emp(20, [("ADAMS", 1100, 3), ("SMITH", 800, 4)])
        + _emp(30, [("BLAKE", 2850, 1), ("ALLEN", 1600, 2), ("TURNER", 1500, 3)])
        + _emp(30, [("MARTIN", 1250, 4), ("WARD", 1250, 4), ("JAMES", 950, 5)]),
    ),
    _query(
        "RANK",
        "SELECT deptno,ename,sal, RANK() OVER (PARTITION BY deptno ORDER BY sal DESC) AS nums "
        f"FROM {EMP}",
        _emp(10, [("JACCKA", 5000, 1), ("KING", 5000, 1), ("CLARK", 2450, 3)])
        + _emp(10, [("WELAN", 2450, 3), ("TEBAGE", 1300, 5), ("MILLER", 1300, 5)])
        + _emp(20, [("SCOTT", 3000, 1), ("FORD", 3000, 1), ("JONES", 2975, 3)])
        + _emp(20, [("ADAMS", 1100, 4), ("SMITH", 800, 5)])
        + _emp(30, [("BLAKE", 2850, 1), ("ALLEN", 1600, 2), ("TURNER", 1500, 3)])
        + _emp(30, [("MARTIN", 1250, 4), ("WARD", 1250, 4), ("JAMES", 950, 6)]),
    ),
    _query(
        "ROW_NUMBER",
        "SELECT deptno,ename,sal,ROW_NUMBER() OVER (PARTITION BY deptno ORDER BY sal DESC) "
        f"AS nums FROM {EMP}",
        _emp(10, [("JACCKA", 5000, 1), ("KING", 5000, 2), ("CLARK", 2450, 3)])
        + _emp(10, [("WELAN", 2450, 4), ("TEBAGE", 1300, 5), ("MILLER", 1300, 6)])
        + _emp(20, [("SCOTT", 3000, 1), ("FORD", 3000, 2), ("JONES", 2975, 3)])
        + _emp(20, [("ADAMS", 1100, 4), ("SMITH", 800, 5)])
        + _emp(30, [("BLAKE", 2850, 1), ("ALLEN", 1600, 2), ("TURNER", 1500, 3)])
        + _emp(30, [("MARTIN", 1250, 4), ("WARD", 1250, 5), ("JAMES", 950, 6)]),
    ),
    _query(
        "CUME_DIST",
        "SELECT deptno, ename, sal, concat(round(cume_dist() OVER(PARTITION BY deptno ORDER BY "
        f"sal desc)*100,2),'%') as cume_dist FROM {EMP}",
        _emp(10, [("JACCKA", 5000, "33.33%"), ("KING", 5000, "33.33%")])
        + _emp(10, [("CLARK", 2450, "66.67%"), ("WELAN", 2450, "66.67%")])
        + _emp(10, [("TEBAGE", 1300, "100.0%"), ("MILLER", 1300, "100.0%")])
        + _emp(20, [("SCOTT", 3000, "40.0%"), ("FORD", 3000, "40.0%")])
        + _emp(20, [("JONES", 2975, "60.0%"), ("ADAMS", 1100, "80.0%")])
        + _emp(20, [("SMITH", 800, "100.0%")])
        + _emp(30, [("BLAKE", 2850, "16.67%"), ("ALLEN", 1600, "33.33%")])
        + _emp(30, [("TURNER", 1500, "50.0%")])
        + _emp(30, [("MARTIN", 1250, "83.33%"), ("WARD", 1250, "83.33%")])
        + _emp(30, [("JAMES", 950, "100.0%")]),
    ),
]

# ROW_NUMBER numbers rows tied in its ORDER BY apart, in an order the query does not state
# (KING and JACCKA both earn 5000): its rows are compared without the name column (each
# department's numbers for each salary), and without the number (which rows there are).
NAMES_TIED_ROWS = {"ROW_NUMBER": 1}

# The topic's forms trailhouse refuses by name, as test_page_examples.py submits them (after
# SELECT): (query, code, what the message says).
WINDOW_REFUSED: list[tuple[str, str, str]] = [
    (
        # Its value depends on the stored order of rows (no ORDER BY) as well.
        "user_id, price, nth_value(price, 1, true) over (partition by user_id) as nth_value "
        f"from {TEST_SRC}",
        "ODPS-0130071",
        "NTH_VALUE: skipNull (the third argument) is not supported",
    ),
    (
        # The page's sampling query over two rows of its test_tbl (`tbl` in the query).
        "key, value from (select key, value, cluster_sample(10, 1) over(partition by key) as "
        "flag from (select 'groupa' as key, 0.167537127858695 as value union all select "
        "'groupb', 0.135751224393789) tbl) sub where flag = true",
        "ODPS-0130071",
        "function CLUSTER_SAMPLE is a MaxCompute built-in function that trailhouse does not",
    ),
]
