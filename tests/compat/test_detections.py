"""Detection rules through a real server: the actions (Create/List/Enable/Disable/Delete/
TestDetectionRule, ListFindings), a starter rule firing on PutEvents into a finding and a
`TrailhouseFinding` event LookupEvents shows and the trail delivers, a rule run over a delivered
table's history as a SQL job, a finding sent to a signed webhook (a receiver on 127.0.0.1), and
the refusals of bad rules."""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import orjson
import pytest
from alibabacloud_actiontrail20200706 import models
from compat_support import (
    Fixture,
    Keys,
    cli_environment,
    project_arn,
    put_events,
    rpc_client,
    run_cli,
    sdk,
    sql_rows,
    trailhouse,
    wait_delivered,
)
from factory import make_event

from trailhouse.errors import RequestFailed
from trailhouse.events.validation import format_event_time
from trailhouse.warehouse.model import project_name

MARKER = "Heron" + uuid.uuid4().hex[:8]
OWN_RULE = f"""title: {MARKER} called
name: own_{MARKER.lower()}
logsource:
  product: alibabacloud
  service: actiontrail
detection:
  selection:
    eventName: Create{MARKER}
    sourceIpAddress|cidr: 198.51.100.0/24
  condition: selection
level: low
"""


@pytest.fixture(scope="module")
def account(running: Fixture) -> Keys:
    """A fresh account, so enabled rules find nothing in other modules' traffic."""
    created = trailhouse("account", "create", "--data-dir", str(running.server.data_dir))
    return Keys(created["AccountId"], created["AccessKeyId"], created["AccessKeySecret"])


def _call(running: Fixture, keys: Keys, action: str, **params: str) -> dict[str, Any]:
    with rpc_client(running.server, keys) as rpc:
        return rpc.call(action, params)


def _refusal(running: Fixture, keys: Keys, action: str, **params: str) -> RequestFailed:
    with pytest.raises(RequestFailed) as refused:
        _call(running, keys, action, **params)
    return refused.value


def _findings(running: Fixture, keys: Keys, rule_id: str, count: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 10
    while True:
        found = _call(running, keys, "ListFindings", RuleId=rule_id)["Findings"]
        if len(found) >= count or time.monotonic() > deadline:
            return list(found)
        time.sleep(0.1)


def test_rules_are_listed_created_enabled_and_deleted(running: Fixture, account: Keys) -> None:
    rules = _call(running, account, "ListDetectionRules")["Rules"]
    starter = {r["RuleId"]: r for r in rules if r["Starter"]}
    assert len(starter) == 10 and not any(r["Enabled"] for r in starter.values())
    assert starter["actiontrail_user_and_key"]["Kind"] == "temporal"

    created = _call(running, account, "CreateDetectionRule", RuleYaml=OWN_RULE)["Rule"]
    assert (created["RuleId"], created["Enabled"], created["Severity"]) == (
        f"own_{MARKER.lower()}",
        True,
        "low",
    )
    again = _refusal(running, account, "CreateDetectionRule", RuleYaml=OWN_RULE)
    assert (again.status, again.code) == (409, "EntityAlreadyExist.DetectionRule")
    disabled = _call(running, account, "DisableDetectionRule", RuleId=created["RuleId"])
    assert disabled["Rule"]["Enabled"] is False
    _call(running, account, "DeleteDetectionRule", RuleId=created["RuleId"])
    gone = _refusal(running, account, "EnableDetectionRule", RuleId=created["RuleId"])
    assert (gone.status, gone.code) == (404, "EntityNotExist.DetectionRule")
    kept = _refusal(running, account, "DeleteDetectionRule", RuleId="actiontrail_root_signin")
    assert kept.code == "InvalidParameter" and "disable it instead" in kept.message


BAD_RULES = [
    (OWN_RULE.replace("eventName", "eventNmae"), "RuleYaml line 8: field 'eventNmae'"),
    (OWN_RULE.replace("selection\n", "not selection\n"), "RuleYaml line 10:"),
    (
        OWN_RULE.replace(f"Create{MARKER}", "'*'").replace(
            "    sourceIpAddress|cidr: 198.51.100.0/24\n", ""
        ),
        "only wildcards",
    ),
    ("title: [broken\n", "RuleYaml line 2: not valid YAML"),
    (OWN_RULE.replace("condition: selection", "condition: selection and"), "RuleYaml line 10"),
]


@pytest.mark.parametrize(("text", "words"), BAD_RULES)
def test_a_bad_rule_is_refused_with_its_line(
    running: Fixture, account: Keys, text: str, words: str
) -> None:
    refused = _refusal(running, account, "CreateDetectionRule", RuleYaml=text)
    assert (refused.status, refused.code) == (400, "InvalidParameter")
    assert words in refused.message
    for internal in ("pySigma", "sigma.", "Sigma", "pyparsing", "Traceback"):
        assert internal not in refused.message
    names = [r["RuleId"] for r in _call(running, account, "ListDetectionRules")["Rules"]]
    assert f"own_{MARKER.lower()}" not in names  # nothing was written


def test_a_starter_rule_fires_on_put_events(running: Fixture, account: Keys) -> None:
    client = sdk(running.server, account)
    _call(running, account, "EnableDetectionRule", RuleId="actiontrail_security_group_open")
    opened = make_event(
        account.account_id,
        2,
        eventName="AuthorizeSecurityGroup",
        requestParameters={"SecurityGroupId": f"sg-{MARKER}", "SourceCidrIp": "0.0.0.0/0"},
    )
    closed = make_event(
        account.account_id,
        2,
        eventName="AuthorizeSecurityGroup",
        requestParameters={"SecurityGroupId": f"sg-{MARKER}", "SourceCidrIp": "10.0.0.0/8"},
    )
    assert put_events(client, [opened, closed])["Accepted"] == 2

    findings = _findings(running, account, "actiontrail_security_group_open", 1)
    assert [(f["Severity"], f["EventIds"]) for f in findings] == [("high", [opened["eventId"]])]
    deadline = time.monotonic() + 10
    while True:  # the finding is an event of the account's own history
        answer = client.lookup_events(
            models.LookupEventsRequest(
                start_time=format_event_time(int(time.time()) - 3600),
                lookup_attribute=[
                    models.LookupEventsRequestLookupAttribute(
                        key="EventName", value="DetectionFinding"
                    )
                ],
            )
        ).body
        if answer.events or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert len(answer.events) == 1
    recorded = answer.events[0]
    assert recorded["eventType"] == "TrailhouseFinding"
    assert recorded["additionalEventData"]["eventIds"] == [opened["eventId"]]


def test_findings_are_listed_a_page_at_a_time(running: Fixture, account: Keys) -> None:
    client = sdk(running.server, account)
    _call(running, account, "EnableDetectionRule", RuleId="actiontrail_security_group_open")
    opened = [
        make_event(
            account.account_id,
            2,
            eventName="AuthorizeSecurityGroup",
            requestParameters={"SecurityGroupId": f"sg-page-{i}", "SourceCidrIp": "0.0.0.0/0"},
        )
        for i in range(5)
    ]
    assert put_events(client, opened)["Accepted"] == 5
    everything = _findings(running, account, "actiontrail_security_group_open", 5)
    pages: list[str] = []
    token = ""
    while True:
        params = {"RuleId": "actiontrail_security_group_open", "MaxResults": "2"}
        page = _call(
            running, account, "ListFindings", **params, **({"NextToken": token} if token else {})
        )
        pages += [f["FindingId"] for f in page["Findings"]]
        token = page.get("NextToken", "")
        if not token:
            break
    assert pages == [f["FindingId"] for f in everything]


def test_a_rule_is_tested_on_events_and_over_history(running: Fixture, account: Keys) -> None:
    client = sdk(running.server, account)
    name = f"detections-{MARKER.lower()}"
    client.create_trail(
        models.CreateTrailRequest(
            name=name, max_compute_project_arn=project_arn(account.account_id)
        )
    )
    client.start_logging(models.StartLoggingRequest(name=name))
    live = OWN_RULE.replace("name: own_", "name: live_")
    _call(running, account, "CreateDetectionRule", RuleYaml=live)
    planted = [
        make_event(account.account_id, 30, eventName=f"Create{MARKER}", sourceIpAddress=ip)
        for ip in ("198.51.100.7", "198.51.100.8", "203.0.113.9")
    ]
    noise = [make_event(account.account_id, 30, eventName="DescribeInstances") for _ in range(20)]
    burst = [
        make_event(account.account_id, 40 - i, eventName="DeleteInstance", requestId=f"{MARKER}{i}")
        for i in range(20)
    ]
    assert put_events(client, planted + noise + burst)["Accepted"] == 43

    tried = _call(
        running,
        account,
        "TestDetectionRule",
        RuleYaml=OWN_RULE,
        Events=orjson.dumps(planted).decode(),
    )
    assert [m["EventIds"] for m in tried["Matches"]] == [[e["eventId"]] for e in planted[:2]]

    wait_delivered(running.server, account, name)
    table = f"actiontrail_{name.replace('-', '_')}"
    today = time.strftime("%Y%m%d", time.gmtime())
    since = time.strftime("%Y%m%d", time.gmtime(time.time() - 3600))  # a run just past midnight
    history = _call(
        running,
        account,
        "TestDetectionRule",
        RuleYaml=OWN_RULE,
        Project=project_name(account.account_id),
        Table=table,
        StartDay=since,
        EndDay=today,
    )
    assert sorted(m["EventIds"][0] for m in history["Matches"]) == sorted(
        e["eventId"] for e in planted[:2]
    )
    assert history["JobId"] and history["EventsRead"] == 3  # the SQL keeps what the rule names
    jobs = _call(running, account, "ListSqlJobs")["Jobs"]
    assert history["JobId"] in {j["JobId"] for j in jobs}  # a real, metered job
    bursts = _call(
        running,
        account,
        "TestDetectionRule",
        RuleId="actiontrail_deletion_burst",  # a correlation, over the same history
        Project=project_name(account.account_id),
        Table=table,
        StartDay=since,
        EndDay=today,
    )
    assert [sorted(m["EventIds"]) for m in bursts["Matches"]] == [
        sorted(e["eventId"] for e in burst)
    ]
    assert bursts["Matches"][0]["Group"] == [burst[0]["userIdentity"]["principalId"]]

    # The live rule's findings were delivered with the rest of the account's events.
    rows = sql_rows(
        running.server,
        account,
        f"SELECT GET_JSON_OBJECT(event, '$.additionalEventData.eventIds') FROM {table} "
        "WHERE event_type = 'TrailhouseFinding'",
    )
    assert sorted(orjson.loads(r[0])[0] for r in rows) == sorted(e["eventId"] for e in planted[:2])
    bad_day = _refusal(
        running,
        account,
        "TestDetectionRule",
        RuleId="actiontrail_root_signin",
        Project=project_name(account.account_id),
        Table=table,
        StartDay="2026-01-01",
    )
    assert bad_day.code == "InvalidParameter" and "yyyymmdd" in bad_day.message
    client.delete_trail(models.DeleteTrailRequest(name=name))


def test_the_rules_command(running: Fixture, account: Keys, tmp_path: Path) -> None:
    env = cli_environment(running.server, tmp_path / "config", account)
    rule = tmp_path / "rule.yml"
    rule.write_text(OWN_RULE.replace("name: own_", "name: cli_"), encoding="utf-8")
    added = run_cli("rules", "add", str(rule), env=env)
    assert added.returncode == 0, added.stderr
    assert f"added rule cli_{MARKER.lower()} (enabled)" in added.stdout
    listed = run_cli("rules", "list", env=env)
    assert f"cli_{MARKER.lower()}" in listed.stdout and "actiontrail_root_signin" in listed.stdout
    events = tmp_path / "events.json"
    planted = make_event(
        account.account_id, 5, eventName=f"Create{MARKER}", sourceIpAddress="198.51.100.1"
    )
    events.write_bytes(orjson.dumps([planted]))
    tested = run_cli("rules", "test", "--file", str(rule), "--events", str(events), env=env)
    assert tested.returncode == 0, tested.stderr
    assert planted["eventId"] in tested.stdout and "1 matches in 1 events read" in tested.stdout
    assert run_cli("rules", "disable", f"cli_{MARKER.lower()}", env=env).returncode == 0
    bad = tmp_path / "bad.yml"
    bad.write_text(OWN_RULE.replace("eventName", "eventNmae"), encoding="utf-8")
    refused = run_cli("rules", "add", str(bad), env=env)
    assert refused.returncode == 1
    assert "InvalidParameter: RuleYaml line 8: field 'eventNmae'" in refused.stderr
    found = run_cli("rules", "findings", "--output", "json", env=env)
    assert found.returncode == 0 and "Findings" in orjson.loads(found.stdout)


class _Receiver(BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[dict[str, str], bytes]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Receiver.received.append((dict(self.headers.items()), body))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_a_finding_reaches_the_webhook_signed(running: Fixture, account: Keys) -> None:
    receiver = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=receiver.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{receiver.server_address[1]}/findings"
        webhook = _call(running, account, "SetFindingWebhook", Url=url)
        assert webhook["Url"] == url and len(webhook["Secret"]) >= 32
        _call(running, account, "EnableDetectionRule", RuleId="actiontrail_admin_policy_attached")
        attached = make_event(
            account.account_id,
            1,
            eventName="AttachPolicyToUser",
            requestParameters={"PolicyName": "AdministratorAccess", "UserName": MARKER},
        )
        assert put_events(sdk(running.server, account), [attached])["Accepted"] == 1
        deadline = time.monotonic() + 15
        while not _Receiver.received and time.monotonic() < deadline:
            time.sleep(0.1)
        (headers, body), *_ = _Receiver.received
        mac = hmac.new(
            webhook["Secret"].encode(),
            headers["X-Trailhouse-Timestamp"].encode() + b"." + body,
            hashlib.sha256,
        )
        assert headers["X-Trailhouse-Signature"] == "v1=" + mac.hexdigest()
        sent = orjson.loads(body)["finding"]
        assert sent["ruleId"] == "actiontrail_admin_policy_attached"
        assert sent["eventIds"] == [attached["eventId"]]
        deadline = time.monotonic() + 10
        while _call(running, account, "GetFindingWebhook")["Pending"]:
            assert time.monotonic() < deadline
            time.sleep(0.1)
    finally:
        receiver.shutdown()
        receiver.server_close()
    bad = _refusal(running, account, "SetFindingWebhook", Url="file:///etc/passwd")
    assert bad.code == "InvalidParameter" and "http://" in bad.message
    _call(running, account, "DeleteFindingWebhook")
    gone = _refusal(running, account, "GetFindingWebhook")
    assert (gone.status, gone.code) == (404, "EntityNotExist.FindingWebhook")


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://100.100.100.200/latest/meta-data/ram/security-credentials/",
        "http://[fd00:ec2::254]/",
        "http://2852039166/",
    ],
)
def test_a_webhook_to_a_metadata_service_is_refused(
    running: Fixture, account: Keys, url: str
) -> None:
    """Even on this server, whose operator allows private addresses (its receivers are on
    127.0.0.1), the cloud metadata services are refused, in any spelling."""
    refused = _refusal(running, account, "SetFindingWebhook", Url=url)
    assert (refused.status, refused.code) == (400, "InvalidParameter")
    assert "link-local or cloud metadata address, never called" in refused.message
    assert "Traceback" not in refused.message and "Errno" not in refused.message
