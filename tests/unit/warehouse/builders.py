"""A real warehouse on a temporary folder, and realistic delivered events, for the tests."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from trailhouse.demo import DemoEvents
from trailhouse.events.model import LoggedEvent
from trailhouse.events.validation import parse_event_time
from trailhouse.iam.principals import Caller
from trailhouse.iam.roles import RoleService, service_linked_role_arn
from trailhouse.settings import Settings
from trailhouse.store import open_metadata
from trailhouse.store.ports import MetadataStore, PrincipalKind
from trailhouse.warehouse.model import Project, Table, project_name, table_name
from trailhouse.warehouse.service import Warehouse, open_warehouse
from trailhouse.warehouse.sql.engine import Engine

ACCOUNT = "1111222233334444"
OTHER_ACCOUNT = "5555666677778888"
REGION = "cn-hangzhou"
TRAIL = "audit-trail"


def root(account_id: str = ACCOUNT) -> Caller:
    """The root key of an account."""
    return Caller(f"AK{account_id}", PrincipalKind.ROOT, account_id, "root", account_id)


def ram_user(name: str, account_id: str = ACCOUNT) -> Caller:
    """A RAM user of an account."""
    return Caller(f"AK{name}", PrincipalKind.RAM_USER, account_id, name, f"2{account_id[1:]}")


@dataclass
class WarehouseFixture:
    """A warehouse with the delivery project of ACCOUNT and the table of TRAIL."""

    settings: Settings
    metadata: MetadataStore
    roles: RoleService
    warehouse: Warehouse
    project: Project
    table: Table

    def append(self, events: Sequence[LoggedEvent]) -> None:
        """Deliver events into the table as the service-linked role does."""
        self.warehouse.writer.append(
            self.project,
            self.table,
            events,
            writer_role_arn=service_linked_role_arn(ACCOUNT),
            source_account=ACCOUNT,
            source=f"{ACCOUNT}-{TRAIL}",
        )

    def close(self) -> None:
        self.warehouse.close()
        self.metadata.close()


def open_test_warehouse(
    data_dir: Path, engine: Engine | None = None, **settings: Any
) -> WarehouseFixture:
    """A warehouse over a fresh SQLite metadata store in `data_dir` (jobs on `engine`, else the
    one the settings choose)."""
    loaded = Settings.load({"data_dir": data_dir, **settings}, environ={})
    metadata = open_metadata(loaded)
    roles = RoleService(metadata)
    linked = roles.service_linked_role_write(ACCOUNT)
    if linked is not None:
        metadata.commit([linked])
    warehouse = open_warehouse(loaded, metadata, roles, (REGION, "cn-shanghai"), engine=engine)
    project = warehouse.catalog.ensure_project(ACCOUNT, REGION, project_name(ACCOUNT))
    table = warehouse.catalog.ensure_table(project, table_name(TRAIL))
    return WarehouseFixture(loaded, metadata, roles, warehouse, project, table)


def logged_events(
    count: int, days: int = 5, first_seq: int = 1, seed: int = 7, since: int | None = None
) -> list[LoggedEvent]:
    """`count` demo events over the last `days` days (or from `since` to now), in time order,
    as the event log holds them."""
    now = int(time.time())
    start = now - days * 86400 if since is None else since
    events = sorted(
        DemoEvents(ACCOUNT, seed=seed).between(start, now, count),
        key=lambda e: e["eventTime"],
    )
    return [
        LoggedEvent(
            first_seq + i,
            ACCOUNT,
            e["eventId"],
            parse_event_time(e["eventTime"]),
            0,
            orjson.dumps(e),
        )
        for i, e in enumerate(events)
    ]
