"""Two `trailhouse serve` processes on one PostgreSQL database answer as one service: a NextToken,
a nonce, a rate limit, a console session and a SQL job issued by one hold on the other."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from alibabacloud_actiontrail20200706 import models
from alibabacloud_tea_openapi.exceptions import ThrottlingException
from compat_support import (
    Keys,
    Server,
    free_port,
    put_events,
    rpc_client,
    sdk,
    signed_raw,
    trailhouse,
)
from factory import make_event

LOOKUP_RATE = 1  # call per second per account: a burst of one
_CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]*)">')


@dataclass
class Pair:
    """Two API processes on one database, and the accounts made for the test."""

    first: Server
    second: Server
    keys: Keys
    other: Keys
    postgres_url: str


@pytest.fixture
def pair(tmp_path: Path, postgres_url: str) -> Iterator[Pair]:
    data_dir = tmp_path / "data"
    env = {
        "TRAILHOUSE_DATABASE_URL": postgres_url,
        "TRAILHOUSE_LOOKUP_RATE_PER_SECOND": str(LOOKUP_RATE),
    }
    accounts = [
        trailhouse("account", "create", "--data-dir", str(data_dir), env=env) for _ in range(2)
    ]
    keys, other = (Keys(a["AccountId"], a["AccessKeyId"], a["AccessKeySecret"]) for a in accounts)
    first, second = Server(data_dir, free_port()), Server(data_dir, free_port())
    first.start("--no-delivery", env=env)
    try:
        second.start("--no-delivery", env=env)
    except BaseException:
        first.stop()
        raise
    try:
        yield Pair(first, second, keys, other, postgres_url)
    finally:
        codes = [first.stop(), second.stop()]
        assert codes == [0, 0]


def lookup(server: Server, keys: Keys, **fields: object) -> models.LookupEventsResponseBody:
    """LookupEvents through the SDK, retried while the account's shared bucket is empty."""
    request = models.LookupEventsRequest(
        lookup_attribute=[
            models.LookupEventsRequestLookupAttribute(key="EventName", value="RunInstances")
        ],
        **fields,
    )
    for _ in range(20):
        try:
            return sdk(server, keys).lookup_events(request).body
        except ThrottlingException:
            time.sleep(0.3)
    raise AssertionError("LookupEvents stayed throttled")


@pytest.mark.postgres
def test_a_next_token_from_one_process_pages_on_the_other(pair: Pair) -> None:
    events = [make_event(pair.keys.account_id, 60 + n, eventName="RunInstances") for n in range(25)]
    assert put_events(sdk(pair.first, pair.keys), events)["Accepted"] == 25
    seen: list[str] = []
    token = None
    servers = [pair.first, pair.second]
    for page in range(3):
        body = lookup(servers[page % 2], pair.keys, max_results=10, next_token=token)
        seen += [e["eventId"] for e in body.events]
        token = body.next_token
    assert not token
    assert seen == [e["eventId"] for e in events]  # newest first, each once


@pytest.mark.postgres
def test_a_nonce_used_on_one_process_is_refused_by_the_other(pair: Pair) -> None:
    nonce = uuid.uuid4().hex
    answers = [
        signed_raw(server, pair.keys, nonce=nonce, action="DescribeTrails")
        for server in (pair.first, pair.second)
    ]
    assert answers[0][0] == 200, answers[0]
    assert answers[1][0] == 400 and b'"Code":"SignatureNonceUsed"' in answers[1][1]


@pytest.mark.postgres
def test_the_lookup_rate_limit_is_one_per_account_across_processes(pair: Pair) -> None:
    # The whole burst, spent on the first process; the bucket refills in a second.
    sdk(pair.first, pair.other).lookup_events(models.LookupEventsRequest(max_results=1))
    with pytest.raises(ThrottlingException) as throttled:
        sdk(pair.second, pair.other).lookup_events(models.LookupEventsRequest(max_results=1))
    assert throttled.value.code == "Throttling.User"
    # Another account's bucket is its own.
    sdk(pair.second, pair.keys).lookup_events(models.LookupEventsRequest(max_results=1))


@pytest.mark.postgres
def test_every_history_scan_is_rate_limited_per_account_and_action(pair: Pair) -> None:
    # Each of these reads tens of thousands of events: without a rate, one key keeps a
    # server busy. The burst of one is spent on the first process and refused on the second.
    usage = models.GetAccessKeyLastUsedInfoRequest(access_key=pair.other.access_key_id)
    sdk(pair.first, pair.other).get_access_key_last_used_info(usage)
    with pytest.raises(ThrottlingException) as throttled:
        sdk(pair.second, pair.other).get_access_key_last_used_info(usage)
    assert throttled.value.code == "Throttling.User"
    assert "GetAccessKeyLastUsedInfo is limited to 1 calls per second" in throttled.value.message
    # Another action's bucket is its own: LookupEvents still answers at once.
    sdk(pair.second, pair.other).lookup_events(models.LookupEventsRequest(max_results=1))


@pytest.mark.postgres
def test_a_console_session_opened_on_one_process_works_and_ends_on_the_other(pair: Pair) -> None:
    with httpx.Client(base_url=pair.first.url) as first:
        signin_token = _csrf(first.get("/console/signin").text)
        opened = first.post(
            "/console/signin",
            json={
                "AccessKeyId": pair.keys.access_key_id,
                "AccessKeySecret": pair.keys.access_key_secret,
            },
            headers={"X-CSRF-Token": signin_token},
        )
        assert opened.status_code == 200, opened.text
        session = {"th_console": first.cookies["th_console"]}
        csrf = _csrf(first.get("/console/trails").text)
    with httpx.Client(base_url=pair.second.url, cookies=session) as second:
        answer = second.post("/console/api/DescribeTrails", json={}, headers={"X-CSRF-Token": csrf})
        assert answer.status_code == 200, answer.text
        ended = second.post("/console/signout", headers={"X-CSRF-Token": csrf})
        assert ended.status_code == 200, ended.text
    with httpx.Client(base_url=pair.first.url, cookies=session) as first:
        refused = first.post("/console/api/DescribeTrails", json={}, headers={"X-CSRF-Token": csrf})
        assert refused.status_code == 401 and refused.json()["Code"] == "SessionExpired"


@pytest.mark.postgres
def test_a_key_disabled_or_deleted_on_one_process_is_refused_by_the_other_at_once(
    pair: Pair,
) -> None:
    spare = trailhouse(
        "key-admin", "create", "--account-id", pair.keys.account_id,
        "--data-dir", str(pair.first.data_dir),
        env={"TRAILHOUSE_DATABASE_URL": pair.postgres_url},
    )  # fmt: skip
    spare_keys = Keys(spare["AccountId"], spare["AccessKeyId"], spare["AccessKeySecret"])
    with httpx.Client(base_url=pair.second.url) as browser:
        token = _csrf(browser.get("/console/signin").text)
        opened = browser.post(
            "/console/signin",
            json={
                "AccessKeyId": spare_keys.access_key_id,
                "AccessKeySecret": spare_keys.access_key_secret,
            },
            headers={"X-CSRF-Token": token},
        )
        assert opened.status_code == 200, opened.text
        csrf = _csrf(browser.get("/console/trails").text)
        assert (
            browser.post(
                "/console/api/DescribeTrails", json={}, headers={"X-CSRF-Token": csrf}
            ).status_code
            == 200
        )
        # both processes have served the key; the first disables it
        assert signed_raw(pair.second, spare_keys, action="DescribeTrails")[0] == 200
        change = {"UserAccessKeyId": spare_keys.access_key_id, "Status": "Inactive"}
        with rpc_client(pair.first, pair.keys) as first:
            first.call("UpdateAccessKey", change)
        status, body = signed_raw(pair.second, spare_keys, action="DescribeTrails")
        assert status == 400 and b'"Code":"InvalidAccessKeyId.Inactive"' in body
        ended = browser.post("/console/api/DescribeTrails", json={}, headers={"X-CSRF-Token": csrf})
        assert ended.status_code == 401 and ended.json()["Code"] == "SessionExpired"
    with rpc_client(pair.second, pair.keys) as second:
        second.call("UpdateAccessKey", {**change, "Status": "Active"})
    assert signed_raw(pair.first, spare_keys, action="DescribeTrails")[0] == 200
    with rpc_client(pair.second, pair.keys) as second:
        second.call("DeleteAccessKey", {"UserAccessKeyId": spare_keys.access_key_id})
    status, body = signed_raw(pair.first, spare_keys, action="DescribeTrails")
    assert status == 404 and b'"Code":"InvalidAccessKeyId.NotFound"' in body


@pytest.mark.postgres
def test_a_sql_job_submitted_on_one_process_is_read_on_the_other(pair: Pair) -> None:
    project = "shared_analysis"
    with rpc_client(pair.first, pair.keys) as first, rpc_client(pair.second, pair.keys) as second:
        first.call("CreateProject", {"Project": project})
        job_id = first.call("SubmitSqlJob", {"Project": project, "Sql": "SELECT 1 + 1"})["JobId"]
        deadline = time.monotonic() + 60
        while (job := second.call("GetSqlJob", {"JobId": job_id})["Job"])["Status"] not in {
            "Terminated",
            "Failed",
        }:
            assert time.monotonic() < deadline, job
            time.sleep(0.1)
        assert job["Status"] == "Terminated", job
        page = second.call("GetSqlJobResult", {"JobId": job_id, "Offset": "0"})
    assert page["Rows"] == [[2]]


def _csrf(page: str) -> str:
    found = _CSRF_META.search(page)
    assert found is not None, page[:300]
    return found.group(1)
