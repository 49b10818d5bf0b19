"""Bad SQL through the SQL job service on DuckDB and on Spark: a MaxCompute code, the token's
[line,column], and never an engine's own words (Binder Error, class names, colour codes).

A query is refused when it is submitted (ApiError) or fails when it runs (the job's error);
either way the code and message are checked.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from builders import WarehouseFixture, logged_events, open_test_warehouse, root
from sqlglot import exp

from trailhouse.errors import ApiError
from trailhouse.warehouse.model import JobStatus
from trailhouse.warehouse.sql.diagnostics import semantic_failure
from trailhouse.warehouse.sql.engine import (
    Engine,
    EngineError,
    JobControl,
    Limits,
    QueryPlan,
    ResultSet,
)
from trailhouse.warehouse.sql.runtime_errors import runtime_error, runtime_failure
from trailhouse.warehouse.sql.spark import SparkEngine

T = "actiontrail_audit_trail"
# What must never reach a user: engines' error kinds and names, Python's, terminal colours.
ENGINE_TEXT = re.compile(
    r"Binder Error|Catalog Error|Parser Error|Conversion Error|Invalid Input Error|duckdb|DuckDB"
    r"|sqlglot|Traceback|pyspark|AnalysisException|SQLSTATE|\[[A-Z_]{6,}\]|\x1b\[|<class "
    r"|<Token |\b[a-z_]+\.[a-z_]+\.[A-Z]\w+|TokenType\.|STRING_LITERAL|INTEGER_LITERAL"
)

# (sql, the code it gets, what its message says): unknown names, argument counts and types,
# syntax errors, unknown tables, division of strings, GROUP BY, ambiguity, runtime conversions.
CORPUS: list[tuple[str, str, str]] = [
    (f"SELECT nope FROM {T}", "ODPS-0130071", "[1,8] Semantic analysis exception - column nope"),
    (f"SELECT event_name\nFROM {T}\nWHERE nope = 1", "ODPS-0130071", "[3,7] Semantic"),
    (f"SELECT x.event_name FROM {T} t", "ODPS-0130071", "x"),
    (f"SELECT t.nope FROM {T} t", "ODPS-0130071", "[1,10] Semantic analysis exception - column"),
    (f"SELECT NOFUNC(event) FROM {T}", "ODPS-0130071", "function or view NOFUNC cannot be"),
    (f"SELECT LENGTH(event, 2) FROM {T}", "ODPS-0130221", "[1,8] Invalid number of arguments"),
    ("SELECT CONCAT_WS(',', 'a')", "ODPS-0130071", "CONCAT_WS"),
    ("SELECT DATEADD(GETDATE(), 1)", "ODPS-0130221", "DATEADD needs 3"),
    ("SELECT ABS('x')", "ODPS-0130121", "function ABS cannot take arguments of type (STRING)"),
    ("SELECT 'a' / 'b'", "ODPS-0130121", "operator / cannot take arguments"),
    (f"SELECT event_name - event_id FROM {T}", "ODPS-0130121", "operator -"),
    ("SELECT FROM WHERE", "ODPS-0130161", "[1,13] Parse exception"),
    # sqlglot reads a SELECT with nothing to select; DuckDB's parser refused it (a 500 before).
    (f"SELECT FROM {T}", "ODPS-0130161", "[1,8] Parse exception - SELECT needs at least one"),
    (f"SELECT 1 FROM (SELECT\n  FROM {T}) t", "ODPS-0130161", "[2,3] Parse exception"),
    # DuckDB's own binder words, rewritten.
    (
        f"SELECT 1 FROM {T} WHERE event_name IN (SELECT event_name, event_id FROM {T})",
        "ODPS-0130071",
        "must select one column, not 2",
    ),
    (f"SELECT ROW_NUMBER() FROM {T}", "ODPS-0130071", "needs an OVER clause"),
    (
        f"SELECT event_name FROM {T} WHERE event_time > DATE '2026-01-01'",
        "ODPS-0130071",
        "cannot compare a STRING with a DATE",
    ),
    # A chain of 1,500 additions: DuckDB's parser refused it naming its own SET.
    ("SELECT " + "+".join(["1"] * 1500), "ODPS-0130161", "nests more than 1000 levels deep"),
    ("SELECT 1 +", "ODPS-0130161", "[1,10] Parse exception"),
    (f"SELECT * FROM {T} WHERE (", "ODPS-0130161", "Parse exception"),
    ("SELECT 'abc", "ODPS-0130161", "[1,8] Parse exception - the quoted text"),
    (f"SELECT event_name FROM {T} ORDER event_name", "ODPS-0130161", "[1,54] Parse exception"),
    ('SELECT\n  "abc', "ODPS-0130161", "[2,3] Parse exception - the quoted text"),
    (f"SELECT event_name FROM {T} GROUP BY event_id", "ODPS-0130071", "should appear in GROUP BY"),
    (
        f"SELECT event_name FROM {T} a JOIN {T} b ON a.event_id = b.event_id",
        "ODPS-0130071",
        "column reference event_name is ambiguous",
    ),
    ("SELECT * FROM no_such_table", "ODPS-0130131", "[1,15] Table not found"),
    (f"SELECT 1 FROM {T} a JOIN {T} b USING (nope)", "ODPS-0130071", "column nope cannot be"),
    ("SELECT * FROM actiontrail_audit-trail", "ODPS-0130", ""),
    (f"SELECT REGEXP_EXTRACT(event_name, CONCAT('(', event_rw), 1) FROM {T}", "", ""),
    ("SET odps.sql.nope=true;\nSELECT 1", "ODPS-0130071", "[1,5] Semantic analysis exception"),
    ("SELECT INSTR('abc', 'b', -2, 1)", "ODPS-0130071", "INSTR: a start_position of -2"),
    # Not checked against MaxCompute yet: refused by name (docs/sql-functions.md).
    ("SELECT NEXT_DAY('2017-08-01', 'TU')", "ODPS-0130071", "function NEXT_DAY is a MaxCompute"),
    ("SELECT LEVENSHTEIN('a', 'b')", "ODPS-0130071", "function or view LEVENSHTEIN cannot be"),
    ("SELECT STDDEV(1)", "ODPS-0130071", "function STDDEV is a MaxCompute built-in"),
    ("SELECT RAND(7)", "ODPS-0130071", "RAND with a seed is not supported"),
    ("SELECT CURRENT_USER()", "ODPS-0130071", "function or view CURRENT_USER cannot be"),
]


class _Shared:
    """The session's Spark engine, left running when one test warehouse closes."""

    name = "spark"

    def __init__(self, engine: SparkEngine) -> None:
        self._engine = engine

    def run(self, plan: QueryPlan, limits: Limits, control: JobControl) -> ResultSet:
        return self._engine.run(plan, limits, control)

    def evaluate_constant(self, expression: exp.Expr) -> Any:
        return self._engine.evaluate_constant(expression)

    def close(self) -> None:
        """The session fixture stops the engine."""


@pytest.fixture(scope="module", params=["duckdb", "spark"])
def tw(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WarehouseFixture]:
    engine: Engine | None = None
    if request.param == "spark":
        engine = _Shared(request.getfixturevalue("spark_engine"))
    opened = open_test_warehouse(Path(tmp_path_factory.mktemp(request.param)) / "data", engine)
    opened.append(logged_events(60, days=2))
    yield opened
    opened.close()


def failure(tw: WarehouseFixture, sql: str) -> tuple[str, str]:
    """The code and message a caller gets for `sql`: refused, or the failed job's."""
    jobs = tw.warehouse.jobs
    try:
        job = jobs.submit(root(), tw.project, sql)
    except ApiError as refused:
        status, code, message = refused.http_status, refused.code, refused.message
    else:
        status = 0
    if status:
        assert status < 500, message
        return code, message
    job = jobs.wait(root(), job.job_id, timeout=120)
    assert job.status == JobStatus.FAILED, f"{sql!r} ran: {job.status}"
    return job.error_code, job.error_message


@pytest.mark.parametrize(("sql", "code", "says"), CORPUS, ids=[c[0] for c in CORPUS])
def test_bad_sql_gets_maxcompute_words(
    tw: WarehouseFixture, sql: str, code: str, says: str
) -> None:
    got_code, message = failure(tw, sql)
    assert not ENGINE_TEXT.search(message), message
    assert got_code != "InternalError", message
    assert got_code.startswith(code), (got_code, message)
    assert says in message, message


# Semantic errors whose engine message names no token (or names one written more than once):
# the [line,column] of the token at fault, found in the query's tree.
POSITIONED: list[tuple[str, str, str]] = [
    (
        f"SELECT 1 FROM {T}\nWHERE event_name IN (SELECT event_name, event_id FROM {T})",
        "ODPS-0130071",
        "[2,22] Semantic analysis exception - a subquery used as a value",
    ),
    (
        f"SELECT event_name,\n  ROW_NUMBER() FROM {T}",
        "ODPS-0130071",
        "[2,3] Semantic analysis exception - a window function",
    ),
    (
        f"SELECT event_name FROM {T}\nWHERE ROW_NUMBER() OVER (ORDER BY event_name) > 1",
        "ODPS-0130071",
        "[2,7] Semantic analysis exception - a window function (ROW_NUMBER, RANK, LAG, …) is "
        "not allowed in WHERE",
    ),
    (
        f"SELECT event_time FROM {T}\nWHERE event_time > DATE '2026-01-01'",
        "ODPS-0130071",
        "[2,18] Semantic analysis exception - cannot compare a STRING with a DATE",
    ),
    (
        f"SELECT event_name FROM {T}\nORDER BY 5",
        "ODPS-0130071",
        "[2,10] Semantic analysis exception - ORDER BY position out of range",
    ),
    (
        f"SELECT event_name, COUNT(*) FROM {T}\nGROUP BY 3",
        "ODPS-0130071",
        "[2,10] Semantic analysis exception - GROUP BY position out of range: the query "
        "selects 2 columns",
    ),
    (
        f"SELECT COUNT(*) FROM {T}\nWHERE COUNT(*) > 1",
        "ODPS-0130071",
        "[2,7] Semantic analysis exception - an aggregate function (COUNT, SUM, …) is not "
        "allowed in WHERE; filter on it in HAVING",
    ),
    (
        f"SELECT SUM(COUNT(*)) FROM {T}",
        "ODPS-0130071",
        "[1,12] Semantic analysis exception - an aggregate function cannot take another",
    ),
    ("SELECT 'a' / 'b'", "ODPS-0130121", "[1,12] Invalid argument type - operator /"),
    (f"SELECT event_name - event_id FROM {T}", "ODPS-0130121", "[1,19] Invalid argument"),
    (
        f"SELECT event_name FROM {T}\nUNION ALL\nSELECT event_name, event_id FROM {T}",
        "ODPS-0130071",
        "[2,1] Semantic analysis exception - the queries of a UNION, INTERSECT or EXCEPT must "
        "select the same number of columns",
    ),
    (
        f"SELECT * FROM {T} a\nJOIN {T} a ON 1 = 1",
        "ODPS-0130071",
        "[2,30] Semantic analysis exception - table alias a is given twice in one FROM",
    ),
    # The name is written more than once: the occurrence at fault, not the first.
    (
        f"SELECT a.event_name FROM {T} a JOIN {T} b ON a.event_id = b.event_id\n"
        "WHERE event_name = 'x'",
        "ODPS-0130071",
        "[2,7] Semantic analysis exception - column reference event_name is ambiguous",
    ),
    (
        f"SELECT COUNT(event_id), event_id FROM {T} GROUP BY event_name",
        "ODPS-0130071",
        "[1,25] Semantic analysis exception - column reference event_id should appear in GROUP",
    ),
]


@pytest.mark.parametrize(("sql", "code", "says"), POSITIONED, ids=[p[0] for p in POSITIONED])
def test_a_semantic_error_points_at_the_token_at_fault(
    tw: WarehouseFixture, sql: str, code: str, says: str
) -> None:
    got_code, message = failure(tw, sql)
    assert got_code == code, (got_code, message)
    assert message.startswith(says), message
    assert not ENGINE_TEXT.search(message), message


# A regular expression that does not compile: its fault in plain words and the pattern, not
# RE2's ("missing ): (") or Spark's ("[INVALID_PARAMETER_VALUE.PATTERN]") own words.
BAD_PATTERNS: list[tuple[str, str, str]] = [
    ("SELECT REGEXP_REPLACE('abc', 'a(', 'x')", "a group opened with ( is not closed", "'a('"),
    (
        f"SELECT REGEXP_COUNT(event_name, '[a') FROM {T}",
        "a [ character class is not closed",
        "'[a'",
    ),
    ("SELECT REGEXP_EXTRACT('abc', 'a)', 0)", "a ) closes no group", "a)"),
    ("SELECT 'abc' RLIKE '*a'", "has nothing before it to repeat", "*"),
    (
        f"SELECT REGEXP_EXTRACT(event_name, CONCAT('(', event_rw), 1) FROM {T}",
        "a group opened with ( is not closed",
        "(",
    ),
]


@pytest.mark.parametrize(
    ("sql", "fault", "pattern"), BAD_PATTERNS, ids=[b[0] for b in BAD_PATTERNS]
)
def test_a_bad_regular_expression_is_named_in_plain_words(
    tw: WarehouseFixture, sql: str, fault: str, pattern: str
) -> None:
    code, message = failure(tw, sql)
    assert code == "ODPS-0121095", message
    assert message.startswith("Invalid argument - the regular expression "), message
    assert fault in message and pattern in message, message
    assert not ENGINE_TEXT.search(message) and "missing )" not in message, message


def test_table_not_found_lists_tables_and_the_hyphen_rule(tw: WarehouseFixture) -> None:
    code, message = failure(tw, "SELECT COUNT(*) FROM\n  actiontrail_audit")
    assert code == "ODPS-0130131"
    assert "[2,3] Table not found" in message
    assert "Tables of project actiontrail_1111222233334444: actiontrail_audit_trail." in message
    assert "trail audit-mc → table actiontrail_audit_mc" in message


def test_a_trail_s_table_named_with_the_trail_s_hyphens_gets_the_underscore_form(
    tw: WarehouseFixture,
) -> None:
    """`FROM actiontrail_audit-mc` does not parse (a '-' in a name); the refusal says which
    name to write, not only where the parser stopped."""
    code, message = failure(tw, "SELECT COUNT(*) FROM actiontrail_audit-trail")
    assert code == "ODPS-0130161"
    assert "Parse exception" in message
    assert "write actiontrail_audit_trail, not actiontrail_audit-trail" in message
    code, message = failure(tw, "SELECT 'actiontrail_a-b' FROM")  # in a string: no hint
    assert "actiontrail_a_b" not in message


def test_optimizer_hints_are_dropped_not_called(tw: WarehouseFixture) -> None:
    jobs = tw.warehouse.jobs
    sql = f"SELECT /*+ MAPJOIN(b) */ COUNT(*) FROM {T} a JOIN {T} b ON a.event_id = b.event_id"
    job = jobs.wait(root(), jobs.submit(root(), tw.project, sql).job_id, timeout=120)
    assert job.status == JobStatus.TERMINATED, job.error_message
    assert jobs.result(root(), job.job_id).rows == [[60]]


def test_positions_count_set_lines_and_cost_sql(tw: WarehouseFixture) -> None:
    script = "SET odps.sql.allow.fullscan=true;\n-- a comment\nSELECT nope\nFROM " + T
    assert failure(tw, script)[1].startswith("[3,8] Semantic analysis exception - column nope")
    assert failure(tw, "COST SQL SELECT nope FROM " + T)[1].startswith("[1,17] ")


def test_duckdb_advice_never_reaches_the_user() -> None:
    # DuckDB's division by zero (DIV) names its TRY function and its own setting.
    said = runtime_failure(
        "Invalid Input Error: Division by zero in expression (1 // 0). Use TRY(...) to return "
        "NULL for this expression, or SET error_on_division_by_zero=false to return NULL for "
        "all divisions by zero."
    )
    assert said == "division by zero"


def test_spark_advice_never_reaches_the_user() -> None:
    # Spark's ANSI division by zero names its setting, whose dots ended the hint too early.
    said = runtime_failure(
        "[DIVIDE_BY_ZERO] Division by zero. Use `try_divide` to tolerate divisor being 0 and "
        'return NULL instead. If necessary set "spark.sql.ansi.enabled" to "false" to bypass '
        "this error. SQLSTATE: 22012"
    )
    assert said == "Division by zero."


# A value that does not convert, as each engine says it (copied from DuckDB 1.x and Spark 4), and
# what the user reads instead: the value and MaxCompute's name of the type, never the engine's
# format strings ("expected format is (YYYY-MM-DD HH:MM[:SS[.US]]…)") or type names (INT32).
NOT_CONVERTED: list[tuple[str, str]] = [
    (
        'Conversion Error: invalid timestamp field format: "-", expected format is (YYYY-MM-DD '
        "HH:MM[:SS[.US]][±HH[:MM[:SS]]| ZONE])\n\nLINE 1: select cast('-' as timestamp)",
        "the value '-' cannot be converted to DATETIME (expected yyyy-mm-dd hh:mi:ss)",
    ),
    (
        'Conversion Error: invalid date field format: "x", expected format is (YYYY-MM-DD)',
        "the value 'x' cannot be converted to DATE (expected yyyy-mm-dd)",
    ),
    (
        'Conversion Error: date field value out of range: "2020-13-01"',
        "the value '2020-13-01' cannot be converted to DATE (expected yyyy-mm-dd)",
    ),
    (
        "Conversion Error: Could not convert string 'x' to INT32",
        "the value 'x' cannot be converted to INT",
    ),
    (
        'Conversion Error: Could not convert string "1.5x" to DECIMAL(10,2)',
        "the value '1.5x' cannot be converted to DECIMAL(10,2)",
    ),
    (
        "Conversion Error: Type VARCHAR with value '1' can't be cast to the destination type "
        "INTEGER[]",
        "the value '1' cannot be converted to ARRAY<INT>",
    ),
    (
        "Conversion Error: Type DOUBLE with value 1e+20 can't be cast because the value is out of "
        "range for the destination type INT64",
        "the value 1e+20 is out of range for BIGINT",
    ),
    (
        "Conversion Error: Malformed JSON at byte 3 of input: unexpected end of data.  Input: "
        '"[1,"',
        "the value '[1,' is not valid JSON (at byte 3: unexpected end of data)",
    ),
    (
        '[CAST_INVALID_INPUT] The value \'-\' of the type "STRING" cannot be cast to "TIMESTAMP" '
        "because it is malformed. Correct the value as per the syntax, or change its target type. "
        "Use `try_cast` to tolerate malformed input and return NULL instead. If necessary set "
        '"spark.sql.ansi.enabled" to "false" to bypass this error. SQLSTATE: 22018',
        "the value '-' cannot be converted to DATETIME (expected yyyy-mm-dd hh:mi:ss)",
    ),
    (
        '[CAST_OVERFLOW] The value 1.0E20D of the type "DOUBLE" cannot be cast to "BIGINT" due to '
        "an overflow. Use `try_cast` to tolerate overflow and return NULL instead. SQLSTATE: 22003",
        "the value 1.0E20D is out of range for BIGINT",
    ),
]


@pytest.mark.parametrize(("engine_said", "says"), NOT_CONVERTED, ids=[n[1] for n in NOT_CONVERTED])
def test_a_value_that_does_not_convert_is_named_with_maxcompute_s_type(
    engine_said: str, says: str
) -> None:
    assert runtime_failure(engine_said) == says


def test_a_value_that_does_not_convert_is_a_cast_whatever_it_says() -> None:
    said = runtime_error("Conversion Error: Could not convert string 'overflow' to INT32")
    assert said.code == "ODPS-0123091", said
    assert said.message == "Illegal type cast - the value 'overflow' cannot be converted to INT"


def test_a_number_out_of_its_type_s_range_fails_in_maxcompute_s_words(tw: WarehouseFixture) -> None:
    code, message = failure(tw, "SELECT CAST(1e20 AS BIGINT)")
    assert code == "ODPS-0121145", message
    # DuckDB names the value and the type; Spark's message names neither.
    assert message in (
        "Data overflow - the value 1e+20 is out of range for BIGINT",
        "Data overflow - a value is out of the range of its type",
    ), message
    assert not ENGINE_TEXT.search(message) and "INT64" not in message, message


# Spark's own words for the same errors, met where DuckDB's binding lets through a query Spark
# refuses: each plan is run on Spark directly, without the binding at submit.
SPARK_REFUSED: list[tuple[str, str]] = [
    (f"SELECT nope FROM {T}", "[1,8] Semantic analysis exception - column nope cannot be"),
    (f"SELECT t.nope FROM {T} t", "[1,10] Semantic analysis exception - column t.nope cannot"),
    (
        f"SELECT a.event_name FROM {T} a JOIN {T} b ON a.event_id = b.event_id\n"
        "WHERE event_name = 'x'",
        "[2,7] Semantic analysis exception - column reference event_name is ambiguous",
    ),
    (
        f"SELECT COUNT(event_id), event_id FROM {T} GROUP BY event_name",
        "[1,25] Semantic analysis exception - column reference event_id should appear in GROUP",
    ),
    (f"SELECT SUM(COUNT(*)) FROM {T}", "[1,12] Semantic analysis exception - an aggregate"),
    (f"SELECT COUNT(*) FROM {T}\nWHERE COUNT(*) > 1", "[2,7] Semantic analysis exception - an"),
    (f"SELECT event_name FROM {T}\nORDER BY 5", "[2,10] Semantic analysis exception - ORDER BY"),
    (
        f"SELECT event_name FROM {T}\nUNION ALL\nSELECT event_name, event_id FROM {T}",
        "[2,1] Semantic analysis exception - the queries of a UNION",
    ),
]


@pytest.fixture(scope="module")
def planned_only(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WarehouseFixture]:
    """A small warehouse whose queries are planned here and run on Spark directly."""
    opened = open_test_warehouse(Path(tmp_path_factory.mktemp("spark-refusals")) / "data")
    opened.append(logged_events(20, days=2))
    yield opened
    opened.close()


@pytest.mark.parametrize(("sql", "says"), SPARK_REFUSED, ids=[s[0] for s in SPARK_REFUSED])
def test_spark_s_own_refusals_point_at_the_token_at_fault(
    spark_engine: SparkEngine, planned_only: WarehouseFixture, sql: str, says: str
) -> None:
    plan = planned_only.warehouse.planner.plan(root(), planned_only.project, sql).plan
    assert plan is not None
    with pytest.raises(EngineError) as refused:
        spark_engine.run(plan, Limits(2, 1.0, 100), JobControl())
    assert refused.value.kind == "binder", refused.value.message
    message = semantic_failure(refused.value.message, plan.tree, plan.sql).located(plan.sql)
    assert message.startswith(says), message
    assert not ENGINE_TEXT.search(message), message
