"""SQL writes into a project of one's own (warehouse/write_jobs.py, job_writes.py): CREATE TABLE,
CTAS, INSERT INTO/OVERWRITE and DROP TABLE run as jobs, their files committed once under the
job's id; the new table is read by SQL (joined with the audit table too); refusals change
nothing."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from builders import (
    ACCOUNT,
    OTHER_ACCOUNT,
    REGION,
    WarehouseFixture,
    logged_events,
    open_test_warehouse,
    ram_user,
    root,
)

from trailhouse.errors import NoPermission, SqlSemanticError, TableNotFound
from trailhouse.iam.principals import Caller
from trailhouse.store.documents import encode
from trailhouse.store.ports import DocumentWrite
from trailhouse.warehouse.job_writes import JobWrite
from trailhouse.warehouse.model import JOB_KIND, JobStatus, Project, Role, SqlJob

TABLE = "actiontrail_audit_trail"
OWN = "analyst_results"


@pytest.fixture
def tw(tmp_path: Path) -> Iterator[WarehouseFixture]:
    opened = open_test_warehouse(tmp_path / "data")
    opened.append(logged_events(400, days=2))
    opened.warehouse.catalog.ensure_project(ACCOUNT, REGION, OWN)
    yield opened
    opened.close()


def own(tw: WarehouseFixture) -> Project:
    return tw.warehouse.catalog.get_project(REGION, OWN)


def run(tw: WarehouseFixture, sql: str, caller: Caller | None = None) -> SqlJob:
    jobs = tw.warehouse.jobs
    who = caller or root()
    job = jobs.submit(who, own(tw), sql)
    return jobs.wait(who, job.job_id, timeout=60)


def ok(tw: WarehouseFixture, sql: str) -> SqlJob:
    done = run(tw, sql)
    assert done.status == JobStatus.TERMINATED, done.error_message
    return done


def rows(tw: WarehouseFixture, sql: str) -> list[list[object]]:
    done = ok(tw, sql)
    return tw.warehouse.jobs.result(root(), done.job_id).rows


def audit(tw: WarehouseFixture) -> str:
    return f"{tw.project.name}.{TABLE}"


def test_ctas_saves_a_result_table_that_sql_reads_and_joins(tw: WarehouseFixture) -> None:
    job = ok(
        tw,
        f"CREATE TABLE by_name AS SELECT event_name, COUNT(*) AS n, MAX(ds) AS last_day "
        f"FROM {audit(tw)} GROUP BY event_name",
    )
    assert job.kind == "write"
    catalog = tw.warehouse.catalog
    table = catalog.get_table(own(tw), "by_name")
    shape = catalog.shape(table)
    assert [(c.name, c.odps_type) for c in shape.columns] == [
        ("event_name", "STRING"),
        ("n", "BIGINT"),
        ("last_day", "STRING"),
    ]
    assert shape.partition_keys == ()
    expected = rows(tw, f"SELECT event_name, COUNT(*) FROM {audit(tw)} GROUP BY event_name")
    saved = rows(tw, "SELECT event_name, n FROM by_name")
    assert sorted(map(tuple, saved)) == sorted(map(tuple, expected))
    joined = rows(
        tw,
        f"SELECT COUNT(*) FROM {audit(tw)} a JOIN by_name b ON a.event_name = b.event_name",
    )
    assert joined == [[400]]
    assert catalog.list_partitions(table)[0].rows == len(expected)


def test_create_insert_overwrite_and_partitions(tw: WarehouseFixture) -> None:
    ok(
        tw,
        "CREATE TABLE daily (name STRING, n BIGINT, share DOUBLE, ok BOOLEAN, at DATETIME, "
        "amount DECIMAL(10,2)) PARTITIONED BY (day STRING) LIFECYCLE 7",
    )
    select = (
        f"SELECT event_name, COUNT(*), 0.5, true, CAST('2026-12-05 10:00:00' AS DATETIME), "
        f"'12.34' FROM {audit(tw)} GROUP BY event_name"
    )
    ok(tw, f"INSERT INTO TABLE daily PARTITION (day='d1') {select}")
    ok(tw, f"INSERT INTO TABLE daily PARTITION (day='d1') {select}")
    ok(tw, f"INSERT INTO daily PARTITION (day='d2') {select}")
    names = len(rows(tw, f"SELECT DISTINCT event_name FROM {audit(tw)}"))
    counted = rows(tw, "SELECT day, COUNT(*), SUM(n) FROM daily GROUP BY day ORDER BY day")
    assert counted == [["d1", 2 * names, 800], ["d2", names, 400]]
    ok(tw, f"INSERT OVERWRITE TABLE daily PARTITION (day='d1') {select}")
    counted = rows(tw, "SELECT day, COUNT(*) FROM daily GROUP BY day ORDER BY day")
    assert counted == [["d1", names], ["d2", names]]
    typed = rows(tw, "SELECT share, ok, at, amount FROM daily LIMIT 1")
    assert typed == [[0.5, True, "2026-12-05 10:00:00", "12.34"]]
    table = tw.warehouse.catalog.get_table(own(tw), "daily")
    partitions = {p.ds: p.files for p in tw.warehouse.catalog.list_partitions(table)}
    assert partitions == {"day=d1": 1, "day=d2": 1}


def test_drop_table_removes_it_and_its_files(tw: WarehouseFixture) -> None:
    ok(tw, f"CREATE TABLE gone AS SELECT event_id FROM {audit(tw)}")
    folder = tw.settings.warehouse_path / REGION / OWN / "gone"
    assert list(folder.rglob("*.parquet"))
    ok(tw, "DROP TABLE gone")
    with pytest.raises(TableNotFound):
        tw.warehouse.catalog.get_table(own(tw), "gone")
    assert not folder.exists()
    ok(tw, "DROP TABLE IF EXISTS gone")
    with pytest.raises(TableNotFound, match="DROP TABLE IF EXISTS"):
        tw.warehouse.jobs.submit(root(), own(tw), "DROP TABLE gone")


def test_a_retried_commit_of_one_job_lists_its_files_once(tw: WarehouseFixture) -> None:
    ok(tw, "CREATE TABLE once (a BIGINT)")
    job = ok(tw, "INSERT INTO once SELECT 1")
    table = tw.warehouse.catalog.get_table(own(tw), "once")
    staged = tw.settings.warehouse_path / "staged-again.parquet"
    staged.write_bytes(b"not read: the id committed before")
    again = tw.warehouse.jobs._job_writer.commit(JobWrite(job.job_id, table, "", (staged,)))
    assert again.already_committed
    assert rows(tw, "SELECT COUNT(*) FROM once") == [[1]]


def test_a_write_job_a_crash_left_running_ends_as_its_commit_did(tw: WarehouseFixture) -> None:
    """Recovery marks Terminated a write job whose commit went through before the kill (a
    client told Failed would run it again and double its rows), and Failed one whose did not."""
    ok(tw, "CREATE TABLE crashed (a BIGINT)")
    done = ok(tw, "INSERT INTO crashed SELECT 1")
    for job_id in (done.job_id, "never-committed"):
        stuck = replace(done, job_id=job_id, status=JobStatus.RUNNING, runner="a-killed-process")
        found = tw.metadata.get_document(JOB_KIND, ACCOUNT, job_id)
        version = found.version if found else 0
        tw.metadata.commit([DocumentWrite(JOB_KIND, ACCOUNT, job_id, encode(stuck), version)])
    assert tw.warehouse.jobs.recover() == 2
    recovered = tw.warehouse.jobs.get(root(), done.job_id)
    assert recovered.status == JobStatus.TERMINATED
    assert tw.warehouse.jobs.result(root(), done.job_id).rows == []
    assert tw.warehouse.jobs.get(root(), "never-committed").status == JobStatus.FAILED
    assert rows(tw, "SELECT COUNT(*) FROM crashed") == [[1]]


@pytest.mark.parametrize(
    ("sql", "code", "says"),
    [
        ("CREATE TABLE t (a ARRAY<STRING>)", SqlSemanticError.code, "not supported"),
        ("CREATE TABLE t (a STRING, A BIGINT)", SqlSemanticError.code, "named twice"),
        ("CREATE TABLE t (a STRING) PARTITIONED BY (p BIGINT)", SqlSemanticError.code, "STRING"),
        ("INSERT INTO nothing SELECT 1", TableNotFound.code, "CREATE TABLE it first"),
        ("ALTER TABLE x ADD COLUMNS (b STRING)", SqlSemanticError.code, "ALTER is not supported"),
        ("INSERT INTO kept (a) SELECT 1", SqlSemanticError.code, "column list"),
        ("INSERT INTO kept PARTITION (p) SELECT 1, 'x'", SqlSemanticError.code, "dynamic"),
        ("INSERT INTO kept SELECT 1", SqlSemanticError.code, "name p='…'"),
        ("INSERT INTO kept PARTITION (p='a/b') SELECT 1", SqlSemanticError.code, "letters"),
        ("CREATE TABLE kept (a BIGINT)", SqlSemanticError.code, "already exists"),
        ("CREATE TABLE t PARTITIONED BY (p STRING) AS SELECT 1 a", SqlSemanticError.code, "INSERT"),
    ],
)
def test_bad_writes_are_refused_before_any_job(
    tw: WarehouseFixture, sql: str, code: str, says: str
) -> None:
    ok(tw, "CREATE TABLE kept (a BIGINT) PARTITIONED BY (p STRING)")
    before = sorted(t.name for t in tw.warehouse.catalog.list_tables(own(tw)))
    with pytest.raises((SqlSemanticError, TableNotFound)) as refused:
        tw.warehouse.jobs.submit(root(), own(tw), sql)
    assert refused.value.code == code and says in refused.value.message
    assert sorted(t.name for t in tw.warehouse.catalog.list_tables(own(tw))) == before


@pytest.mark.parametrize(
    ("sql", "says"),
    [
        ("INSERT INTO kept SELECT 1, 2", "the query gives 2 columns and the table has 1"),
        ("INSERT INTO kept SELECT 'x'", "'x' cannot be converted to BIGINT"),
        ("CREATE TABLE t2 AS SELECT [1, 2] AS a", "ARRAY<INT> is not supported"),
        ("CREATE TABLE t2 AS SELECT 1 AS a, 2 AS a", "more than once"),
    ],
)
def test_bad_writes_found_while_running_fail_the_job_and_write_nothing(
    tw: WarehouseFixture, sql: str, says: str
) -> None:
    ok(tw, "CREATE TABLE kept (a BIGINT)")
    done = run(tw, sql)
    assert done.status == JobStatus.FAILED and says in done.error_message, done.error_message
    if "converted" in says:  # a value that fails while running: MaxCompute's runtime code
        assert done.error_code == "ODPS-0123091", done.error_code
    assert rows(tw, "SELECT COUNT(*) FROM kept") == [[0]]
    assert "t2" not in {t.name for t in tw.warehouse.catalog.list_tables(own(tw))}
    staging = tw.settings.warehouse_path / REGION / OWN
    assert not list(staging.rglob("*.staged"))


def test_only_the_owner_accounts_writers_may_write(tw: WarehouseFixture) -> None:
    catalog = tw.warehouse.catalog
    catalog.set_member(root(), REGION, OWN, OTHER_ACCOUNT, Role.ADMIN)
    catalog.set_member(root(), REGION, OWN, f"{ACCOUNT}/reader", Role.READER)
    catalog.set_member(root(), REGION, OWN, f"{ACCOUNT}/writer", Role.ADMIN)
    sql = "CREATE TABLE mine (a BIGINT)"
    with pytest.raises(NoPermission, match="only that account's own principals"):
        tw.warehouse.jobs.submit(root(OTHER_ACCOUNT), own(tw), sql)
    with pytest.raises(NoPermission, match=r"^ODPS-0130013:Authorization exception - RAM user"):
        tw.warehouse.jobs.submit(ram_user("reader"), own(tw), sql)
    done = run(tw, sql, ram_user("writer"))
    assert done.status == JobStatus.TERMINATED, done.error_message
    with pytest.raises(NoPermission, match="only from ActionTrail delivery"):
        tw.warehouse.jobs.submit(root(), own(tw), "CREATE TABLE actiontrail_x (a BIGINT)")
    with pytest.raises(NoPermission, match="only from ActionTrail delivery"):
        tw.warehouse.jobs.submit(root(), own(tw), f"DROP TABLE {audit(tw)}")
