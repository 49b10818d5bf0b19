"""Attacks on the MaxCompute tunnel (`/api`, table downloads): a download id is no key, so a
session one member created reads nothing for a key without Select, nor for another table or
another account's project; ids, columns and ranges that try to reach past the session are
refused with the tunnel's codes and never read a file outside it."""

from __future__ import annotations

from collections.abc import Iterator
from email.utils import formatdate

import pytest
import requests
from compat_support import Fixture, Keys
from odps.accounts import AliyunAccount
from odps.tunnel import TableTunnel
from pyodps_support import Warehouse, client, endpoint, make_warehouse, pyodps_state

from trailhouse.client import RpcClient

ACCOUNT = "7777000012340031"
OTHER_ACCOUNT = "7777000012340032"
TABLE = "actiontrail_pyodps_tunnel_attack_heron"


@pytest.fixture(scope="module")
def warehouses(running: Fixture) -> Iterator[tuple[Warehouse, Warehouse]]:
    mine = make_warehouse(running.server, ACCOUNT, TABLE, events=40)
    theirs = make_warehouse(running.server, OTHER_ACCOUNT, TABLE, events=40)
    with RpcClient(running.server.url, mine.root.access_key_id, mine.root.access_key_secret) as rpc:
        rpc.call(
            "SetProjectMember",
            {"Project": mine.project, "Principal": f"{ACCOUNT}/odps_reader", "Role": "Reader"},
        )
    with pyodps_state():
        yield mine, theirs


def _send(running: Fixture, keys: Keys, method: str, path_and_query: str) -> requests.Response:
    base = endpoint(running.server)
    prepared = requests.Request(
        method, base + path_and_query, headers={"Date": formatdate(usegmt=True)}
    ).prepare()
    AliyunAccount(keys.access_key_id, keys.access_key_secret).sign_request(prepared, base)
    with requests.Session() as session:
        return session.send(prepared, timeout=30)


def _session_id(running: Fixture, warehouse: Warehouse) -> str:
    odps = client(running.server, warehouse.member, warehouse.project)
    session = TableTunnel(odps).create_download_session(
        TABLE, partition_spec=f"ds={warehouse.days[0]}"
    )
    download_id: str = session.id
    return download_id


def test_a_download_id_is_no_key(running: Fixture, warehouses: tuple[Warehouse, Warehouse]) -> None:
    mine, theirs = warehouses
    download_id = _session_id(running, mine)
    data = f"?downloadid={download_id}&data&rowrange=(0,1)"
    path = f"/projects/{mine.project}/tables/{TABLE}"
    # A RAM user of the same account without membership: refused by name, no rows.
    answer = _send(running, mine.outsider, "GET", path + data)
    assert answer.status_code == 403
    assert answer.json()["Code"] == "NoPermission"
    assert "odps_outsider" in answer.json()["Message"]
    # Another account's root key, with the id, at the path of its own table of the same name:
    # the session belongs to the table it was made on.
    their_path = f"/projects/{theirs.project}/tables/{TABLE}"
    answer = _send(running, theirs.root, "GET", their_path + data)
    assert answer.status_code == 404
    assert answer.json()["Code"] == "NoSuchDownload"
    # ... and at the path of the table the session was made on: another account's project.
    answer = _send(running, theirs.root, "GET", path + data)
    assert answer.status_code == 403
    assert answer.json()["Code"] == "NoPermission"
    # The member who made it reads it.
    assert _send(running, mine.member, "GET", path + data).status_code == 200


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("downloadid=..%2F..%2Fwh-file&data&rowrange=(0,1)", "NoSuchDownload"),
        ("downloadid=%25&data&rowrange=(0,1)", "NoSuchDownload"),
        ("downloadid={id}&data&rowrange=(0,1)&columns=event_id%3BDROP", "InvalidColumnSpec"),
        ("downloadid={id}&data&rowrange=(0,1)&columns=*", "InvalidColumnSpec"),
        ("downloadid={id}&data&rowrange=(0,999999999999999999)", "InvalidRowRange"),
        ("downloadid={id}&data&rowrange=(0,1e9)", "InvalidRowRange"),
        ("downloadid={id}&data&rowrange=(0,1),(5,1)", "InvalidRowRange"),
        ("downloads&partition=ds%3D20261205%2Cds%3D20261206", "InvalidPartitionSpec"),
        ("downloads&partition=ds%3D..%2F..%2F_digests", "InvalidPartitionSpec"),
    ],
)
def test_reaching_past_the_session_is_refused(
    running: Fixture, warehouses: tuple[Warehouse, Warehouse], query: str, code: str
) -> None:
    mine, _ = warehouses
    query = query.replace("{id}", _session_id(running, mine))
    method = "POST" if query.startswith("downloads") else "GET"
    answer = _send(running, mine.member, method, f"/projects/{mine.project}/tables/{TABLE}?{query}")
    assert answer.status_code in (400, 404), answer.text
    assert answer.json()["Code"] == code
    assert "Traceback" not in answer.text
