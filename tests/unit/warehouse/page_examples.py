"""MaxCompute's own examples for the functions that were checked only on rows built from their
pages' rules (family_examples.py and maxcompute_examples.py mark those `verbatim=False`): each
row is the query a function's page in MaxCompute's documentation shows and the result it prints.

test_page_examples.py runs them through the SQL job service on DuckDB and on Spark. The pages
were read from the reference library's copies of Alibaba Cloud's documentation (the page named
in each row; the mathematical and date functions from the copies of the whole "Mathematical
functions" and "Date functions" topics). docs/sql-functions.md counts them per function.
"""

from __future__ import annotations

from typing import Any

from maxcompute_examples import DOCS, Example

MATH = DOCS + "mathematical-functions"
DATES = DOCS + "date-functions"


def _rows(function: str, page: str, rows: list[tuple[str, Any]], kind: str = "") -> list[Example]:
    return [Example(function, sql, expected, page, kind) for sql, expected in rows]


PAGE_EXAMPLES: list[Example] = [
    # "Mathematical functions", each function's "Static data examples".
    *_rows(
        "ACOS",
        MATH,
        [
            ('acos("0.87")', 0.5155940062460905),
            ("acos(0)", 1.5707963267948966),
            ("acos(null)", None),
        ],
        "DOUBLE",
    ),
    *_rows(
        "ASIN",
        MATH,
        [("asin(1)", 1.5707963267948966), ("asin(-1)", -1.5707963267948966), ("asin(null)", None)],
        "DOUBLE",
    ),
    *_rows(
        "ATAN",
        MATH,
        [("atan(1)", 0.7853981633974483), ("atan(-1)", -0.7853981633974483), ("atan(null)", None)],
        "DOUBLE",
    ),
    *_rows("ATAN2", MATH, [("atan2(0, 0)", 0.0)], "DOUBLE"),
    *_rows(
        "COS",
        MATH,
        [
            ("cos(3.1415926/2)", 2.6794896585028633e-8),
            ("cos(3.1415926)", -0.9999999999999986),
            ("cos(null)", None),
        ],
        "DOUBLE",
    ),
    *_rows(
        "COSH", MATH, [("cosh(3.1415926/2)", 2.5091784169949913), ("cosh(null)", None)], "DOUBLE"
    ),
    # COS(x) / SIN(x): 1 / TAN(x), DuckDB's and Spark's COT, gives 2.6794896585028646E-8 here.
    *_rows(
        "COT", MATH, [("cot(3.1415926/2)", 2.6794896585028643e-8), ("cot(null)", None)], "DOUBLE"
    ),
    *_rows(
        "DEGREES",
        MATH,
        [("degrees(1.5707963267948966)", 90.0), ("degrees(0)", 0.0), ("degrees(null)", None)],
        "DOUBLE",
    ),
    *_rows("E", MATH, [("e()", 2.718281828459045)], "DOUBLE"),
    *_rows("EXP", MATH, [("exp(3.1415926/2)", 4.810477252069109), ("exp(null)", None)], "DOUBLE"),
    *_rows(
        "FACTORIAL",
        MATH,
        [("factorial(5)", 120), ("factorial(0)", 1), ("factorial(null)", None)],
        "BIGINT",
    ),
    # `select hex(null);` returns an error on the page: PAGE_REFUSED.
    *_rows(
        "HEX",
        MATH,
        [("hex(0)", "0"), ("hex('abc')", "616263"), ("hex(17)", "11"), ("hex('17')", "3137")],
        "STRING",
    ),
    *_rows("ISNAN", MATH, [("isnan(100.1)", False)], "BOOLEAN"),
    *_rows("LN", MATH, [("ln(3.1415926)", 1.144729868791239), ("ln(null)", None)], "DOUBLE"),
    *_rows("LOG", MATH, [("log(2, 16)", 4.0), ("log(2, null)", None)], "DOUBLE"),
    *_rows(
        "LOG10",
        MATH,
        # The page's static `log10(8)` prints 0.9030899869919435 (Java's Math.log10), where its
        # table (below) prints LN(x) / LN(10) for ten values (log10(4) is 0.6020599913279623):
        # both cannot hold. trailhouse follows the table; log10(8) is 0.9030899869919434.
        [("log10(null)", None), ("log10(0)", None)],
        "DOUBLE",
    ),
    *_rows("LOG2", MATH, [("log2(null)", None), ("log2(0)", None), ("log2(8)", 3.0)], "DOUBLE"),
    *_rows("PI", MATH, [("pi()", 3.141592653589793)], "DOUBLE"),
    *_rows(
        "RADIANS",
        MATH,
        [("radians(90)", 1.5707963267948966), ("radians(0)", 0.0), ("radians(null)", None)],
        "DOUBLE",
    ),
    *_rows(
        "SIGN",
        MATH,
        [("sign(-2.5)", -1.0), ("sign(2.5)", 1.0), ("sign(0)", 0.0), ("sign(null)", None)],
        "DOUBLE",
    ),
    *_rows("SIN", MATH, [("sin(60)", -0.3048106211022167), ("sin(null)", None)], "DOUBLE"),
    *_rows("SINH", MATH, [("sinh(30)", 5.343237290762231e12), ("sinh(null)", None)], "DOUBLE"),
    *_rows("TAN", MATH, [("tan(30)", -6.405331196646276), ("tan(null)", None)], "DOUBLE"),
    *_rows("TANH", MATH, [("tanh(30)", 1.0), ("tanh(null)", None)], "DOUBLE"),
    # UNHEX is a BINARY; the API returns its bytes as text.
    *_rows(
        "UNHEX",
        MATH,
        [("unhex('616263')", "abc"), ("unhex(616263)", "abc"), ("unhex(null)", None)],
        "BINARY",
    ),
    # GREATEST's page (traditional Chinese edition, 2025): the examples without a SET line (the
    # fourth sets odps.sql.type.system.odps2=false, MaxCompute 1.0's type system).
    *_rows("GREATEST", DOCS + "greatest", [("greatest(2.5,5,3.14BD,'9.9')", 9.9)]),
    *_rows(
        "GREATEST",
        DOCS + "greatest",
        [("greatest(datetime'2025-10-01 12:00:00',null)", "2025-10-01 12:00:00")],
        "DATETIME",
    ),
    *_rows(
        "GREATEST",
        DOCS + "greatest",
        [
            (
                "greatest(date'2025-10-01', date'2025-10-03',date'2026-01-01',date'2025-02-02')",
                "2026-01-01",
            )
        ],
        "DATE",
    ),
    # String functions.
    *_rows("INITCAP", DOCS + "initcap", [('initcap("oDps sql")', "Odps Sql")], "STRING"),
    *_rows("LENGTH", DOCS + "length", [("length('Tech on the net')", 15), ("length(null)", None)]),
    *_rows("SPACE", DOCS + "space", [("length(space(10))", 10)]),
    # Conditional functions.
    *_rows(
        "IF",
        DOCS + "if",
        [
            ("IF(1=2, 100, 200)", 200),
            ("IF(LENGTH('abc') > 2, 'active', 'inactive')", "active"),
            ("IF(NULL, 'valueA', 'valueB')", "valueB"),
            ("IF(FALSE, 42, NULL)", None),
        ],
    ),
    # Collection functions.
    *_rows(
        "SIZE",
        DOCS + "size",
        [("size(array('a','b'))", 2), ("size(map('a',123,'b',456))", 2)],
        "INT",
    ),
    *_rows(
        "SORT_ARRAY",
        DOCS + "sort-array",
        [
            (
                "sort_array(array(10, 20, 40, 30, 30, null, 50), false)",
                [50, 40, 30, 30, 20, 10, None],
            ),
            ("sort_array(array(10, 20, 40, 30, 30, null, 50))", [None, 10, 20, 30, 30, 40, 50]),
        ],
    ),
    # "Date functions" (the topic before each function had a page of its own).
    *_rows(
        "WEEKOFYEAR",
        DATES,
        [
            ('weekofyear(to_date("20141229", "yyyymmdd"))', 1),
            ('weekofyear(to_date("20141231", "yyyymmdd"))', 1),
            ('weekofyear(to_date("20151229", "yyyymmdd"))', 53),
        ],
    ),
    # `YEAR(null)` returns an error on the page: PAGE_REFUSED.
    *_rows(
        "YEAR",
        DATES,
        [
            ("YEAR('1970-01-01 12:30:00')", 1970),
            ("YEAR('1970-01-01')", 1970),
            ("YEAR('70-01-01')", 70),
            ("YEAR('1970/03/09')", None),
        ],
        "INT",
    ),
    *_rows(
        "QUARTER",
        DATES,
        [("QUARTER('1970-11-12 10:00:00')", 4), ("QUARTER('1970-11-12')", 4)],
        "INT",
    ),
    *_rows("MONTH", DATES, [("MONTH('2014-09-01')", 9), ("MONTH('20140901')", None)], "INT"),
    *_rows("DAY", DATES, [("DAY('2014-09-01')", 1), ("DAY('20140901')", None)], "INT"),
    *_rows(
        "DAYOFMONTH",
        DATES,
        [("DAYOFMONTH('2014-09-01')", 1), ("DAYOFMONTH('20140901')", None)],
        "INT",
    ),
    *_rows(
        "HOUR",
        DATES,
        [
            ("HOUR('2014-09-01 12:00:00')", 12),
            ("HOUR('12:00:00')", 12),
            ("HOUR('20140901120000')", None),
        ],
        "INT",
    ),
    *_rows(
        "MINUTE",
        DATES,
        [
            ("MINUTE('2014-09-01 12:30:00')", 30),
            ("MINUTE('12:30:00')", 30),
            ("MINUTE('20140901120000')", None),
        ],
        "INT",
    ),
    *_rows(
        "SECOND",
        DATES,
        [
            ("SECOND('2014-09-01 12:30:45')", 45),
            ("SECOND('12:30:45')", 45),
            ("SECOND('20140901123045')", None),
        ],
        "INT",
    ),
    # DATE_SUB's section of the topic: its static examples but `DATE_SUB(GETDATE(),1)` (now).
    # The third follows `SET odps.sql.type.system.odps2=false;`, run without it: a STRING
    # start date is read as a date in either type system.
    *_rows(
        "DATE_SUB",
        DATES,
        [
            ("DATE_SUB(datetime '2005-03-01 00:00:00', 1)", "2005-02-28"),
            ("DATE_SUB(date '2005-02-28', -1)", "2005-03-01"),
            ("DATE_SUB('2005-03-01 00:00:00', 2)", "2005-02-27"),
        ],
        "DATE",
    ),
    *_rows("DATE_SUB", DATES, [("DATE_SUB('2005-03-01 00:00:00', null)", None)]),
    *_rows("DAYOFYEAR", DOCS + "dayofyear", [("dayofyear('2016-04-09')", 100)], "INT"),
    *_rows(
        "LAST_DAY",
        DATES,
        [
            ("LAST_DAY('2017-03-04')", "2017-03-31"),
            ("LAST_DAY('2017-07-04 11:40:00')", "2017-07-31"),
            ("LAST_DAY('20170304')", None),
        ],
        "STRING",
    ),
]

# The mathematical functions' sample table, mf_math_fun_t, as the page's INSERT writes it (the
# BIGINT, DOUBLE and STRING columns; `n` keeps the page's row order, which its queries print).
# The queries leave out the pages' string_data column: a STRING column is refused in arithmetic
# functions (ODPS-0130121, docs/sql-functions.md), where MaxCompute reads it as a DOUBLE.
_MF_ROWS = [
    ("-10", "0.525", "'10'"),
    ("NULL", "-0.1", "'-10'"),
    ("-1", "NULL", "'30'"),
    ("4", "0.89", "'-30'"),
    ("-50", "-1", "'50'"),
    ("6", "1.5", "'-50'"),
    ("-70", "-7.5", "NULL"),
    ("1", "-10.2", "'-1'"),
    ("-90", "2.58", "'0'"),
    ("10", "-5.8", "'-90'"),
]
MF_MATH_FUN_T = (
    "("
    + " UNION ALL ".join(
        f"SELECT {n} AS n, CAST({b} AS BIGINT) AS bigint_data, CAST({d} AS DOUBLE) AS double_data, "
        f"CAST({s} AS STRING) AS string_data"
        for n, (b, d, s) in enumerate(_MF_ROWS, 1)
    )
    + ") mf_math_fun_t"
)


def _columns(*columns: list[Any]) -> list[list[Any]]:
    return [list(row) for row in zip(*columns, strict=True)]


_N = None
# Whole queries: (function, query, rows as the page prints them, page).
PAGE_QUERIES: list[tuple[str, str, list[list[Any]], str]] = [
    (
        # Out of [-1, 1] is NULL, as the page says (acos(-10), acos(4), acos(1.5)).
        "ACOS",
        "select acos(bigint_data) as bigint_new, acos(double_data) as double_new "
        f"from {MF_MATH_FUN_T} order by n",
        _columns(
            [_N, _N, 3.141592653589793, _N, _N, _N, _N, 0.0, _N, _N],
            [
                1.0180812136981134,
                1.6709637479564565,
                _N,
                0.4734511572720662,
                3.141592653589793,
                _N,
                _N,
                _N,
                _N,
                _N,
            ],
        ),
        MATH,
    ),
    (
        "LN",
        "select ln(bigint_data) as bigint_new, ln(double_data) as double_new "
        f"from {MF_MATH_FUN_T} order by n",
        _columns(
            [_N, _N, _N, 1.3862943611198906, _N, 1.791759469228055, _N, 0.0, _N, 2.302585092994046],
            [
                -0.6443570163905132,
                _N,
                _N,
                -0.11653381625595151,
                _N,
                0.4054651081081644,
                _N,
                _N,
                0.9477893989335261,
                _N,
            ],
        ),
        MATH,
    ),
    (
        "LOG10",
        "select log10(bigint_data) as bigint_new, log10(double_data) as double_new "
        f"from {MF_MATH_FUN_T} order by n",
        _columns(
            [_N, _N, _N, 0.6020599913279623, _N, 0.7781512503836435, _N, 0.0, _N, 1.0],
            [
                -0.2798406965940431,
                _N,
                _N,
                -0.0506099933550872,
                _N,
                0.17609125905568124,
                _N,
                _N,
                0.4116197059632301,
                _N,
            ],
        ),
        MATH,
    ),
    (
        # The page's string_data column is left out: it prints cot('0') as 1.0, where cot(0) is
        # infinite (COS(0) / SIN(0)); trailhouse gives NULL there (docs/sql-functions.md).
        "COT",
        "select cot(bigint_data) as bigint_new, cot(double_data) as double_new "
        f"from {MF_MATH_FUN_T} order by n",
        _columns(
            [
                -1.54235104535692,
                _N,
                -0.6420926159343308,
                0.8636911544506167,
                3.6778144508505695,
                -3.436353004180128,
                -0.8183574478651038,
                0.6420926159343308,
                0.5012027833801532,
                1.54235104535692,
            ],
            [
                1.7264594764178474,
                -9.966644423259238,
                _N,
                0.8099792954471944,
                -0.6420926159343308,
                0.07091484430265245,
                -0.36954725630901636,
                -1.0205622016180353,
                -1.5893944776331337,
                1.9059736612916494,
            ],
        ),
        MATH,
    ),
    (
        "LOG2",
        "select log2(bigint_data) as bigint_new, log2(double_data) as double_new "
        f"from {MF_MATH_FUN_T} order by n",
        _columns(
            [_N, _N, _N, 2.0, _N, 2.584962500721156, _N, 0.0, _N, 3.3219280948873626],
            [
                -0.929610672108602,
                _N,
                _N,
                -0.16812275880832692,
                _N,
                0.5849625007211562,
                _N,
                _N,
                1.3673710656485296,
                _N,
            ],
        ),
        MATH,
    ),
    (
        "LOG",
        "select log(2,bigint_data) as bigint_new, log(2,double_data) as double_new "
        f"from {MF_MATH_FUN_T} order by n",
        _columns(
            [_N, _N, _N, 2.0, _N, 2.584962500721156, _N, 0.0, _N, 3.3219280948873626],
            [
                -0.929610672108602,
                _N,
                _N,
                -0.16812275880832692,
                _N,
                0.5849625007211562,
                _N,
                _N,
                1.3673710656485296,
                _N,
            ],
        ),
        MATH,
    ),
    (
        "ARRAY_CONTAINS",
        "select c1, array_contains(t_array,'1') from ("
        "select 1000L as c1, array('k11','86','k21','15') as t_array union all "
        "select 1001L as c1, array('k12','97','k22','2') as t_array union all "
        "select 1002L as c1, array('k13','99','k23','1') as t_array) t_table_array order by c1",
        [[1000, False], [1001, False], [1002, True]],
        DOCS + "array-contains",
    ),
    (
        "SORT_ARRAY",
        "select sort_array(c1),sort_array(c2),sort_array(c3) from (select array('a','c','f','b') "
        "as c1, array(4,5,7,2,5,8) as c2, array('You','Me','Him') as c3) t_array",
        [[["a", "b", "c", "f"], [2, 4, 5, 5, 7, 8], ["Him", "Me", "You"]]],
        DOCS + "sort-array",
    ),
    (
        # The page prints the rows in another order (it has no ORDER BY): compared sorted.
        "DECODE",
        "select decode(customer_id, 'c1', 'Taobao', 'c2', 'Alipay', 'c3', 'Aliyun', Null, 'N/A', "
        "'Others') as result from (select 'c1' as customer_id union all select 'c2' union all "
        "select 'c3' union all select 'c5' union all select 'c6' union all select 'c7') "
        "sale_detail",
        [["Others"], ["Others"], ["Others"], ["Taobao"], ["Alipay"], ["Aliyun"]],
        DOCS + "decode",
    ),
    (
        "CASE WHEN",
        "select case when region='china' then 'default_region' when region like 'shang%' then "
        "'sh_region' end as region from (select 'china' as region union all select 'china' "
        "union all select 'china' union all select 'shanghai' union all select 'shanghai' "
        "union all select 'shanghai') sale_detail",
        [["default_region"]] * 3 + [["sh_region"]] * 3,
        DOCS + "case-when",
    ),
    (
        # The page's query over its nvl_test table: c3 is a DATETIME, and nvl(c3, '-') is a
        # STRING (MaxCompute converts the DATETIME to its text), printed as the page prints it.
        "NVL",
        "SELECT nvl(c1,'00000'),nvl(c2,0),nvl(c3,'-') FROM (select 'aaa' as c1, 23L as c2, "
        "datetime '2024-01-11 00:00:00' as c3 union all select 'bbb', cast(null as bigint), "
        "datetime '2024-01-12 08:00:00' union all select cast(null as string), 20L, "
        "datetime '2024-01-13 05:00:00' union all select 'ddd', 25L, cast(null as datetime)) "
        "nvl_test",
        [
            ["aaa", 23, "2024-01-11 00:00:00"],
            ["bbb", 0, "2024-01-12 08:00:00"],
            ["00000", 20, "2024-01-13 05:00:00"],
            ["ddd", 25, "-"],
        ],
        DOCS + "nvl",
    ),
]

# The aggregate functions' sample table, emp (its empno, ename, sal and deptno columns), as the
# page's emp.txt lists it: 17 rows.
_EMP_ROWS = [
    (7369, "SMITH", 800, 20),
    (7499, "ALLEN", 1600, 30),
    (7521, "WARD", 1250, 30),
    (7566, "JONES", 2975, 20),
    (7654, "MARTIN", 1250, 30),
    (7698, "BLAKE", 2850, 30),
    (7782, "CLARK", 2450, 10),
    (7788, "SCOTT", 3000, 20),
    (7839, "KING", 5000, 10),
    (7844, "TURNER", 1500, 30),
    (7876, "ADAMS", 1100, 20),
    (7900, "JAMES", 950, 30),
    (7902, "FORD", 3000, 20),
    (7934, "MILLER", 1300, 10),
    (7948, "JACCKA", 5000, 10),
    (7956, "WELAN", 2450, 10),
    (7956, "TEBAGE", 1300, 10),
]
EMP = (
    "("
    + " UNION ALL ".join(
        f"SELECT {no}L AS empno, '{name}' AS ename, {sal}L AS sal, {dept}L AS deptno"
        for no, name, sal, dept in _EMP_ROWS
    )
    + ") emp"
)
AGGREGATES = DOCS + "aggregate-functions"


def _emp(function: str, select: str, rows: list[list[Any]], group: bool = False) -> Any:
    tail = " group by deptno" if group else ""
    return (function, f"select {select} from {EMP}{tail}", rows, AGGREGATES)


PAGE_QUERIES += [
    _emp("AVG", "avg(sal)", [[2222.0588235294117]]),
    _emp(
        "AVG",
        "deptno, avg(sal)",
        [[10, 2916.6666666666665], [20, 2175.0], [30, 1566.6666666666667]],
        group=True,
    ),
    _emp("COUNT", "COUNT(*)", [[17]]),
    _emp("COUNT", "deptno, COUNT(*)", [[20, 5], [30, 6], [10, 6]], group=True),
    _emp("COUNT", "COUNT(DISTINCT deptno)", [[3]]),
    # The page's examples 1 and 2 (example 2 without its `SET odps.sql.hive.compatible=false;`,
    # MaxCompute's default): rows with the same sal counted together, then one by one.
    _emp(
        "COUNT",
        "sal, COUNT(sal) OVER (PARTITION BY sal) AS count",
        [[s, n] for s, n in [(800, 1), (950, 1), (1100, 1), (1250, 2), (1250, 2), (1300, 2)]]
        + [[1300, 2], [1500, 1], [1600, 1], [2450, 2], [2450, 2], [2850, 1], [2975, 1]]
        + [[3000, 2], [3000, 2], [5000, 2], [5000, 2]],
    ),
    _emp(
        "COUNT",
        "sal, COUNT(sal) OVER (PARTITION BY sal ORDER BY sal) AS count",
        [[s, n] for s, n in [(800, 1), (950, 1), (1100, 1), (1250, 1), (1250, 2), (1300, 1)]]
        + [[1300, 2], [1500, 1], [1600, 1], [2450, 1], [2450, 2], [2850, 1], [2975, 1]]
        + [[3000, 1], [3000, 2], [5000, 1], [5000, 2]],
    ),
    _emp("MAX", "max(sal)", [[5000]]),
    _emp("MAX", "deptno, max(sal)", [[10, 5000], [20, 3000], [30, 2850]], group=True),
    _emp("MEDIAN", "median(sal)", [[1600.0]]),
    _emp("MEDIAN", "deptno, median(sal)", [[10, 2450.0], [20, 2975.0], [30, 1375.0]], group=True),
    _emp("MIN", "min(sal)", [[800]]),
    _emp("MIN", "deptno, min(sal)", [[10, 1300], [20, 800], [30, 950]], group=True),
    _emp("STDDEV_SAMP", "stddev_samp(sal)", [[1301.6180541247609]]),
    _emp(
        "STDDEV_SAMP",
        "deptno, stddev_samp(sal)",
        [[10, 1693.7138680032901], [20, 1123.3320969330487], [30, 668.3312551921141]],
        group=True,
    ),
    _emp("SUM", "sum(sal)", [[37775]]),
    _emp("SUM", "deptno, sum(sal)", [[10, 17500], [20, 10875], [30, 9400]], group=True),
    _emp("VAR_SAMP", "var_samp(sal)", [[1694209.5588235292]]),
    _emp(
        "VAR_SAMP",
        "deptno, var_samp(sal)",
        [[10, 2868666.666666667], [20, 1261875.0], [30, 446666.6666666667]],
        group=True,
    ),
]

# Aggregates of doubles whose last digit depends on the order the values are summed in: the
# pages' values hold to 15 significant digits (a relative 1e-15), not to the last bit. The page
# itself is not one computation: its VAR_SAMP for deptno 10, 2868666.666666667, has the square
# root 1693.7138680032904, where its STDDEV_SAMP prints 1693.7138680032901.
LAST_DIGIT_VARIES = frozenset({"STDDEV_SAMP", "VAR_SAMP"})

# Page examples whose documented answer is an error, and forms refused by name: (query, code,
# what the message says).
PAGE_REFUSED: list[tuple[str, str, str]] = [
    ("hex(null)", "ODPS-0130121", "function HEX cannot take a NULL constant"),
    ("YEAR(null)", "ODPS-0130121", "function YEAR cannot take a NULL constant"),
    # REGEXP_INSTR's page shows only calls with start_position and occurrence (14, 16, NULL).
    *(
        (sql, "ODPS-0130071", "REGEXP_INSTR: start_position, occurrence and return_option")
        for sql in (
            "regexp_instr('i love www.taobao.com', 'o[[:alpha:]]{1}', 3, 2)",
            "regexp_instr('i love www.taobao.com', 'o[[:alpha:]]{1}', 3, 2, 1)",
            "regexp_instr('i love www.taobao.com', null, 3, 2)",
        )
    ),
]
