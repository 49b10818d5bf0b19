"""Attacks on the MaxCompute endpoint (`/api`): a request PyODPS signed and someone altered
(path, query, headers), replayed late, sent twice with one header doubled, or signed for
another region is refused with MaxCompute's codes; another account's project stays out of
sight and out of reach."""

from __future__ import annotations

import email.utils
import http.client
import time
from collections.abc import Iterator

import pytest
import requests
from compat_support import Fixture
from odps import errors
from odps.accounts import AliyunAccount
from pyodps_support import Warehouse, client, endpoint, make_warehouse, pyodps_state

from trailhouse.client import RpcClient

ACCOUNT = "7777000012340027"
TABLE = "actiontrail_pyodps_attack_osprey"


@pytest.fixture(scope="module")
def warehouse(running: Fixture) -> Iterator[Warehouse]:
    made = make_warehouse(running.server, ACCOUNT, TABLE, events=30)
    with pyodps_state():
        yield made


def _signed(
    running: Fixture, warehouse: Warehouse, path: str, headers: dict[str, str] | None = None
) -> requests.PreparedRequest:
    """A GET of `path` (after /api) signed by PyODPS's own signer with the root key."""
    base = endpoint(running.server)
    prepared = requests.Request("GET", base + path, headers=headers or {}).prepare()
    account = AliyunAccount(warehouse.root.access_key_id, warehouse.root.access_key_secret)
    account.sign_request(prepared, base)
    return prepared


def _send(prepared: requests.PreparedRequest) -> requests.Response:
    with requests.Session() as session:
        return session.send(prepared, timeout=30)


def _refusal(response: requests.Response) -> errors.ODPSError:
    """The exception PyODPS raises for this answer (its own parser)."""
    assert not response.ok, response.text
    parsed: errors.ODPSError = errors.parse_response(response)
    return parsed


def test_the_untouched_request_is_answered(running: Fixture, warehouse: Warehouse) -> None:
    answer = _send(_signed(running, warehouse, f"/projects/{warehouse.project}/tables"))
    assert answer.status_code == 200
    assert f"<Name>{TABLE}</Name>" in answer.text


def test_a_changed_path_is_refused(running: Fixture, warehouse: Warehouse) -> None:
    other = f"actiontrail_{running.other.account_id}"
    prepared = _signed(running, warehouse, f"/projects/{warehouse.project}/tables")
    prepared.url = f"{endpoint(running.server)}/projects/{other}/tables"
    refusal = _refusal(_send(prepared))
    assert isinstance(refusal, errors.SignatureNotMatch)
    assert refusal.status_code == 401


@pytest.mark.parametrize(
    "query",
    ["?partition=ds%3D%2719990101%27", "?partitions&extra=1", "?partitions&marker=AA"],
)
def test_a_changed_query_is_refused(running: Fixture, warehouse: Warehouse, query: str) -> None:
    path = f"/projects/{warehouse.project}/tables/{TABLE}"
    prepared = _signed(running, warehouse, path + "?partitions")
    prepared.url = endpoint(running.server) + path + query
    assert isinstance(_refusal(_send(prepared)), errors.SignatureNotMatch)


@pytest.mark.parametrize(
    ("name", "value"),
    [("x-odps-user-agent", "forged"), ("Content-Type", "text/plain"), ("Content-MD5", "AAAA")],
)
def test_a_changed_signed_header_is_refused(
    running: Fixture, warehouse: Warehouse, name: str, value: str
) -> None:
    prepared = _signed(
        running, warehouse, f"/projects/{warehouse.project}", {"x-odps-user-agent": "pyodps"}
    )
    prepared.headers[name] = value
    assert isinstance(_refusal(_send(prepared)), errors.SignatureNotMatch)


def test_a_late_replay_is_refused_with_the_skew(running: Fixture, warehouse: Warehouse) -> None:
    stale = email.utils.formatdate(time.time() - 16 * 60, usegmt=True)
    prepared = _signed(running, warehouse, f"/projects/{warehouse.project}", {"Date": stale})
    refusal = _refusal(_send(prepared))
    assert isinstance(refusal, errors.RequestTimeTooSkewed)
    assert "ODPS-0410031" in str(refusal)
    assert refusal.max_interval_date == 900_000  # milliseconds, as MaxCompute says
    assert refusal.now_date is not None and refusal.expire_date is not None


def test_a_moved_date_is_refused(running: Fixture, warehouse: Warehouse) -> None:
    prepared = _signed(running, warehouse, f"/projects/{warehouse.project}")
    prepared.headers["Date"] = email.utils.formatdate(time.time() + 5, usegmt=True)
    assert isinstance(_refusal(_send(prepared)), errors.SignatureNotMatch)


def test_a_doubled_signed_header_is_refused(running: Fixture, warehouse: Warehouse) -> None:
    prepared = _signed(
        running, warehouse, f"/projects/{warehouse.project}", {"x-odps-user-agent": "pyodps"}
    )
    connection = http.client.HTTPConnection("127.0.0.1", running.server.port, timeout=30)
    try:
        connection.putrequest(
            "GET", f"/api/projects/{warehouse.project}", skip_accept_encoding=True
        )
        for name, value in prepared.headers.items():
            connection.putheader(name, value)
        connection.putheader("x-odps-user-agent", "second")
        connection.endheaders()
        answer = connection.getresponse()
        status, body = answer.status, answer.read()
    finally:
        connection.close()
    assert status == 400
    assert b"<Code>InvalidParameter</Code>" in body and b"more than once" in body


def test_an_unsigned_request_is_refused(running: Fixture, warehouse: Warehouse) -> None:
    with requests.Session() as session:
        answer = session.get(f"{endpoint(running.server)}/projects/{warehouse.project}", timeout=30)
    refusal = _refusal(answer)
    assert isinstance(refusal, errors.AuthorizationRequired)
    assert refusal.status_code == 401


def test_a_v4_signature_for_another_region_is_refused(
    running: Fixture, warehouse: Warehouse
) -> None:
    odps = client(running.server, warehouse.root, warehouse.project, region_name="cn-shanghai")
    with pytest.raises(errors.InvalidParameter, match="serves cn-hangzhou"):
        odps.get_project().reload()


def test_another_accounts_project_is_invisible(running: Fixture, warehouse: Warehouse) -> None:
    intruder = client(running.server, running.other)
    assert warehouse.project not in [p.name for p in intruder.list_projects()]
    with pytest.raises(errors.NoPermission):
        intruder.exist_project(warehouse.project)
    with pytest.raises(errors.NoPermission):
        list(intruder.list_tables(project=warehouse.project))
    with pytest.raises(errors.NoPermission):
        intruder.get_table(TABLE, project=warehouse.project).reload()
    with pytest.raises(errors.NoPermission):
        intruder.rest.get(
            f"{endpoint(running.server)}/projects/{warehouse.project}/schemas/default/tables/{TABLE}",
            params={"partitions": ""},
        )


def test_a_disabled_key_is_refused(running: Fixture, warehouse: Warehouse) -> None:
    keys = warehouse.root
    with RpcClient(running.server.url, keys.access_key_id, keys.access_key_secret) as rpc:
        rpc.call(
            "UpdateAccessKey",
            {
                "UserName": "odps_outsider",
                "UserAccessKeyId": warehouse.outsider.access_key_id,
                "Status": "Inactive",
            },
        )
    odps = client(running.server, warehouse.outsider)
    with pytest.raises(errors.InvalidParameter, match=r"ODPS-0410051.*disabled") as refused:
        list(odps.list_projects())
    assert refused.value.status_code == 401


def test_a_service_key_is_refused(running: Fixture, warehouse: Warehouse) -> None:
    service = client(running.server, running.service)
    with pytest.raises(errors.NoPermission, match="service key"):
        list(service.list_projects())
