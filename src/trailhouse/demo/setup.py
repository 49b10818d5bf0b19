"""What `trailhouse serve --demo` puts in an empty data directory, so every page has data.

An account (root key and RAM user alice) with three days of events; the table
`actiontrail_demo` loaded with them hour by hour, the storage sampled after each hour as the
hourly sampler would have done then (so the bill has a storage line for each day); the trail
`demo-trail` delivering into the account's MaxCompute project, with a delivery history job run
to completion that backfilled the three days; and a few real SQL jobs, metered as any job is
(today's, and one dated at noon of each past day, as the storage samples are dated for the hours
they stand for). Nothing is written into the bills directly: they are computed
from these samples and jobs, as for any account.
"""

from __future__ import annotations

import functools
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

import orjson

from trailhouse.delivery.history import JobStatus as HistoryStatus
from trailhouse.demo.events import DemoEvents, recent_window
from trailhouse.events.model import LoggedEvent
from trailhouse.iam.principals import Caller
from trailhouse.iam.roles import service_linked_role_arn
from trailhouse.runtime import Services
from trailhouse.trails.model import Destinations
from trailhouse.trails.service import TrailSpec
from trailhouse.warehouse.jobs import SqlJobService
from trailhouse.warehouse.model import JobStatus, Project, project_name, table_name

DEMO_ACCOUNT_ID = "1234567890123456"
DEMO_DAYS = 3
DEMO_EVENTS_PER_DAY = 6000
DEMO_CREDENTIALS_FILE = "demo-credentials.json"
DEMO_TABLE = "actiontrail_demo"
DEMO_TRAIL = "demo-trail"
# The SQL jobs the demo runs once, so that the bill and the SQL job list show usage.
DEMO_QUERIES = (
    f"SELECT event_name, COUNT(*) n FROM {DEMO_TABLE} GROUP BY event_name ORDER BY n DESC LIMIT 10",
    f"SELECT ds, event_rw, COUNT(*) n FROM {DEMO_TABLE} GROUP BY ds, event_rw "
    "ORDER BY ds, event_rw",
    "SELECT GET_JSON_OBJECT(event, '$.userIdentity.userName') who, COUNT(*) n "
    f"FROM {table_name(DEMO_TRAIL)} WHERE event_rw = 'Write' GROUP BY "
    "GET_JSON_OBJECT(event, '$.userIdentity.userName') ORDER BY n DESC LIMIT 5",
)
_WAIT_SECONDS = 120.0

Credentials = dict[str, dict[str, str]]


class DemoError(ValueError):
    """The demo could not be set up: the message says why and what to do (the command prints
    it, as it does every ValueError)."""


def prepare_demo(services: Services, progress: TextIO = sys.stderr) -> Credentials:
    """The demo's credentials, setting the demo up first when the data directory is empty."""
    path = services.settings.data_dir / DEMO_CREDENTIALS_FILE
    if path.exists():
        stored: Credentials = orjson.loads(path.read_bytes())
        return stored
    if services.accounts.list_accounts():
        raise DemoError(
            f"--demo needs an empty data directory, and {services.settings.data_dir} already "
            "holds accounts; choose another --data-dir"
        )
    root = services.accounts.create_account(DEMO_ACCOUNT_ID)
    user = services.accounts.create_user(DEMO_ACCOUNT_ID, "alice")
    caller = services.accounts.caller_for(root.access_key_id)

    def say(what: str) -> None:
        print(what, file=progress, flush=True)

    say(f"creating {DEMO_DAYS} days of demo events ...")
    _record_events(services, caller)
    say(f"loading them into the table {DEMO_TABLE}, metering its storage hour by hour ...")
    project = _load_table_hourly(services)
    say(f"creating the trail {DEMO_TRAIL} and running a delivery history job to completion ...")
    _trail_with_history(services)
    _start_sql_engine(services, say)
    say(f"running {len(DEMO_QUERIES)} SQL jobs ...")
    _run_queries(services, caller, project)
    services.warehouse.metering.sample_storage()  # today's storage, both tables
    document = {
        name: {
            "AccountId": keys.account_id,
            "AccessKeyId": keys.access_key_id,
            "AccessKeySecret": keys.access_key_secret,
        }
        for name, keys in (("root", root), ("alice", user))
    }
    _write_private(path, orjson.dumps(document, option=orjson.OPT_INDENT_2))
    return document


def _record_events(services: Services, caller: Caller) -> None:
    start, end = recent_window(DEMO_DAYS)
    batch: list[bytes] = []
    for event in DemoEvents(DEMO_ACCOUNT_ID).between(start, end, DEMO_DAYS * DEMO_EVENTS_PER_DAY):
        batch.append(orjson.dumps(event))
        if len(batch) == 1000:
            services.ingest.put_events(caller, batch)
            batch = []
    if batch:
        services.ingest.put_events(caller, batch)
    services.lookup.wait_searchable(timeout=60)


def _load_table_hourly(services: Services) -> Project:
    """Copy the demo events into `actiontrail_demo` one hour at a time, sampling the project's
    storage after each past hour for that hour, so that each day's storage is billed.

    This is a one-off load, not a trail: no trail name maps to `actiontrail_demo` (a trail's
    name has at least six characters), so a trail created later delivers into its own table.
    """
    services.roles.ensure_service_linked_role(DEMO_ACCOUNT_ID)
    warehouse = services.warehouse
    project = warehouse.catalog.ensure_project(
        DEMO_ACCOUNT_ID, services.settings.region, project_name(DEMO_ACCOUNT_ID)
    )
    table = warehouse.catalog.ensure_table(project, DEMO_TABLE)
    this_hour = int(time.time()) // 3600

    def write(hour: int, events: list[LoggedEvent]) -> None:
        warehouse.writer.append(
            project,
            table,
            events,
            writer_role_arn=service_linked_role_arn(DEMO_ACCOUNT_ID),
            source_account=DEMO_ACCOUNT_ID,
            source=f"demo-{hour}",
        )
        if hour < this_hour:  # this hour is sampled with everything else at the end
            warehouse.metering.sample_storage(at=hour * 3600 + 3599)

    _by_hour(services.lookup.events_after, write)
    return project


def _by_hour(
    read_after: Callable[[int, int], list[LoggedEvent]],
    write: Callable[[int, list[LoggedEvent]], None],
) -> None:
    """Call `write(hour, events)` for each hour of the log's events (recorded in time order)."""
    seq, hour = 0, -1
    pending: list[LoggedEvent] = []
    while batch := read_after(seq, 20_000):
        for event in batch:
            if event.event_time // 3600 != hour and pending:
                write(hour, pending)
                pending = []
            hour = event.event_time // 3600
            pending.append(event)
        seq = batch[-1].seq
    if pending:
        write(hour, pending)


def _trail_with_history(services: Services) -> None:
    """The trail `demo-trail` into the account's project, logging from now, and a delivery
    history job that backfills the demo's days into its table, run here to completion."""
    region = services.settings.region
    arn = f"acs:odps:{region}:{DEMO_ACCOUNT_ID}:project/{project_name(DEMO_ACCOUNT_ID)}"
    services.trails.create(
        DEMO_ACCOUNT_ID,
        region,
        TrailSpec(name=DEMO_TRAIL, destinations=Destinations(max_compute_project_arn=arn)),
    )
    services.start_logging(DEMO_ACCOUNT_ID, DEMO_TRAIL)
    job = services.history.create(DEMO_ACCOUNT_ID, DEMO_TRAIL)
    engine = services.delivery_engine()
    deadline = time.monotonic() + _WAIT_SECONDS
    try:
        while (job := services.history.get(DEMO_ACCOUNT_ID, job.job_id)).status in (
            HistoryStatus.RUNNING
        ):
            if time.monotonic() > deadline:
                raise DemoError(f"the demo's history job did not finish in {_WAIT_SECONDS:.0f} s")
            if engine.run_once() == 0:
                time.sleep(0.05)
    finally:
        engine.close()
    if job.status != HistoryStatus.COMPLETE:
        raise DemoError(f"the demo's history job failed: {job.error}")


def _start_sql_engine(services: Services, say: Callable[[str], None]) -> None:
    """Wait for the SQL engine to be ready before the demo's jobs, saying what it waits for:
    Spark's session starts a JVM (or connects to its server), which takes from seconds to
    minutes depending on the machine, and no job could run before it. It has no time limit of
    its own; the jobs after it have `_WAIT_SECONDS` each."""
    jobs = services.warehouse.jobs
    if jobs.engine_name != "spark":
        return
    master = services.settings.spark_master
    say(
        f"waiting for the Spark engine to start its session on {master} (a JVM, or a Spark "
        "Connect channel; a minute or more on a small machine) ..."
    )
    began = time.monotonic()
    jobs.start_engine()
    say(f"the Spark engine is ready ({time.monotonic() - began:.0f} s)")


def _run_queries(services: Services, caller: Caller, project: Project) -> None:
    """The demo's queries now, and the first of them once at noon of each past demo day, dated
    then (as the table's storage is sampled for the hours it stands for), so that the bill has
    SQL usage on each day."""
    today = int(time.time()) // 86400
    for day in range(today - DEMO_DAYS + 1, today):
        noon = float(day * 86400 + 12 * 3600)
        past = services.warehouse.jobs.on_clock(functools.partial(float, noon))
        _run_query(past, caller, project, DEMO_QUERIES[0])
    for sql in DEMO_QUERIES:
        _run_query(services.warehouse.jobs, caller, project, sql)


def _run_query(jobs: SqlJobService, caller: Caller, project: Project, sql: str) -> None:
    job = jobs.wait(caller, jobs.submit(caller, project, sql).job_id, _WAIT_SECONDS)
    if job.status in (JobStatus.WAITING, JobStatus.RUNNING):
        raise DemoError(
            f"the demo's SQL job {job.job_id} was still {job.status} on the "
            f"{jobs.engine_name} engine after {_WAIT_SECONDS:.0f} s: {sql}"
        )
    if job.status != JobStatus.TERMINATED:
        raise DemoError(f"the demo's SQL job {job.job_id} ended {job.status}: {sql}")


def _write_private(path: Path, content: bytes) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(content)
