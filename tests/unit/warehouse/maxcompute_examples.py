"""MaxCompute's own documented examples: each row is a query from a function's page in
MaxCompute's documentation and the result that page says it returns.

test_function_conformance.py runs every row through the SQL job service on DuckDB and on Spark;
docs/sql-functions.md lists the functions and their status. Results are as the API returns them
(JSON values: DATETIME as 'yyyy-mm-dd hh:mi:ss', DATE as 'yyyy-mm-dd'). `kind` is the result
column's type where the page states it (DATE and DATETIME print differently in odpscmd).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

DOCS = "https://www.alibabacloud.com/help/en/maxcompute/user-guide/"


@dataclass(frozen=True)
class Example:
    """A documented query, its documented result, and where it is documented."""

    function: str
    sql: str
    expected: Any
    page: str
    kind: str = ""
    # False: not the page's own example but one built from the rules it states.
    verbatim: bool = True

    @property
    def id(self) -> str:
        return self.sql


_NEW_YEAR = "datetime '2006-01-01 00:00:00'"


def _page(name: str) -> str:
    return DOCS + name


def _examples(
    function: str, page: str, rows: list[tuple[str, Any]], kind: str = "", verbatim: bool = True
) -> list[Example]:
    return [Example(function, sql, expected, _page(page), kind, verbatim) for sql, expected in rows]


EXAMPLES: list[Example] = [
    *_examples(
        "SPLIT_PART",
        "split-part",
        [
            ("split_part('a,b,c,d', ',', 1)", "a"),
            ("split_part('a,b,c,d', ',', 1, 2)", "a,b"),
            ("split_part('a,b,c,d', ',', 10)", ""),
            ("split_part('a,b,c,d', ':', 1)", "a,b,c,d"),
            ("split_part('a,b,c,d', ':', 2)", ""),
            ("split_part('a,b,c,d', '', 1)", "a,b,c,d"),
            ("split_part('a,b,c,d', ',', 2, 6)", "b,c,d"),
            ("split_part('a,b,c,d', ',', null)", None),
        ],
    ),
    *_examples(
        "INSTR",
        "instr",
        [
            ("instr('Tech on the net', 'e')", 2),
            ("instr('Tech on the net', 'on')", 6),
            ("instr('Tech on the net', 'e', 3, 2)", 14),
            ("instr('Tech on the net', null)", None),
            ("instr('abc', '')", 1),
        ],
    ),
    *_examples(
        "REGEXP_REPLACE",
        "regexp-replace",
        [
            ('regexp_replace("abcd", "a", "A", 0)', "Abcd"),
            ('regexp_replace("abcd", "a", "", 0)', "bcd"),
            ('regexp_replace("1970-01-01", "-", "", 0)', "19700101"),
            ('regexp_replace("a1b2c3", "[0-9]", "", 0)', "abc"),
            ('regexp_replace("a1b2c3", "[0-9]", "", 3)', "a1b2c"),
            (
                'regexp_replace("123.456.7890", '
                '"([[:digit:]]{3})\\\\.([[:digit:]]{3})\\\\.([[:digit:]]{4})", '
                '"(\\\\1)\\\\2-\\\\3", 0)',
                "(123)456-7890",
            ),
        ],
    ),
    # From an earlier version of the REGEXP_REPLACE page.
    *_examples(
        "REGEXP_REPLACE",
        "regexp-replace",
        [
            ('regexp_replace("abcd", "(.)", "\\\\1 ", 0)', "a b c d "),
            ('regexp_replace("abcd", "(.)", "\\\\1 ", 1)', "a bcd"),
            ('regexp_replace("abcd", "(.*)(.)$", "\\\\2", 0)', "d"),
        ],
        verbatim=False,
    ),
    *_examples(
        "SUBSTR",
        "substr",
        [
            ("substr('abc', 2)", "bc"),
            ("substr('abc', 2, 1)", "b"),
            ("substr('abc', -2, 2)", "bc"),
            ("substr('abc', null)", None),
        ],
    ),
    *_examples(
        "SUBSTRING",
        "substring",
        [
            ("substring('abc', 2)", "bc"),
            ("substring('abc', 2, 1)", "b"),
            ("substring('abc', -2, 2)", "bc"),
            ("substring('abc', -3, 2)", "ab"),
            ("substring('abc', null, null)", None),
        ],
    ),
    *_examples(
        "CONCAT_WS",
        "concat-ws",
        [
            ("concat_ws(':', 'name', 'hanmeimei')", "name:hanmeimei"),
            ("concat_ws(':', 'avg', null, '34')", None),
        ],
    ),
    *_examples(
        "LPAD",
        "lpad",
        [
            ("lpad('abcdefgh', 10, '12')", "12abcdefgh"),
            ("lpad('abcdefgh', 5, '12')", "abcde"),
            ("lpad('abcdefgh', 0, '12')", ""),
            ("lpad(null, 0, '12')", None),
            ("lpad('abcdefgh', 9, '12')", "1abcdefgh"),
        ],
    ),
    *_examples("RPAD", "rpad", [("rpad('abcdefgh', 10, '12')", "abcdefgh12")]),
    *_examples(
        "REPLACE",
        "replace",
        [
            ("replace('ababab', 'abab', '12')", "12ab"),
            ("replace('123abab456ab', null, 'abab')", None),
        ],
    ),
    *_examples(
        "REVERSE",
        "reverse",
        [
            ("reverse('I love aliyun very much')", "hcum yrev nuyila evol I"),
            ("reverse(null)", None),
        ],
    ),
    *_examples(
        "LENGTH",
        "length",
        [("length('Tech on the net')", 15), ("length(null)", None)],
        verbatim=False,
    ),
    *_examples(
        "REGEXP_EXTRACT",
        "regexp-extract",
        [
            ("regexp_extract('foothebar', 'foo(.*?)(bar)')", "the"),
            ("regexp_extract('foothebar', 'foo(.*?)(bar)', 0)", "foothebar"),
            ("regexp_extract('8d99d8', '8d(\\\\d+)d8')", "99"),
            ("regexp_extract('【阿里云】aliyun', '([^\\\\x{00}-\\\\x{ff}]+)')", "【阿里云】"),
            ("regexp_extract('【阿里云】aliyun', '([\\\\x{4e00}-\\\\x{9fa5}]+)')", "阿里云"),
            ("regexp_extract('foothebar', null)", None),
        ],
    ),
    *_examples(
        "REGEXP_COUNT",
        "regexp-count",
        [
            ("regexp_count('abababc', 'a.c')", 1),
            ("regexp_count('abababc', '[[:alpha:]]{2}', 3)", 2),
            ("regexp_count('abababc', null)", None),
            (
                'regexp_count(\'{"account_id":123456789,"account_name":"allen",'
                '"location":"hangzhou","bill":100}\', \':\')',
                4,
            ),
        ],
    ),
    *_examples(
        "LOCATE",
        "locate",
        [
            ("locate('ab', 'abchelloabc')", 1),
            ("locate('hi', 'abc,hello,ab,c')", 0),
            ("locate('ab', 'abhelloabc', null)", 0),
        ],
    ),
    *_examples(
        "TRANSLATE",
        "translate",
        [
            ("translate('ababab', 'abab', 'cd')", "cdcdcd"),
            ("translate('ababab', 'abab', 'cdefg')", "cdcdcd"),
            ("translate('ababab', 'cd', null)", None),
        ],
    ),
    *_examples(
        "CONCAT",
        "concat",
        [("concat('aabc', 'abcde')", "aabcabcde"), ("concat('aabc', 'abcde', null)", None)],
    ),
    *_examples(
        "TRIM",
        "trim",
        [
            ("trim(' yxTxyomxx ')", "yxTxyomxx"),
            ("trim(both from ' yxTxyomxx ')", "yxTxyomxx"),
            ("trim('yxTxyomxx', 'xy')", "Txyom"),
            ("trim(both 'xy' from 'yxTxyomxx')", "Txyom"),
            ("trim(null)", None),
            ("trim('yxTxyomxx', null)", None),
        ],
    ),
    *_examples(
        "LTRIM",
        "ltrim",
        [
            ("ltrim(' yxTxyomxx ')", "yxTxyomxx "),
            ("ltrim('yxTxyomxx', 'xy')", "Txyomxx"),
            ("trim(leading 'xy' from 'yxTxyomxx')", "Txyomxx"),
            ("ltrim(null)", None),
        ],
    ),
    *_examples(
        "RTRIM",
        "rtrim",
        [
            ("rtrim(' yxTxyomxx ')", " yxTxyomxx"),
            ("rtrim('yxTxyomxx', 'xy')", "yxTxyom"),
            ("trim(trailing 'xy' from 'yxTxyomxx')", "yxTxyom"),
            ("rtrim(null)", None),
        ],
    ),
    *_examples("TOLOWER", "tolower", [("tolower('aBcd')", "abcd")]),
    *_examples("TOUPPER", "toupper", [("toupper('aBcd')", "ABCD")]),
    *_examples(
        "DATEADD",
        "dateadd",
        [
            ("dateadd(datetime '2005-02-28 00:00:00', 1, 'dd')", "2005-03-01 00:00:00"),
            ("dateadd(datetime '2005-02-28 00:00:00', -1, 'dd')", "2005-02-27 00:00:00"),
            ("dateadd(datetime '2005-02-28 00:00:00', 20, 'mm')", "2006-10-28 00:00:00"),
            ("dateadd(datetime '2005-02-28 00:00:00', 1, 'mm')", "2005-03-28 00:00:00"),
            ("dateadd(datetime '2005-01-29 00:00:00', 1, 'mm')", "2005-02-28 00:00:00"),
            ("dateadd(datetime '2005-03-30 00:00:00', -1, 'mm')", "2005-02-28 00:00:00"),
        ],
        "DATETIME",
    ),
    *_examples(
        "DATEADD", "dateadd", [("dateadd(date '2005-02-28', 1, 'dd')", "2005-03-01")], "DATE"
    ),
    *_examples(
        "DATETRUNC",
        "datetrunc",
        [
            ("datetrunc(datetime '2011-12-07 16:28:46', 'yyyy')", "2011-01-01 00:00:00"),
            ("datetrunc(datetime '2011-12-07 16:28:46', 'month')", "2011-12-01 00:00:00"),
            ("datetrunc(datetime '2011-12-07 16:28:46', 'DD')", "2011-12-07 00:00:00"),
        ],
        "DATETIME",
    ),
    *_examples(
        "DATETRUNC",
        "datetrunc",
        [("datetrunc(date '2011-12-07', 'yyyy')", "2011-01-01")],
        "DATE",
    ),
    *_examples(
        "DATE_ADD",
        "date-add",
        [
            ("date_add(datetime '2005-02-28 00:00:00', 1)", "2005-03-01"),
            ("date_add(date '2005-02-28', -1)", "2005-02-27"),
            ("date_add('2005-02-28 00:00:00', 1)", "2005-03-01"),
            ("date_add(date '2005-02-28', 1)", "2005-03-01"),
        ],
        "DATE",
    ),
    *_examples(
        "DATE_SUB",
        "date-sub",
        [
            ("date_sub(datetime '2005-03-01 00:00:00', 1)", "2005-02-28"),
            ("date_sub(date '2005-03-01', -1)", "2005-03-02"),
            ("date_sub('2005-03-01 00:00:00', 1)", "2005-02-28"),
        ],
        "DATE",
        verbatim=False,
    ),
    *_examples(
        "DATEDIFF",
        "datediff",
        [
            ("datediff(date '2025-03-02', date '2025-03-01', 'dd')", 1),
            ("datediff(date '2025-01-01', date '2024-12-31', 'year')", 1),
            ("datediff(date '2025-01-01', date '2024-12-31', 'month')", 1),
            ("datediff(date '2025-03-02', date '2025-03-01')", 1),
        ],
    ),
    # From an earlier version of the DATEDIFF page: end '2006-01-01 00:00:00', start one second
    # before, is 1 in every unit (the parts below the unit are cut off first).
    *_examples(
        "DATEDIFF",
        "datediff",
        [
            (f"datediff({_NEW_YEAR}, datetime '2005-12-31 23:59:59', '{unit}')", 1)
            for unit in ("dd", "mm", "yyyy", "hh", "mi", "ss")
        ],
        verbatim=False,
    ),
    *_examples(
        "ADD_MONTHS",
        "add-months",
        [
            ("add_months('2017-02-14', 3)", "2017-05-14"),
            ("add_months('2017-02-14 21:30:00', 3)", "2017-05-14"),
            ("add_months('20170214 38:50:00', 3)", None),
        ],
        "STRING",
    ),
    *_examples("DAYOFWEEK", "dayofweek", [("dayofweek('2009-07-30')", 5)], "INT"),
    *_examples(
        "WEEKDAY",
        "weekday",
        [("weekday(datetime '2009-03-20 11:11:00')", 4), ("weekday(null)", None)],
        "BIGINT",
    ),
    # The date part functions take a date, a datetime or a string that is one.
    *_examples(
        "DATE PARTS",
        "date-functions",
        [
            ("dayofweek(date '2023-06-04')", 1),
            ("year('1970-01-01 12:30:00')", 1970),
            ("month('2014-09-01')", 9),
            ("day('2014-09-01')", 1),
            ("hour('2009-07-30 12:58:59')", 12),
            ("minute('2009-07-30 12:58:59')", 58),
            ("second('2009-07-30 12:58:59')", 59),
            ("quarter('1970-11-12 10:00:00')", 4),
            ("dayofmonth('2014-09-01')", 1),
            ("dayofyear('2014-02-01')", 32),
            ("weekofyear('2014-01-01')", 1),
            ("year('not a date')", None),
        ],
        "INT",  # each page's signature: int year(…), int month(…), …
        verbatim=False,
    ),
    *_examples(
        "LASTDAY",
        "lastday",
        [
            ("lastday(datetime '2013-06-08 01:10:00')", "2013-06-30 00:00:00"),
            ("lastday(null)", None),
        ],
    ),
    *_examples(
        "TO_CHAR",
        "to-char",
        [
            (
                "to_char(datetime '2010-12-03 00:00:00', '阿里金融yyyy年mm月dd日')",
                "阿里金融2010年12月03日",
            ),
            ("to_char(datetime '2008-07-31 00:00:00', 'yyyymmdd')", "20080731"),
        ],
    ),
    *_examples(
        "TO_DATE",
        "to-date",
        [
            ("to_date('阿里巴巴2010-12*03', '阿里巴巴yyyy-mm*dd')", "2010-12-03 00:00:00"),
            ("to_date('20080718', 'yyyymmdd')", "2008-07-18 00:00:00"),
        ],
    ),
]

# SUM over a window ordered by a value two rows share (the SUM page: "for rows with the same
# ORDER BY value, each row returns the cumulative sum up to that row" when not Hive-compatible).
WINDOW_SUM_OF_TIES = (
    "SELECT x, SUM(x) OVER (ORDER BY y) AS s FROM "
    "(SELECT 1 AS x, 1 AS y UNION ALL SELECT 2 AS x, 1 AS y UNION ALL SELECT 3 AS x, 2 AS y) t "
    "ORDER BY x",
    [[1, 1], [2, 3], [3, 6]],
    _page("sum"),
)

# Forms trailhouse refuses by name rather than answer differently.
REFUSED: list[tuple[str, str, str]] = [
    ("instr('abc', 'b', -1)", "ODPS-0130071", "INSTR: a start_position of -1"),
    ("split_part('a,b', ',', 0)", "ODPS-0130071", "SPLIT_PART: start must be 1 or more"),
    ("split_part('a,b', ',', 3, 2)", "ODPS-0130071", "SPLIT_PART: end (2)"),
    ("regexp_replace('a', 'a', 'b', -1)", "ODPS-0130071", "REGEXP_REPLACE: occurrence"),
    ("length('a', 2)", "ODPS-0130221", "function LENGTH needs 1 parameters, actually have 2"),
    ("substr('abc')", "ODPS-0130221", "function SUBSTR needs 2 to 3 parameters"),
    ("dateadd(datetime '2005-02-28 00:00:00', 1)", "ODPS-0130221", "function DATEADD needs 3"),
    ("dateadd(getdate(), 1, 'quarter')", "ODPS-0130071", "DATEADD: unsupported datepart"),
    ("datepart(getdate(), 'yyyy')", "ODPS-0130071", "function DATEPART is a MaxCompute built-in"),
    ("split_part('a,b', substr(',', 1), 1)", "ODPS-0130071", "the separator must be a string"),
]
