"""`trailhouse serve --demo` gives every page data: bills with storage over the past days and
today's SQL, a table loaded with the demo's events, the trail `demo-trail` whose finished
delivery history job backfilled them, and start-up hints whose commands work as printed."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from compat_support import Keys, Server, rpc_client, sql_rows, trailhouse

from server_process import free_port
from trailhouse.demo.events import CATALOGUE
from trailhouse.demo.setup import (
    DEMO_ACCOUNT_ID,
    DEMO_DAYS,
    DEMO_EVENTS_PER_DAY,
    DEMO_QUERIES,
    DEMO_TABLE,
    DEMO_TRAIL,
)
from trailhouse.warehouse.model import table_name

EVENTS = DEMO_DAYS * DEMO_EVENTS_PER_DAY


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Keys, str]]:
    """A demo server on a free port and a fresh data directory, its root keys and its log."""
    server = Server(tmp_path_factory.mktemp("demo") / "data", free_port())
    server.start("--demo")
    log = server.data_dir.parent / "server.log"
    try:
        deadline = time.monotonic() + 10
        while "Try, in another terminal" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        text = log.read_text()
        key_id = re.search(r"AccessKeyId +(\S+)", text)
        secret = re.search(r"AccessKeySecret +(\S+)", text)
        assert key_id and secret, text
        yield server, Keys(DEMO_ACCOUNT_ID, key_id[1], secret[1]), text
    finally:
        assert server.stop() == 0


def _day(days_ago: int) -> str:
    return time.strftime("%Y%m%d", time.gmtime(time.time() - days_ago * 86400))


def test_the_bill_has_storage_and_sql_for_each_day(demo: tuple[Server, Keys, str]) -> None:
    server, root, _ = demo
    with rpc_client(server, root) as rpc:
        bills = rpc.call("DescribeBills", {"StartDay": _day(DEMO_DAYS + 1), "EndDay": _day(0)})
    lines = {(b["Day"], b["Item"]): b for b in bills["Bills"]}
    storage_days = sorted(day for day, item in lines if item == "storage")
    # A line for each demo day and today (the first demo day starts DEMO_DAYS days ago; a run
    # just before midnight may find its first event on the next day).
    assert storage_days[-1] == _day(0) and storage_days[0] >= _day(DEMO_DAYS)
    assert len(storage_days) >= DEMO_DAYS
    # Storage grows as each day is loaded (the mean of each day's hourly samples).
    usages = [lines[(day, "storage")]["Usage"] for day in storage_days]
    assert usages == sorted(usages) and usages[0] > 0
    # SQL is metered when a job finishes: the demo's jobs ran at start-up, today, and one is
    # dated at noon of each past demo day (a run just after midnight may see today's on the
    # day before).
    sql_days = sorted(day for day, item in lines if item == "sql")
    assert len(sql_days) >= DEMO_DAYS - 1 and sql_days[-1] >= _day(1)
    assert sql_days[0] >= _day(DEMO_DAYS)
    assert all(lines[(day, "sql")]["Usage"] > 0 for day in sql_days)


def test_the_tables_hold_every_demo_event(demo: tuple[Server, Keys, str]) -> None:
    server, root, _ = demo
    assert sql_rows(server, root, f"SELECT COUNT(*) FROM {DEMO_TABLE}") == [[EVENTS]]
    # The trail also delivers, live, the API calls of these tests (services Actiontrail and
    # MaxCompute): count only the demo's services.
    history = table_name(DEMO_TRAIL)
    services = ", ".join(f"'{name}'" for name in CATALOGUE)
    demo_events = f"SELECT COUNT(*) FROM {history} WHERE service_name IN ({services})"
    assert sql_rows(server, root, demo_events) == [[EVENTS]]
    days = sql_rows(server, root, f"SELECT COUNT(DISTINCT ds) FROM {history}")
    assert days[0][0] >= DEMO_DAYS


def test_the_demo_trail_logs_and_its_history_job_finished(demo: tuple[Server, Keys, str]) -> None:
    server, root, _ = demo
    with rpc_client(server, root) as rpc:
        jobs = rpc.call("ListDeliveryHistoryJobs", {})["DeliveryHistoryJobs"]
        status = rpc.call("GetTrailStatus", {"Name": DEMO_TRAIL})
        sql_jobs = rpc.call("ListSqlJobs", {})
    assert [(j["TrailName"], j["JobStatus"]) for j in jobs] == [(DEMO_TRAIL, 2)]  # 2: complete
    assert jobs[0]["EndTime"]
    assert status["IsLogging"] is True
    ran = [j for j in sql_jobs["Jobs"] if j["Status"] == "Terminated"]
    assert len(ran) >= len(DEMO_QUERIES)


def _hints(log: str) -> list[str]:
    """The commands under "Try, ..." as printed, a line ending in a backslash continued."""
    block = log.split("Try, in another terminal (in this directory):\n", 1)[1].splitlines()
    commands, current = [], ""
    for line in block:
        if not line.startswith("  "):
            break
        current += line[2:]
        if line.endswith("\\"):
            current += "\n"
            continue
        commands.append(current)
        current = ""
    return commands


def test_the_printed_hints_work_as_printed(demo: tuple[Server, Keys, str]) -> None:
    _, _, log = demo
    hints = _hints(log)
    assert len(hints) >= 5, log
    environ = {k: v for k, v in os.environ.items() if not k.startswith("ALIBABA_CLOUD_")}
    for command in hints:
        if command.startswith("export "):
            name, value = command.removeprefix("export ").split("=", 1)
            environ[name] = value
            continue
        done = subprocess.run(
            ["/bin/sh", "-c", command],
            env=environ,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
        assert done.stdout.strip(), command


def test_the_demo_refuses_a_data_directory_that_holds_accounts(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    trailhouse("account", "create", "--data-dir", str(data_dir))
    done = subprocess.run(
        [sys.executable, "-m", "trailhouse", "serve", "--demo", "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0
    assert "--demo needs an empty data directory" in done.stderr
    assert "choose another --data-dir" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (data_dir / "demo-credentials.json").exists()
