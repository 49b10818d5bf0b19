"""What the delivery tests share: services over real stores, accounts, events, started trails,
and SQL over the trails' tables."""

from __future__ import annotations

import itertools
import time
from typing import Any

import orjson

from trailhouse.delivery.engine import DeliveryEngine
from trailhouse.demo import DemoEvents
from trailhouse.events.ingest import PutEventsResult
from trailhouse.iam.principals import Caller
from trailhouse.runtime import Services
from trailhouse.trails.model import Destinations, Trail
from trailhouse.trails.service import TrailSpec
from trailhouse.warehouse.model import project_name

REGION = "cn-hangzhou"


def account(services: Services) -> tuple[str, Caller]:
    credentials = services.accounts.create_account()
    return credentials.account_id, services.accounts.caller_for(credentials.access_key_id)


_FRESH_SEEDS = itertools.count(1_000)


def record(
    services: Services, caller: Caller, count: int, seed: int | None = None
) -> list[dict[str, Any]]:
    """Record `count` events of the last three days. Without a seed each call draws a fresh
    one: two calls with one seed repeat event IDs, which the log's duplicate check drops."""
    if seed is None:
        seed = next(_FRESH_SEEDS)
    now = int(time.time())
    events = list(DemoEvents(caller.account_id, seed=seed).between(now - 3 * 86400, now, count))
    result = services.ingest.put_events(caller, [orjson.dumps(e) for e in events])
    assert not result.failed
    return events


def record_old(services: Services, caller: Caller, count: int) -> PutEventsResult:
    """Record `count` events two to three days old (what retention tests purge), indexed."""
    now = int(time.time())
    events = DemoEvents(caller.account_id).between(now - 3 * 86400, now - 2 * 86400, count)
    result = services.ingest.put_events(caller, [orjson.dumps(e) for e in events])
    services.stores.events.catch_up()
    return result


def start_trail(services: Services, account_id: str, name: str, **destination: str) -> Trail:
    destination.setdefault(
        "max_compute_project_arn",
        f"acs:odps:{REGION}:{account_id}:project/{project_name(account_id)}",
    )
    spec = TrailSpec(
        name=name,
        event_rw=destination.pop("event_rw", None),
        destinations=Destinations(**destination),
    )
    services.trails.create(account_id, REGION, spec)
    return services.start_logging(account_id, name)


def table_rows(services: Services, owner: str, project: str, sql: str) -> list[list[Any]]:
    catalog = services.warehouse.catalog
    caller = Caller("k", "root-account", owner, "root", owner)
    jobs = services.warehouse.jobs
    job = jobs.submit(caller, catalog.get_project(REGION, project), sql)
    done = jobs.wait(caller, job.job_id, timeout=60)
    assert done.status == "Terminated", done.error_message
    return jobs.result(caller, job.job_id, 0, 100_000).rows


def drain(engine: DeliveryEngine) -> None:
    for _ in range(50):
        if engine.run_once() == 0 and engine.run_once() == 0:
            return
