"""Attacks on MaxCompute instances through `/api`: XML entity expansion in a submitted job, a
body swapped under its signed Content-MD5, and reading or stopping another tenant's instance by
its id. Each is refused before any job exists or changes."""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Iterator

import pytest
from compat_support import Fixture
from odps import ODPS, errors
from pyodps_support import Warehouse, client, endpoint, make_warehouse, pyodps_state

from trailhouse.client import RpcClient

ACCOUNT = "7777000012340022"
OTHER = "7777000012340023"
TABLE = "actiontrail_attack_instances_heron"
LONG = (
    "SELECT SUM(LENGTH(a.event_id) + LENGTH(b.event_id) + LENGTH(c.event_id) + "
    "LENGTH(d.event_id) + LENGTH(e.event_id)) FROM {t} a CROSS JOIN {t} b CROSS JOIN {t} c "
    "CROSS JOIN {t} d CROSS JOIN {t} e"
)
LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + b"".join(
        f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'.encode()
        for i in range(1, 10)
    )
    + b"]><Instance><Job><Tasks><SQL><Name>AnonymousSQLTask</Name>"
    b"<Query>SELECT '&lol9;'</Query></SQL></Tasks></Job></Instance>"
)


@pytest.fixture(scope="module")
def tenants(running: Fixture) -> Iterator[tuple[Warehouse, Warehouse]]:
    mine = make_warehouse(running.server, ACCOUNT, TABLE, events=40)
    theirs = make_warehouse(running.server, OTHER, TABLE, events=40)
    with pyodps_state():
        yield mine, theirs


def job_count(running: Fixture, warehouse: Warehouse) -> int:
    keys = warehouse.root
    with RpcClient(running.server.url, keys.access_key_id, keys.access_key_secret) as api:
        return len(api.call("ListSqlJobs", {"MaxResults": "1000"})["Jobs"])


def instances_url(running: Fixture, warehouse: Warehouse) -> str:
    return f"{endpoint(running.server)}/projects/{warehouse.project}/instances"


def test_entity_expansion_is_refused_before_parsing(
    running: Fixture, tenants: tuple[Warehouse, Warehouse]
) -> None:
    mine, _ = tenants
    odps = client(running.server, mine.root, mine.project)
    before = job_count(running, mine)
    with pytest.raises(errors.InvalidArgument, match="DTD"):
        odps.rest.post(
            instances_url(running, mine), LAUGHS, headers={"Content-Type": "application/xml"}
        )
    assert job_count(running, mine) == before


def _body(sql: str) -> bytes:
    return (
        "<Instance><Job><Tasks><SQL><Name>AnonymousSQLTask</Name>"
        f"<Query>{sql}</Query></SQL></Tasks></Job></Instance>"
    ).encode()


def test_a_body_swapped_under_its_signed_digest_is_refused(
    running: Fixture, tenants: tuple[Warehouse, Warehouse]
) -> None:
    mine, _ = tenants
    odps = client(running.server, mine.root, mine.project)
    before = job_count(running, mine)
    signed = _body(f"SELECT 'heron_small' FROM {TABLE}")
    digest = base64.b64encode(hashlib.md5(signed, usedforsecurity=False).digest()).decode()
    swapped = _body(LONG.format(t=TABLE))
    headers = {"Content-Type": "application/xml", "Content-MD5": digest}
    with pytest.raises(errors.InvalidArgument, match="Content-MD5"):
        odps.rest.post(instances_url(running, mine), swapped, headers=headers)
    assert job_count(running, mine) == before
    # The body that was signed is accepted.
    answer = odps.rest.post(instances_url(running, mine), signed, headers=headers)
    assert answer.status_code == 201 and answer.headers["Location"]
    assert job_count(running, mine) == before + 1


def test_another_tenant_cannot_read_or_stop_an_instance(
    running: Fixture, tenants: tuple[Warehouse, Warehouse]
) -> None:
    mine, theirs = tenants
    odps = client(running.server, mine.root, mine.project)
    instance = odps.run_sql(LONG.format(t=TABLE))
    try:
        stranger: ODPS = client(running.server, theirs.root, theirs.project)
        # Through the owner's project: not theirs to read.
        with pytest.raises(errors.NoPermission):
            stranger.get_instance(instance.id, project=mine.project).reload()
        with pytest.raises(errors.NoPermission):
            stranger.get_instance(instance.id, project=mine.project).stop()
        # Through their own project: no such instance there.
        with pytest.raises(errors.NoSuchObject, match="Instance not found"):
            stranger.get_instance(instance.id).reload()
        with pytest.raises(errors.NoSuchObject, match="Instance not found"):
            stranger.get_instance(instance.id).stop()
        with pytest.raises(errors.NoSuchObject):
            stranger.get_instance(instance.id).get_task_result()
        time.sleep(0.2)
        assert not instance.is_terminated()  # still running: nobody else stopped it
    finally:
        instance.stop()
    assert instance.get_task_statuses()["AnonymousSQLTask"].status.name == "CANCELLED"


def test_an_oversized_body_is_refused_without_a_job(
    running: Fixture, tenants: tuple[Warehouse, Warehouse]
) -> None:
    mine, _ = tenants
    odps = client(running.server, mine.root, mine.project)
    before = job_count(running, mine)
    huge = _body("SELECT '" + "x" * (5 * 1024 * 1024) + "'")
    with pytest.raises(errors.InvalidArgument, match="the most trailhouse takes"):
        odps.rest.post(
            instances_url(running, mine), huge, headers={"Content-Type": "application/xml"}
        )
    assert job_count(running, mine) == before
