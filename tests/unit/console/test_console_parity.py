"""The console's `/console/api/<Action>` is the API: the same answers, errors (code, message,
HTTP status) and audit events as the same call signed with the same key."""

from __future__ import annotations

from typing import Any

import pytest
from console_support import ACCOUNT, BROWSER, Console

PROJECT_ARN = f"acs:odps:cn-hangzhou:{ACCOUNT}:project/actiontrail_{ACCOUNT}"

REFUSALS = [
    pytest.param(
        "root",
        "CreateTrail",
        {"Name": "Bad Name", "MaxComputeProjectArn": PROJECT_ARN},
        "InvalidTrailNameException",
        400,
        id="bad-trail-name",
    ),
    pytest.param(
        "alice",
        "CreateTrail",
        {"Name": "alice-trail", "MaxComputeProjectArn": PROJECT_ARN},
        "NoPermission",
        403,
        id="ram-user-without-policy",
    ),
    pytest.param("alice", "DescribeBills", {}, "NoPermission", 403, id="bills-root-only"),
    pytest.param(
        "root",
        "LookupEvents",
        {"LookupAttribute.1.Key": "Colour", "LookupAttribute.1.Value": "red"},
        "InvalidParameter",
        400,
        id="bad-lookup-attribute",
    ),
    pytest.param("root", "NoSuchAction", {}, "InvalidAction.NotFound", 404, id="unknown-action"),
    pytest.param(
        "root",
        "SubmitSqlJob",
        {"Project": "nope", "Sql": "SELECT 1"},
        "NoSuchProject",
        404,
        id="unknown-project",
    ),
    pytest.param(
        "root",
        "GetTrailStatus",
        {"Name": "missing-trail"},
        "TrailNotFoundException",
        404,
        id="unknown-trail",
    ),
    pytest.param(
        "root",
        "CreateTrail",
        {"Name": "no-destination"},
        "InvalidParameter",
        400,
        id="no-destination",
    ),
]


@pytest.mark.parametrize(("who", "action", "params", "code", "status"), REFUSALS)
def test_refusals_are_the_apis(
    console: Console, who: str, action: str, params: dict[str, str], code: str, status: int
) -> None:
    credentials = getattr(console, who)
    csrf = console.sign_in(credentials)
    through_console = console.api(action, params, csrf)
    signed = console.signed(credentials, action, params)
    assert signed.status_code == status, signed.text
    assert through_console.status_code == status
    assert through_console.json()["Code"] == signed.json()["Code"] == code
    assert through_console.json()["Message"] == signed.json()["Message"]


def _audited(event: dict[str, Any]) -> dict[str, Any]:
    """What an audit event says about a call, without what differs between two calls, and
    without how it came (the user agent, and the console's mark)."""
    ignored = {"eventId", "requestId", "eventTime", "responseElements"}
    ignored |= {"userAgent", "additionalEventData"}
    return {key: value for key, value in event.items() if key not in ignored}


def _console_and_signed(events: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The console call's audit event and the signed call's, told apart by the console's mark."""
    console = [e for e in events if "additionalEventData" in e]
    signed = [e for e in events if "additionalEventData" not in e]
    assert len(console) == len(signed) == 1, events
    return console[0], signed[0]


def test_a_refused_call_is_audited_as_the_signed_call_is(console: Console) -> None:
    params = {"Name": "Bad Name", "MaxComputeProjectArn": PROJECT_ARN}
    csrf = console.sign_in(console.root)
    console.api("CreateTrail", params, csrf)
    console.signed(console.root, "CreateTrail", params)
    through_console, signed = _console_and_signed(console.events("CreateTrail", 2))
    assert _audited(through_console) == _audited(signed)
    assert through_console["errorCode"] == "InvalidTrailNameException"
    assert through_console["requestParameters"] == params
    assert through_console["userIdentity"]["accessKeyId"] == console.root.access_key_id


def test_a_console_call_is_marked_as_actiontrail_marks_its_consoles(console: Console) -> None:
    """The one intended difference: ActionTrail records its console's calls as ApiCall events
    whose userAgent names the console; the browser's user agent is kept beside the mark."""
    csrf = console.sign_in(console.root)
    console.api("DescribeTrails", {}, csrf)
    console.signed(console.root, "DescribeTrails", {})
    through_console, signed = _console_and_signed(console.events("DescribeTrails", 2))
    assert through_console["eventType"] == signed["eventType"] == "ApiCall"
    assert through_console["userAgent"] == "actiontrail.console.aliyun.com"
    assert through_console["additionalEventData"] == {
        "callVia": "console",
        "browserUserAgent": BROWSER,
    }
    assert signed["userAgent"] == BROWSER


def test_a_permitted_call_answers_and_is_audited_as_the_signed_call_is(console: Console) -> None:
    params = {"Name": "console-trail", "MaxComputeProjectArn": PROJECT_ARN}
    csrf = console.sign_in(console.root)
    created = console.api("CreateTrail", params, csrf)
    assert created.status_code == 200, created.text
    listed_console = console.api("DescribeTrails", {}, csrf).json()
    listed_signed = console.signed(console.root, "DescribeTrails", {}).json()
    assert listed_console["TrailList"] == listed_signed["TrailList"]
    assert [t["Name"] for t in listed_console["TrailList"]] == ["console-trail"]
    through_console, signed = _console_and_signed(console.events("DescribeTrails", 2))
    assert _audited(through_console) == _audited(signed)
    assert "errorCode" not in through_console


def test_a_ram_user_sees_only_what_its_key_may(console: Console) -> None:
    csrf = console.sign_in(console.alice)
    refused = console.api("DescribeTrails", {}, csrf)
    assert refused.status_code == 403
    assert "actiontrail:DescribeTrails" in refused.json()["Message"]
    console.services.roles.attach_user_policy(ACCOUNT, "alice", "AliyunActionTrailReadOnlyAccess")
    assert console.api("DescribeTrails", {}, csrf).status_code == 200
    assert console.api("DeleteTrail", {"Name": "any-trail"}, csrf).status_code == 403


def test_console_parameters_may_be_a_form_or_typed_json(console: Console) -> None:
    csrf = console.sign_in(console.root)
    form = console.client.post(
        "/console/api/LookupEvents",
        content=b"MaxResults=1",
        headers={"X-CSRF-Token": csrf, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert form.status_code == 200, form.text
    typed = console.api(
        "DescribeTrails", {"IncludeShadowTrails": True, "RegionId": "cn-shanghai"}, csrf
    )
    assert typed.status_code == 200, typed.text
    nested = console.api("DescribeTrails", {"NameList": ["a", "b"]}, csrf)
    assert nested.status_code == 400
    assert nested.json()["Code"] == "InvalidParameter"
    not_json = console.client.post(
        "/console/api/DescribeTrails",
        content=b"{nope",
        headers={"X-CSRF-Token": csrf, "Content-Type": "application/json"},
    )
    assert not_json.json()["Code"] == "MalformedBody"
