"""SET flags: `SET key=value;` lines before a query, as odpscmd and DataWorks send a script, and
job settings through the service; honoured, accepted as no-ops, or refused naming the flag."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from builders import WarehouseFixture, logged_events, open_test_warehouse, root

from trailhouse.errors import ApiError, SqlParseError, SqlSemanticError
from trailhouse.warehouse.model import JobStatus
from trailhouse.warehouse.sql.flags import SqlFlags, split_script

T = "actiontrail_audit_trail"


@pytest.fixture(scope="module")
def tw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WarehouseFixture]:
    opened = open_test_warehouse(Path(tmp_path_factory.mktemp("flags")) / "data")
    opened.append(logged_events(80, days=3))
    yield opened
    opened.close()


def rows(
    tw: WarehouseFixture, sql: str, settings: dict[str, str] | None = None
) -> list[list[object]]:
    jobs = tw.warehouse.jobs
    job = jobs.wait(root(), jobs.submit(root(), tw.project, sql, settings).job_id, timeout=60)
    assert job.status == JobStatus.TERMINATED, (job.error_code, job.error_message)
    return jobs.result(root(), job.job_id).rows


def refused(tw: WarehouseFixture, sql: str, settings: dict[str, str] | None = None) -> ApiError:
    with pytest.raises(ApiError) as caught:
        tw.warehouse.jobs.submit(root(), tw.project, sql, settings)
    return caught.value


def test_split_script_blanks_the_set_lines_and_keeps_positions() -> None:
    script = (
        "-- daily\nset odps.sql.allow.fullscan = true ;\nSET odps.sql.timezone='UTC';\nSELECT 1;"
    )
    settings, rest = split_script(script)
    assert settings == {"odps.sql.allow.fullscan": "true", "odps.sql.timezone": "'UTC'"}
    assert rest.count("\n") == script.count("\n")
    assert len(rest) == len(script)
    assert rest.splitlines()[3] == "SELECT 1;"
    assert "odps" not in rest


def test_a_set_inside_a_literal_or_after_the_query_is_not_a_flag() -> None:
    assert split_script("SELECT 'SET a=b;'") == ({}, "SELECT 'SET a=b;'")
    assert split_script("SELECT 1; SET a=b;")[0] == {}


@pytest.mark.parametrize(
    "script",
    [
        f"SET odps.sql.type.system.odps2=true;\nSELECT COUNT(*) AS n FROM {T}",
        f"set odps.sql.decimal.odps2=true;\nset odps.sql.hive.compatible=false;\n"
        f"SELECT COUNT(*) AS n FROM {T};",
        f"-- DataWorks node\nSET odps.sql.allow.cartesian=true;\nSET odps.sql.timezone=UTC;\n"
        f"SELECT COUNT(*) AS n FROM {T}",
        # A block comment before and between the SET lines, and Windows line ends.
        f"/* daily report\r\n */\r\nSET odps.sql.timezone=UTC; /* zone */\r\n"
        f"SET odps.sql.allow.cartesian=true;\r\nSELECT COUNT(*) AS n FROM {T}",
    ],
)
def test_a_script_of_set_lines_and_a_query_runs(tw: WarehouseFixture, script: str) -> None:
    assert rows(tw, script) == [[80]]


def test_fullscan_off_refuses_a_table_read_without_a_ds_condition(tw: WarehouseFixture) -> None:
    script = f"SET odps.sql.allow.fullscan=false;\nSELECT COUNT(*) FROM {T}"
    error = refused(tw, script)
    assert isinstance(error, SqlSemanticError) and error.code == "ODPS-0130071"
    assert error.message.startswith("[2,22] Semantic analysis exception - full scan")
    assert "SET odps.sql.allow.fullscan=true" in error.message
    # With a ds condition the same script runs, and reads the partitions it names.
    bounded = f"{script} WHERE ds >= '19700101'"
    assert rows(tw, bounded) == [[80]]


def test_job_settings_apply_and_a_script_overrides_them(tw: WarehouseFixture) -> None:
    off = {"odps.sql.allow.fullscan": "false"}
    assert "full scan" in refused(tw, f"SELECT COUNT(*) FROM {T}", off).message
    assert rows(tw, f"SET odps.sql.allow.fullscan=true;\nSELECT COUNT(*) FROM {T}", off) == [[80]]
    assert rows(tw, "SELECT 1", {"odps.sql.type.system.odps2": "true"}) == [[1]]


@pytest.mark.parametrize(
    ("flag", "says"),
    [
        ("odps.sql.hive.compatible=true", "default (not Hive-compatible) mode"),
        ("odps.sql.type.system.odps2=false", "2.0 type system"),
        ("odps.sql.decimal.odps2=false", "2.0 DECIMAL"),
        ("odps.sql.allow.cartesian=false", "JOIN without a condition"),
        ("odps.sql.timezone=Mars/Olympus", "unknown time zone 'Mars/Olympus'"),
        ("odps.sql.timezone=GMT+9", "offsets such as GMT+8 are not time zone names"),
        ("odps.sql.allow.fullscan=maybe", "true or false"),
        ("odps.sql.udf.getjsonobj.new=false", "always answers as the new mode"),
    ],
)
def test_a_value_not_honoured_is_refused_naming_the_flag(
    tw: WarehouseFixture, flag: str, says: str
) -> None:
    error = refused(tw, f"SET {flag};\nSELECT 1")
    name = flag.split("=")[0]
    assert error.code == "ODPS-0130071"
    assert error.message.startswith(f"[1,5] Semantic analysis exception - setting {name}=")
    assert says in error.message


def test_an_unknown_flag_is_named_with_the_known_ones(tw: WarehouseFixture) -> None:
    error = refused(tw, "SET odps.sql.mapper.splitsize=256;\nSELECT 1")
    assert "unknown setting odps.sql.mapper.splitsize" in error.message
    assert "odps.sql.allow.fullscan" in error.message
    error = refused(tw, "SELECT 1", {"odps.nope": "1"})
    assert "unknown setting odps.nope" in error.message


def test_a_script_without_a_query_and_engine_settings_are_refused(tw: WarehouseFixture) -> None:
    error = refused(tw, "SET odps.sql.allow.fullscan=true;")
    assert isinstance(error, SqlParseError) and "has no query" in error.message
    # Not a flag: DuckDB's own SET is a statement, and only SELECT runs.
    assert "only SELECT" in refused(tw, "SET memory_limit = '100GB'").message


def test_flags_of_settings() -> None:
    assert SqlFlags.of({}) == SqlFlags(allow_fullscan=True)
    assert SqlFlags.of({"ODPS.SQL.ALLOW.FULLSCAN": "'False'"}) == SqlFlags(allow_fullscan=False)


def test_resource_hints_are_accepted_when_they_are_numbers(tw: WarehouseFixture) -> None:
    script = "SET odps.sql.mapper.split.size=256;\nSET odps.stage.reducer.num=10;\nSELECT 1"
    assert rows(tw, script) == [[1]]
    error = refused(tw, "SET odps.stage.reducer.num=many;\nSELECT 1")
    assert "setting odps.stage.reducer.num=many is not valid: use a whole number" in error.message


def test_get_json_object_new_mode_as_its_page_sets_it(tw: WarehouseFixture) -> None:
    # GET_JSON_OBJECT's page sets the flag before a `['']` path: it was an unknown setting.
    script = (
        "SET odps.sql.udf.getjsonobj.new=true;\n"
        "SELECT GET_JSON_OBJECT('{\"China.hangzhou\":{\"a\":1}}', '$[\\'China.hangzhou\\'].a')"
    )
    assert rows(tw, script) == [["1"]]
