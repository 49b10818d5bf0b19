"""A trail delivering demo events on real services, for the digest tests."""

from __future__ import annotations

import time

import orjson

from trailhouse.demo import DemoEvents
from trailhouse.integrity.verify import PublicKey, load_public_keys
from trailhouse.runtime import Services
from trailhouse.trails.model import Destinations, Trail
from trailhouse.trails.service import TrailSpec
from trailhouse.warehouse.model import project_name

REGION = "cn-hangzhou"


def deliver_demo_events(
    services: Services, trail_name: str, batches: int, per_batch: int, days: int
) -> Trail:
    """A new account's logging trail, and `batches` batches of its events delivered."""
    credentials = services.accounts.create_account()
    account_id = credentials.account_id
    caller = services.accounts.caller_for(credentials.access_key_id)
    arn = f"acs:odps:{REGION}:{account_id}:project/{project_name(account_id)}"
    services.trails.create(
        account_id,
        REGION,
        TrailSpec(name=trail_name, destinations=Destinations(max_compute_project_arn=arn)),
    )
    trail = services.start_logging(account_id, trail_name)
    engine = services.delivery_engine()
    now = int(time.time())
    for seed in range(1, batches + 1):
        events = DemoEvents(account_id, seed=seed).between(now - days * 86400, now, per_batch)
        services.ingest.put_events(caller, [orjson.dumps(e) for e in events])
        while engine.run_once():
            pass
    return trail


def published_keys(services: Services) -> dict[str, PublicKey]:
    """The signing keys as `trailhouse keys export` publishes them, read back by verify."""
    return load_public_keys(
        orjson.dumps([k.published() for k in services.signing_keys.public_keys()])
    )
