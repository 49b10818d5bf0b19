"""The trailhouse command's real output for people: counts in the singular or plural, sizes and
money in plain decimals, identifiers whole; `--output json` keeps the exact figures."""

from __future__ import annotations

import json
import re
import time
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest
from compat_support import ACCOUNT_A, Fixture, Keys, cli_environment, run_cli, trailhouse
from factory import make_event

from trailhouse.client import RpcClient
from trailhouse.demo import DemoEvents
from trailhouse.events.model import LoggedEvent
from trailhouse.events.validation import parse_event_time
from trailhouse.iam.roles import RoleService, service_linked_role_arn
from trailhouse.settings import Settings
from trailhouse.store import open_metadata
from trailhouse.warehouse.model import project_name
from trailhouse.warehouse.service import open_warehouse

REGION = "cn-hangzhou"
TABLE = "actiontrail_readable"
# A number in exponent form, or with more than four decimals, is not for people.
UNREADABLE = re.compile(r"\d[eE][-+]?\d|\.\d{5,}")


def _lookup_table(env: dict[str, str], name: str, expected: int) -> tuple[str, str]:
    """`events lookup` of the events named `name`, once the index shows `expected` of them."""
    deadline = time.monotonic() + 20
    while True:
        shown = run_cli("events", "lookup", "--attribute", f"EventName={name}", env=env)
        assert shown.returncode == 0, shown.stderr
        if len(shown.stdout.splitlines()) - 1 >= expected or time.monotonic() > deadline:
            return shown.stdout, shown.stderr
        time.sleep(0.2)


def test_events_lookup_counts_its_events_and_keeps_ids_whole(
    running: Fixture, tmp_path: Path
) -> None:
    env = cli_environment(running.server, tmp_path, running.root)
    name = f"Readable{uuid.uuid4().hex[:12]}"
    events = [make_event(ACCOUNT_A, 60 + i, eventName=name) for i in range(2)]
    with RpcClient(
        running.server.url, running.root.access_key_id, running.root.access_key_secret
    ) as rpc:
        assert rpc.call("PutEvents", body={"Events": events[:1]})["Accepted"] == 1
        stdout, stderr = _lookup_table(env, name, 1)
        assert stderr == "1 event\n"
        (row,) = stdout.splitlines()[1:]
        assert events[0]["eventId"] in row.split()
        assert rpc.call("PutEvents", body={"Events": events[1:]})["Accepted"] == 1
    stdout, stderr = _lookup_table(env, name, 2)
    assert stderr == "2 events\n"
    rows = [line.split() for line in stdout.splitlines()[1:]]
    assert sorted(row[-1] for row in rows) == sorted(e["eventId"] for e in events)


@pytest.fixture(scope="module")
def fresh(running: Fixture) -> tuple[Keys, list[dict[str, Any]]]:
    """A new account whose delivery project holds one table: 30 events over two days."""
    document = trailhouse("account", "create", "--data-dir", str(running.server.data_dir))
    keys = Keys(document["AccountId"], document["AccessKeyId"], document["AccessKeySecret"])
    day = 86400
    start = (int(time.time()) // day - 2) * day + 3600  # two whole days before today
    events = sorted(
        DemoEvents(keys.account_id, seed=2207).between(start, start + 2 * day - 7200, 30),
        key=lambda e: e["eventTime"],
    )
    logged = [
        LoggedEvent(
            i + 1,
            keys.account_id,
            e["eventId"],
            parse_event_time(e["eventTime"]),
            0,
            orjson.dumps(e),
        )
        for i, e in enumerate(events)
    ]
    settings = Settings.load({"data_dir": running.server.data_dir}, environ={})
    metadata = open_metadata(settings)
    roles = RoleService(metadata)
    linked = roles.service_linked_role_write(keys.account_id)
    if linked is not None:
        metadata.commit([linked])
    warehouse = open_warehouse(settings, metadata, roles, (REGION,))
    try:
        project = warehouse.catalog.ensure_project(
            keys.account_id, REGION, project_name(keys.account_id)
        )
        table = warehouse.catalog.ensure_table(project, TABLE)
        warehouse.writer.append(
            project,
            table,
            logged,
            writer_role_arn=service_linked_role_arn(keys.account_id),
            source_account=keys.account_id,
            source="compat",
        )
    finally:
        warehouse.close()
        metadata.close()
    return keys, events


def test_warehouse_ls_sql_and_jobs_read_plainly(
    running: Fixture, fresh: tuple[Keys, list[dict[str, Any]]], tmp_path: Path
) -> None:
    keys, events = fresh
    project = project_name(keys.account_id)
    env = cli_environment(running.server, tmp_path, keys)

    partitions = run_cli("warehouse", "ls", project, TABLE, env=env)
    assert partitions.returncode == 0, partitions.stderr
    exact = json.loads(run_cli("warehouse", "ls", project, TABLE, "-o", "json", env=env).stdout)
    stored = sum(p["Bytes"] for p in exact)
    assert len(exact) == 2 and sum(p["Rows"] for p in exact) == len(events)
    kb = f"{stored / 1024:.1f} KB"
    assert partitions.stderr == f"2 partitions · 30 rows · {kb}\n"
    assert [line.split()[3:5] for line in partitions.stdout.splitlines()[1:]] == [
        f"{p['Bytes'] / 1024:.1f} KB".split() for p in exact
    ]

    tables = run_cli("warehouse", "ls", project, env=env)
    assert tables.returncode == 0, tables.stderr
    assert tables.stderr == f"1 table · 30 rows · {kb}\n"

    counted = run_cli("sql", "-p", project, f"SELECT COUNT(event) n FROM {TABLE}", env=env)
    assert counted.returncode == 0, counted.stderr
    assert counted.stdout.split() == ["n", "30"]
    summary = re.fullmatch(
        r"1 row · input (\d+ B|\d+\.\d KB) · complexity 1 · cost \$(<0\.0001|\d\.\d{2,4}) · "
        r"(\d+ ms|\d+\.\d\d s) · job (\S+)\n",
        counted.stderr,
    )
    assert summary is not None, counted.stderr

    jobs = run_cli("warehouse", "jobs", "--project", project, env=env)
    assert jobs.returncode == 0, jobs.stderr
    (row,) = [line for line in jobs.stdout.splitlines() if summary.group(4) in line]
    # The job id is random hex and digits: `8e4` in it is no exponent, so only the figures count.
    figures = row.replace(summary.group(4), "")
    assert f" {summary.group(2)} " in row and not UNREADABLE.search(figures)
    (job,) = [
        j
        for j in json.loads(
            run_cli("warehouse", "jobs", "--project", project, "-o", "json", env=env).stdout
        )
        if j["JobId"] == summary.group(4)
    ]
    assert job["InputBytes"] > 0 and job["CostUSD"] > 0 and job["Rows"] == 1  # exact, in JSON


def test_the_bill_rounds_for_reading_and_keeps_exact_figures_in_json(
    running: Fixture, fresh: tuple[Keys, list[dict[str, Any]]], tmp_path: Path
) -> None:
    keys, _ = fresh
    project = project_name(keys.account_id)
    env = cli_environment(running.server, tmp_path, keys)
    for _ in range(2):
        ran = run_cli("sql", "-p", project, f"SELECT event FROM {TABLE} LIMIT 1", env=env)
        assert ran.returncode == 0, ran.stderr
    quota = run_cli("quota", "create", "--name", "readable", "--cu", "1", env=env)
    assert quota.returncode == 0, quota.stderr
    assert quota.stdout.splitlines()[1].split()[3:] == ["1", "1", "4", "1"]  # MemoryGB 4, not 4.0
    today = time.strftime("%Y%m%d", time.gmtime())
    host = cli_environment(running.server, tmp_path)
    bill = ["bill", "--data-dir", str(running.server.data_dir), "--account", keys.account_id]
    bill += ["--from", today, "--to", today]
    exact = json.loads(run_cli(*bill, "-o", "json", env=host).stdout)
    (sql,) = [b for b in exact["Bills"] if b["Item"] == "sql"]
    assert 0 < sql["AmountUSD"] < 0.0001 and sql["Unit"] == "GB×complexity"

    shown = run_cli(*bill, env=host)
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0].split() == [
        "Day",
        "Account",
        "Region",
        "Project",
        "Item",
        "Usage",
        "AmountUSD",
    ]
    (row,) = [line.split() for line in lines[1:-1] if " sql " in line]
    kb = f"{sql['Usage'] * 1024**2:.1f}"
    assert row == [today, keys.account_id, REGION, project, "sql", kb, "KB×complexity", "<0.0001"]
    (subscription,) = [b for b in exact["Bills"] if b["Item"] == "subscription"]
    (row,) = [line.split() for line in lines[1:-1] if " subscription " in line]
    assert row[4:7] == ["subscription", "1", "CU-day"]
    assert row[7] == f"{subscription['AmountUSD']:,.2f}"  # over a cent: two decimals
    assert lines[-1] == f"2 charges, total USD {exact['TotalUSD']:,.2f}"
    assert len(exact["Bills"]) == 2
    assert not UNREADABLE.search(shown.stdout)
