"""A trail delivering demo events on real services, and helpers to attack copies of its table."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest

from trailhouse.demo import DemoEvents
from trailhouse.integrity.anchor import anchor_path
from trailhouse.integrity.digester import Digester, read_digest_state
from trailhouse.integrity.verify import PublicKey, load_public_keys, verify_folder
from trailhouse.runtime import Services, open_services
from trailhouse.settings import Settings
from trailhouse.trails.model import Destinations, Trail
from trailhouse.trails.service import TrailSpec
from trailhouse.warehouse.model import project_name

REGION = "cn-hangzhou"
INTERVAL = 60


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


@dataclass
class Delivered:
    services: Services
    table_dir: Path
    keys: dict[str, PublicKey]
    latest: tuple[int, str]
    anchor_file: Path  # the digester's heartbeat, outside the table folder


def delivered_table(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Delivered]:
    """A trail that delivered 600 events, digested for ten minutes ahead of now."""
    settings = Settings.load(
        {
            "data_dir": tmp_path_factory.mktemp("digests") / "data",
            "delivery_flush_seconds": 0.0,
            "digest_interval_seconds": INTERVAL,
        },
        environ={},
    )
    services = open_services(settings)
    trail = deliver_demo_events(services, "proof-trail", batches=3, per_batch=200, days=3)
    account_id = trail.account_id
    digester = Digester(
        settings,
        services.stores.metadata,
        services.trails,
        services.warehouse,
        services.signing_keys,
        clock=lambda: time.time() + 700,
    )
    assert digester.run_once() >= 10
    state, _ = read_digest_state(services.stores.metadata, trail)
    assert state is not None
    table_dir = (
        settings.warehouse_path / REGION / project_name(account_id) / "actiontrail_proof_trail"
    )
    yield Delivered(
        services,
        table_dir,
        published_keys(services),
        (state.sequence, state.sha256),
        settings.warehouse_path / anchor_path(account_id, trail.name),
    )
    services.close()


def copy(delivered: Delivered, tmp_path: Path) -> Path:
    target = tmp_path / "copy"
    shutil.copytree(delivered.table_dir, target, ignore=shutil.ignore_patterns("_staging"))
    return target


def data_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("ds=*/*.parquet"))


def digests(folder: Path) -> list[Path]:
    return sorted((folder / "_digests").rglob("*.json"))


def check(delivered: Delivered, folder: Path) -> list[str]:
    report = verify_folder(folder, delivered.keys, expect_latest=delivered.latest)
    return report.problems
