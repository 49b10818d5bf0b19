"""The warehouse over HTTP and the CLI against a real server: SQL jobs, members, errors, bills.

Events are written into the table by this test process through the exactly-once writer, as a
separate delivery worker would, while the server answers SQL over the same data directory.
"""

from __future__ import annotations

import csv
import io
import json
import re
import time
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest
from compat_support import (
    ACCOUNT_A,
    ACCOUNT_B,
    Fixture,
    Keys,
    Server,
    cli_environment,
    run_cli,
    run_sql_job,
)

from trailhouse.client import RpcClient
from trailhouse.demo import DemoEvents
from trailhouse.errors import RequestFailed
from trailhouse.events.model import LoggedEvent
from trailhouse.events.validation import parse_event_time
from trailhouse.iam.roles import RoleService, service_linked_role_arn
from trailhouse.settings import Settings
from trailhouse.store import open_metadata
from trailhouse.warehouse.model import project_name
from trailhouse.warehouse.schema import current
from trailhouse.warehouse.service import open_warehouse

PROJECT = project_name(ACCOUNT_A)
TABLE = "actiontrail_compat_trail"
REGION = "cn-hangzhou"


@pytest.fixture(scope="module")
def delivered(running: Fixture) -> list[dict[str, Any]]:
    """Two thousand events delivered into PROJECT.TABLE of the running server."""
    now = int(time.time())
    events = sorted(
        DemoEvents(ACCOUNT_A, seed=3).between(now - 4 * 86400, now, 2000),
        key=lambda e: e["eventTime"],
    )
    logged = [
        LoggedEvent(
            i + 1, ACCOUNT_A, e["eventId"], parse_event_time(e["eventTime"]), 0, orjson.dumps(e)
        )
        for i, e in enumerate(events)
    ]
    settings = Settings.load({"data_dir": running.server.data_dir}, environ={})
    metadata = open_metadata(settings)
    roles = RoleService(metadata)
    linked = roles.service_linked_role_write(ACCOUNT_A)
    if linked is not None:
        metadata.commit([linked])
    warehouse = open_warehouse(settings, metadata, roles, (REGION,))
    try:
        project = warehouse.catalog.ensure_project(ACCOUNT_A, REGION, PROJECT)
        table = warehouse.catalog.ensure_table(project, TABLE)
        for start in range(0, len(logged), 500):
            warehouse.writer.append(
                project,
                table,
                logged[start : start + 500],
                writer_role_arn=service_linked_role_arn(ACCOUNT_A),
                source_account=ACCOUNT_A,
                source="compat",
            )
    finally:
        warehouse.close()
        metadata.close()
    return events


def client(server: Server, keys: Keys) -> RpcClient:
    return RpcClient(server.url, keys.access_key_id, keys.access_key_secret)


def run_sql(server: Server, keys: Keys, sql: str, project: str = PROJECT) -> dict[str, Any]:
    """Submit, wait, and return the finished job with its result's columns and rows."""
    job, columns, rows = run_sql_job(server, keys, project, sql)
    if job["Status"] == "Terminated":
        job["Result"] = {"Columns": columns, "Rows": rows}
    return job


def refused(server: Server, keys: Keys, action: str, params: dict[str, str]) -> RequestFailed:
    with client(server, keys) as rpc, pytest.raises(RequestFailed) as caught:
        rpc.call(action, params)
    return caught.value


def test_a_sql_job_answers_like_python_counts(
    running: Fixture, delivered: list[dict[str, Any]]
) -> None:
    job = run_sql(
        running.server,
        running.root,
        f"SELECT GET_JSON_OBJECT(event, '$.eventName') name, COUNT(*) n FROM {TABLE} "
        "GROUP BY GET_JSON_OBJECT(event, '$.eventName')",
    )
    assert job["Status"] == "Terminated", job["ErrorMessage"]
    expected = Counter(e["eventName"] for e in delivered)
    assert dict(job["Result"]["Rows"]) == expected
    assert job["Result"]["Columns"] == ["name", "n"]
    assert job["InputBytes"] > 0 and job["CostUSD"] > 0 and job["Complexity"] == 1.0
    assert job["Engine"] == "duckdb" and job["Quota"] == "pay-as-you-go"


def test_each_sql_job_is_an_audit_event_of_its_caller(
    running: Fixture, delivered: list[dict[str, Any]]
) -> None:
    job = run_sql(running.server, running.root, f"SELECT COUNT(*) FROM {TABLE}")
    with client(running.server, running.root) as rpc:
        deadline = time.monotonic() + 20
        while True:
            found = rpc.call(
                "LookupEvents",
                {
                    "LookupAttribute.1.Key": "EventName",
                    "LookupAttribute.1.Value": "SubmitSqlJob",
                    "MaxResults": "50",
                },
            )["Events"]
            mine = [e for e in found if e.get("resourceName", "").find(job["JobId"]) >= 0]
            if mine or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    assert mine, "the SubmitSqlJob call was not recorded"
    assert mine[0]["serviceName"] == "MaxCompute"
    assert mine[0]["userIdentity"]["accountId"] == ACCOUNT_A


def test_members_decide_who_may_query(
    running: Fixture, delivered: list[dict[str, Any]], tmp_path: Path
) -> None:
    server = running.server
    sql = f"SELECT COUNT(*) FROM {TABLE}"
    for keys, who in ((running.alice, f"{ACCOUNT_A}/alice"), (running.other, ACCOUNT_B)):
        error = refused(server, keys, "SubmitSqlJob", {"Project": PROJECT, "Sql": sql})
        assert error.code == "NoPermission" and error.status == 403
        assert f"no Select privilege on project {PROJECT}" in error.message
        assert f"add {who} as a member with role Reader" in error.message
    env = cli_environment(server, tmp_path, running.root)
    for principal in (f"{ACCOUNT_A}/alice", ACCOUNT_B):
        granted = run_cli("warehouse", "grant", PROJECT, principal, "--role", "Reader", env=env)
        assert granted.returncode == 0, granted.stderr
        assert principal in granted.stdout
    for keys in (running.alice, running.other):
        assert run_sql(server, keys, sql)["Result"]["Rows"] == [[len(delivered)]]
    error = refused(
        server, running.other, "SetProjectMember", {"Project": PROJECT, "Principal": "x"}
    )
    assert error.code == "NoPermission" and "no Manage privilege" in error.message
    revoked = run_cli("warehouse", "revoke", PROJECT, ACCOUNT_B, env=env)
    assert revoked.returncode == 0, revoked.stderr
    assert (
        refused(server, running.other, "SubmitSqlJob", {"Project": PROJECT, "Sql": sql}).status
        == 403
    )


@pytest.mark.parametrize(
    ("sql", "code", "status", "says"),
    [
        ("SELECT FROM WHERE", "ODPS-0130161", 400, "Parse exception"),
        (f"SELECT nope FROM {TABLE}", "ODPS-0130071", 400, "nope"),
        ("SELECT * FROM actiontrail_missing", "ODPS-0130131", 404, "actiontrail_missing"),
        (f"SELECT MD99(event) FROM {TABLE}", "ODPS-0130071", 400, "MD99"),
        (
            f"INSERT INTO {TABLE} SELECT * FROM {TABLE}",
            "NoPermission",
            403,
            "only from ActionTrail",
        ),
    ],
)
def test_bad_sql_gets_maxcompute_codes_and_changes_nothing(
    running: Fixture, delivered: list[dict[str, Any]], sql: str, code: str, status: int, says: str
) -> None:
    with client(running.server, running.root) as rpc:
        before = rpc.call("ListTables", {"Project": PROJECT})["Tables"]
        jobs_before = len(rpc.call("ListSqlJobs", {"MaxResults": "1000"})["Jobs"])
    error = refused(running.server, running.root, "SubmitSqlJob", {"Project": PROJECT, "Sql": sql})
    assert (error.code, error.status) == (code, status)
    assert says in error.message
    with client(running.server, running.root) as rpc:
        assert rpc.call("ListTables", {"Project": PROJECT})["Tables"] == before
        assert len(rpc.call("ListSqlJobs", {"MaxResults": "1000"})["Jobs"]) == jobs_before


def test_a_running_job_can_be_cancelled(running: Fixture, delivered: list[dict[str, Any]]) -> None:
    sql = (
        "SELECT SUM(LENGTH(a.event_id) + LENGTH(b.event_id) + LENGTH(c.event_id)) "
        f"FROM {TABLE} a CROSS JOIN {TABLE} b CROSS JOIN {TABLE} c"
    )
    with client(running.server, running.root) as rpc:
        job_id = rpc.call("SubmitSqlJob", {"Project": PROJECT, "Sql": sql})["JobId"]
        time.sleep(0.3)
        job = rpc.call("CancelSqlJob", {"JobId": job_id})["Job"]
    assert job["Status"] == "Cancelled" and job["CostUSD"] == 0


def test_cli_sql_prints_table_json_and_csv(
    running: Fixture, delivered: list[dict[str, Any]], tmp_path: Path
) -> None:
    env = cli_environment(running.server, tmp_path, running.root)
    sql = f"SELECT event_rw, COUNT(*) n FROM {TABLE} GROUP BY event_rw ORDER BY event_rw"
    expected = sorted(Counter(e["eventRW"] for e in delivered).items())
    as_json = run_cli("sql", "-p", PROJECT, "--format", "json", sql, env=env)
    assert as_json.returncode == 0, as_json.stderr
    assert json.loads(as_json.stdout) == {
        "columns": ["event_rw", "n"],
        "rows": [[rw, n] for rw, n in expected],
    }
    as_csv = run_cli("sql", "-p", PROJECT, "--format", "csv", sql, env=env)
    assert list(csv.reader(io.StringIO(as_csv.stdout))) == [
        ["event_rw", "n"],
        *[[rw, str(n)] for rw, n in expected],
    ]
    as_table = run_cli("sql", "-p", PROJECT, sql, env=env)
    assert as_table.stdout.splitlines()[0].split() == ["event_rw", "n"]
    assert "rows · input" in as_table.stderr and "complexity 1" in as_table.stderr
    failed = run_cli("sql", "-p", PROJECT, "SELEC 1", env=env)
    assert failed.returncode == 1 and "ODPS-0130161" in failed.stderr


def test_cli_sql_csv_keeps_formula_cells_as_text_as_the_console_does(
    running: Fixture, delivered: list[dict[str, Any]], tmp_path: Path
) -> None:
    env = cli_environment(running.server, tmp_path, running.root)
    sql = "SELECT '=cmd|\\' /C calc\\'!A0' AS a, '@SUM(1,1)' AS b, -5 AS c, '-2+3' AS d"
    as_csv = run_cli("sql", "-p", PROJECT, "--format", "csv", sql, env=env)
    assert as_csv.returncode == 0, as_csv.stderr
    assert as_csv.stdout == "a,b,c,d\n'=cmd|' /C calc'!A0,\"'@SUM(1,1)\",-5,'-2+3\n"


def test_cli_lists_projects_tables_partitions_and_prices(
    running: Fixture, delivered: list[dict[str, Any]], tmp_path: Path
) -> None:
    env = cli_environment(running.server, tmp_path, running.root)
    projects = run_cli("warehouse", "ls", "-o", "json", env=env)
    assert PROJECT in [p["Name"] for p in json.loads(projects.stdout)]
    tables = json.loads(run_cli("warehouse", "ls", PROJECT, "-o", "json", env=env).stdout)
    (table,) = [t for t in tables if t["Name"] == TABLE]
    assert table["Rows"] == len(delivered)
    assert table["SchemaVersion"] == current().version
    assert [(c["Name"], c["Type"]) for c in table["Columns"]] == [
        (c.name, "STRING") for c in current().columns
    ]
    partitions = json.loads(
        run_cli("warehouse", "ls", PROJECT, TABLE, "-o", "json", env=env).stdout
    )
    days = Counter(e["eventTime"][:10].replace("-", "") for e in delivered)
    assert {p["Ds"]: p["Rows"] for p in partitions} == days
    cost = run_cli(
        "sql", "-p", PROJECT, "--format", "json", f"COST SQL SELECT event FROM {TABLE}", env=env
    )
    rows = dict(json.loads(cost.stdout)["rows"])
    assert rows["Input"] > 0 and rows["Complexity"] == 1.0


def test_bill_lists_the_days_sql_charges(
    running: Fixture, delivered: list[dict[str, Any]], tmp_path: Path
) -> None:
    run_sql(running.server, running.root, f"SELECT event FROM {TABLE} LIMIT 1")
    env = cli_environment(running.server, tmp_path)
    today = time.strftime("%Y%m%d", time.gmtime())
    shown = run_cli(
        "bill",
        "--data-dir",
        str(running.server.data_dir),
        "--account",
        ACCOUNT_A,
        "--from",
        today,
        "--to",
        today,
        "-o",
        "json",
        env=env,
    )
    assert shown.returncode == 0, shown.stderr
    bills = json.loads(shown.stdout)["Bills"]
    sql = [b for b in bills if b["Item"] == "sql" and b["Project"] == PROJECT]
    assert sql and sql[0]["AmountUSD"] > 0
    with client(running.server, running.root) as rpc:
        answered = rpc.call("DescribeBills", {"StartDay": today, "EndDay": today})
    assert answered["TotalUSD"] >= sql[0]["AmountUSD"]
    error = refused(running.server, running.alice, "DescribeBills", {})
    assert error.status == 403


def test_cli_sql_draws_progress_on_a_terminal(
    running: Fixture, delivered: list[dict[str, Any]], tmp_path: Path
) -> None:
    import os
    import pty
    import subprocess
    import sys

    env = cli_environment(running.server, tmp_path, running.root)
    slow = (
        "SELECT COUNT(*) FROM (SELECT LENGTH(a.event_id) + LENGTH(b.event_id) x "
        f"FROM {TABLE} a CROSS JOIN {TABLE} b CROSS JOIN (SELECT 1 k UNION ALL SELECT 2) c) q"
    )
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "trailhouse", "sql", "-p", PROJECT, slow],
        stdout=subprocess.PIPE,
        stderr=terminal,
        env=env,
    )
    os.close(terminal)
    drawn = b""
    while True:
        try:
            chunk = os.read(controller, 4096)
        except OSError:
            break
        if not chunk:
            break
        drawn += chunk
    out, _ = process.communicate(timeout=120)
    os.close(controller)
    assert process.returncode == 0
    assert re.search(rb"\r\x1b\[Kjob \w+: (\[[#.]{30}\]|waiting)", drawn), drawn[-300:]
    assert b"\r\x1b[K1 row \xc2\xb7 input" in drawn  # COUNT(*): one row, and it says "row"
    assert out.decode().split()[-1] == str(len(delivered) ** 2 * 2)


def test_set_flags_through_a_script_and_the_settings_parameter(
    running: Fixture, delivered: list[dict[str, Any]]
) -> None:
    count = f"SELECT COUNT(*) AS n FROM {TABLE}"
    script = f"SET odps.sql.type.system.odps2=true;\nSET odps.sql.allow.fullscan=true;\n{count};"
    assert run_sql(running.server, running.root, script)["Result"]["Rows"] == [[len(delivered)]]
    params = {"Project": PROJECT, "Sql": count, "Settings": '{"odps.sql.allow.fullscan": false}'}
    error = refused(running.server, running.root, "SubmitSqlJob", params)
    assert (error.code, error.status) == ("ODPS-0130071", 400)
    assert error.message.startswith("[1,27] Semantic analysis exception - full scan")
    for bad in ("[1]", "{", '{"odps.sql.allow.fullscan": {"x": 1}}'):
        error = refused(running.server, running.root, "SubmitSqlJob", {**params, "Settings": bad})
        assert (error.code, error.status) == ("InvalidParameter", 400)
        assert "Settings must be a JSON object" in error.message


def test_a_documented_function_form_runs_where_it_once_was_a_500(
    running: Fixture, delivered: list[dict[str, Any]]
) -> None:
    sql = "SELECT INSTR('Tech on the net', 'e', 3, 2) AS p, SPLIT_PART('a,b,c,d', ',', 2, 6) AS s"
    assert run_sql(running.server, running.root, sql)["Result"]["Rows"] == [[14, "b,c,d"]]
    error = refused(
        running.server, running.root, "SubmitSqlJob", {"Project": PROJECT, "Sql": "SELECT 'x"}
    )
    assert (error.code, error.status) == ("ODPS-0130161", 400)
    assert (
        error.message == "[1,8] Parse exception - the quoted text that starts here has no closing '"
    )
