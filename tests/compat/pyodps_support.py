"""Shared by the PyODPS tests: a fresh account with a delivered table on the running server,
and PyODPS clients pointed at its `/api` endpoint (closed again, with PyODPS's global state)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import orjson
from compat_support import Keys, Server, trailhouse
from odps import ODPS, options
from odps import core as odps_core
from odps.rest import RestClient
from odps.tunnel import base as tunnel_base

from trailhouse.demo import DemoEvents
from trailhouse.events.model import LoggedEvent
from trailhouse.events.validation import parse_event_time
from trailhouse.iam.roles import RoleService, service_linked_role_arn
from trailhouse.settings import Settings
from trailhouse.store import open_metadata
from trailhouse.warehouse.model import project_name
from trailhouse.warehouse.service import open_warehouse

REGION = "cn-hangzhou"


@dataclass(frozen=True)
class Warehouse:
    """An account of its own with one delivered table, and its RAM users' keys."""

    account_id: str
    root: Keys
    member: Keys  # a RAM user the project names as a Reader
    outsider: Keys  # a RAM user of the same account that no project names
    project: str
    table: str
    days: tuple[str, ...]  # the table's ds partitions
    rows: int


def _keys(document: dict[str, str]) -> Keys:
    return Keys(document["AccountId"], document["AccessKeyId"], document["AccessKeySecret"])


def make_warehouse(server: Server, account_id: str, table: str, events: int = 120) -> Warehouse:
    """Create the account, two RAM users and a table holding `events` events of three days,
    written by the exactly-once writer as delivery would, while the server runs."""
    data_dir = str(server.data_dir)
    root = _keys(
        trailhouse("account", "create", "--data-dir", data_dir, "--account-id", account_id)
    )
    member, outsider = (
        _keys(
            trailhouse(
                "user",
                "create",
                "--data-dir",
                data_dir,
                "--account-id",
                account_id,
                "--user-name",
                name,
            )
        )
        for name in ("odps_reader", "odps_outsider")
    )
    now = int(time.time())
    chosen = sorted(
        DemoEvents(account_id, seed=19).between(now - 2 * 86400, now, events),
        key=lambda e: e["eventTime"],
    )
    logged = [
        LoggedEvent(
            i + 1, account_id, e["eventId"], parse_event_time(e["eventTime"]), 0, orjson.dumps(e)
        )
        for i, e in enumerate(chosen)
    ]
    settings = Settings.load({"data_dir": server.data_dir}, environ={})
    metadata = open_metadata(settings)
    try:
        roles = RoleService(metadata)
        linked = roles.service_linked_role_write(account_id)
        if linked is not None:
            metadata.commit([linked])
        warehouse = open_warehouse(settings, metadata, roles, (REGION,))
        try:
            project = warehouse.catalog.ensure_project(account_id, REGION, project_name(account_id))
            created = warehouse.catalog.ensure_table(project, table)
            warehouse.writer.append(
                project,
                created,
                logged,
                writer_role_arn=service_linked_role_arn(account_id),
                source_account=account_id,
                source="compat",
            )
            days = tuple(p.ds for p in warehouse.catalog.list_partitions(created))
        finally:
            warehouse.close()
    finally:
        metadata.close()
    return Warehouse(account_id, root, member, outsider, project.name, table, days, len(logged))


def endpoint(server: Server) -> str:
    return f"{server.url}/api"


# What PyODPS's first client copies into the process-wide options (ODPS.to_global): a later
# client with no logview_host of its own takes the first one's, even from another test.
_GLOBAL_OPTIONS = (
    "enable_schema",
    "use_legacy_parsedate",
    "is_global_account_overwritable",
    "account",
    "default_project",
    "default_schema",
    "endpoint",
    "logview_host",
    "app_account",
    "region_name",
    "default_namespace",
)


def _forget_hosts() -> None:
    """PyODPS caches, per endpoint and for the whole process, the Logview host it asked for on
    start-up; a client refused there (a bad key in an attack test) caches Alibaba's default."""
    for cache in (
        odps_core._logview_host_cache,
        odps_core._jobinsight_host_cache,
        odps_core._catalog_host_cache,
        tunnel_base._endpoint_cache,  # the tunnel host each endpoint and project answered
    ):
        cache.clear()


@contextmanager
def pyodps_state() -> Iterator[None]:
    """Leave PyODPS as it was found: its options, its per-endpoint caches, and no open
    HTTP sessions (an unclosed one would be a ResourceWarning)."""
    saved = {name: getattr(options, name) for name in _GLOBAL_OPTIONS}
    tunnel_endpoint = options.tunnel.endpoint
    options.use_legacy_parsedate = False
    _forget_hosts()
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(options, name, value)
        options.tunnel.endpoint = tunnel_endpoint
        _forget_hosts()
        RestClient._endpoints_without_v4_sign.clear()
        cache = getattr(RestClient._session_local, "session_cache", {})
        for session in cache.values():
            session.close()
        cache.clear()


def client(server: Server, keys: Keys, project: str | None = None, **extra: str) -> ODPS:
    """A PyODPS entry as a user writes it, pointed at the server's /api."""
    return ODPS(
        keys.access_key_id, keys.access_key_secret, project, endpoint=endpoint(server), **extra
    )
