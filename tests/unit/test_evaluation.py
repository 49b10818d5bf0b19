"""Insights and rules evaluated in the helper process (`evaluation.py`) and, with
`detections_process` off, in the server, over real stores: a rule finds through either; no
helper starts while nothing is enabled; a rule changed applies to the events accepted after the
change answered; a helper killed mid-batch is replaced and the batch found all the same, once;
and no helper outlives a server killed with `kill -9`."""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from trailhouse.evaluation import NICENESS
from trailhouse.events.validation import format_event_time
from trailhouse.iam.principals import Caller, PrincipalKind
from trailhouse.runtime import Services, open_services
from trailhouse.settings import Settings

ACCOUNT, OTHER = "1000000000000001", "2000000000000002"
RULE = "actiontrail_security_group_open"
SRC = Path(__file__).resolve().parents[2] / "src"


def _root(account: str) -> Caller:
    return Caller(f"LTAI5t{account}", PrincipalKind.ROOT, account, "root", account)


def _event(name: str = "AuthorizeSecurityGroup", cidr: str = "0.0.0.0/0") -> bytes:
    return orjson.dumps(
        {
            "eventId": str(uuid.uuid4()),
            "eventTime": format_event_time(int(time.time())),
            "eventSource": "ecs.aliyuncs.com",
            "eventName": name,
            "eventType": "ApiCall",
            "eventRW": "Write",
            "acsRegion": "cn-hangzhou",
            "serviceName": "Ecs",
            "requestId": "R",
            "sourceIpAddress": "203.0.113.9",
            "userAgent": "test",
            "userIdentity": {"type": "ram-user", "principalId": "1", "userName": "u"},
            "requestParameters": {"SourceCidrIp": cidr, "SecurityGroupId": "sg-1"},
        }
    )


def _open(tmp_path: Path, in_helper: bool) -> Services:
    settings = Settings.load(
        {"data_dir": tmp_path / "data", "detections_process": in_helper}, environ={}
    )
    services = open_services(settings)
    services.accounts.create_account(ACCOUNT)
    services.accounts.create_account(OTHER)
    return services


@pytest.fixture(params=[True, False], ids=["helper", "in-process"])
def services(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Services]:
    opened = _open(tmp_path, request.param)
    yield opened
    opened.close()


def _put(services: Services, account: str, *events: bytes) -> None:
    result = services.ingest.put_events(_root(account), list(events))
    assert result.accepted == len(events), result.failed


def _found(services: Services, account: str = ACCOUNT) -> list[Any]:
    assert services.observed.drain(60)
    return services.detections.findings.list(account, limit=200)[0]


def _finding_events(services: Services) -> list[dict[str, Any]]:
    bodies = [orjson.loads(e.body) for e in services.stores.events.read_after(0, 10_000)]
    return [b for b in bodies if b.get("eventType") == "TrailhouseFinding"]


def _process_mode(services: Services) -> bool:
    return services.settings.detections_process


def test_a_rule_finds_and_its_finding_event_is_appended(services: Services) -> None:
    services.detections.set_enabled(ACCOUNT, RULE, True, 0)
    _put(services, ACCOUNT, _event(), _event(cidr="10.0.0.0/8"))
    _put(services, OTHER, _event())  # the other account enabled nothing
    found = _found(services)
    assert [f.rule_id for f in found] == [RULE]
    assert _found(services, OTHER) == []
    events = _finding_events(services)
    assert [e["additionalEventData"]["findingId"] for e in events] == [found[0].finding_id]
    helper = services.evaluation.helper_pid()
    assert (helper is not None) == _process_mode(services)
    if helper is not None and sys.platform.startswith("linux"):  # nicer than the server
        fields = Path(f"/proc/{helper}/stat").read_text().rsplit(")", 1)[1].split()
        assert int(fields[16]) == min(os.getpriority(os.PRIO_PROCESS, 0) + NICENESS, 19)


def test_nothing_enabled_starts_no_helper(services: Services) -> None:
    _put(services, ACCOUNT, *(_event() for _ in range(20)))
    services.insights.enable(OTHER, "ApiCallRateInsight")  # enabled, but gets no events
    services.evaluation.close_idle()
    assert _found(services) == []
    assert services.evaluation.helper_pid() is None


def test_a_change_applies_to_the_events_accepted_after_it_answered(services: Services) -> None:
    # Each change is followed at once by an event, without waiting for the queue: the rules
    # and whether the account wants evaluation at all are cached (5 s) in the server and the
    # helper, so only the change queued in order with the events makes the event see it. (An
    # event accepted before a change and evaluated after it may see either.)
    own_rule = textwrap.dedent(
        """\
        title: Regions described
        name: regions_described
        logsource: {product: alibabacloud, service: actiontrail}
        detection:
          selection: {eventName: DescribeRegions}
          condition: selection
        level: low
        """
    )
    _put(services, ACCOUNT, _event())  # the server notes that the account wants nothing
    assert _found(services) == []
    services.detections.set_enabled(ACCOUNT, RULE, True, 0)
    _put(services, ACCOUNT, _event())
    assert len(_found(services)) == 1
    services.detections.set_enabled(ACCOUNT, RULE, False, 0)
    _put(services, ACCOUNT, _event())
    assert len(_found(services)) == 1
    services.detections.set_enabled(ACCOUNT, RULE, True, 0)
    _put(services, ACCOUNT, _event())
    assert len(_found(services)) == 2
    own = services.detections.create_rule(ACCOUNT, own_rule, 0)
    _put(services, ACCOUNT, _event("DescribeRegions"))
    assert [f.rule_id for f in _found(services)].count(own.rule_id) == 1
    services.detections.delete_rule(ACCOUNT, own.rule_id)
    _put(services, ACCOUNT, _event("DescribeRegions"))
    assert len(_found(services)) == 3
    services.detections.set_enabled(ACCOUNT, RULE, False, 0)
    services.insights.enable(ACCOUNT, "ApiCallRateInsight")  # the helper still gets events
    _put(services, ACCOUNT, _event())
    assert len(_found(services)) == 3
    services.insights.disable(ACCOUNT, "ApiCallRateInsight")  # now none at all


@contextlib.contextmanager
def _metadata_locked(services: Services) -> Iterator[None]:
    """Hold the metadata store's write lock from another connection: a commit waits for it."""
    connection = sqlite3.connect(services.settings.data_dir / "metadata.sqlite", timeout=10)
    try:
        connection.execute("BEGIN IMMEDIATE")
        yield
    finally:
        connection.rollback()
        connection.close()


def _new_helper(services: Services, than: int | None, within: float = 30.0) -> int:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        pid = services.evaluation.helper_pid()
        if pid is not None and pid != than:
            return pid
        time.sleep(0.02)
    raise AssertionError(f"no helper other than {than} started")


@pytest.mark.parametrize("kills", [1, 2], ids=["replaced", "then-in-the-server"])
def test_a_helper_killed_mid_batch_leaves_the_batch_found_once(tmp_path: Path, kills: int) -> None:
    services = _open(tmp_path, in_helper=True)
    try:
        services.detections.set_enabled(ACCOUNT, RULE, True, 0)
        _put(services, ACCOUNT, _event("DescribeRegions"))
        assert _found(services) == []
        helper = _new_helper(services, None)
        with _metadata_locked(services):
            _put(services, ACCOUNT, _event())
            for kill in range(1, kills + 1):
                time.sleep(0.5)  # the helper waits for the lock, in the batch's finding commit
                assert services.observed.pending() == 1
                os.kill(helper, signal.SIGKILL)
                if kill < kills:  # its replacement is asked the same batch
                    helper = _new_helper(services, helper)
        found = _found(services)
        assert [f.rule_id for f in found] == [RULE]
        assert len(_finding_events(services)) == 1
        # The next batch starts a helper again: the server never keeps evaluating in itself.
        _put(services, ACCOUNT, _event())
        assert len(_found(services)) == 2
        assert services.evaluation.helper_pid() not in (None, helper)
    finally:
        services.close()


def _running(pid: int) -> bool:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_closing_stops_the_helper(tmp_path: Path) -> None:
    services = _open(tmp_path, in_helper=True)
    services.detections.set_enabled(ACCOUNT, RULE, True, 0)
    _put(services, ACCOUNT, _event())
    assert len(_found(services)) == 1
    helper = services.evaluation.helper_pid()
    assert helper is not None
    services.close()
    deadline = time.monotonic() + 10
    while _running(helper) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _running(helper)


def test_the_helper_ends_when_its_server_is_killed(tmp_path: Path) -> None:
    # A process that starts a helper, prints its pid and kills itself: no clean-up runs.
    script = textwrap.dedent(
        f"""
        import os, signal, sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from test_evaluation import ACCOUNT, RULE, _event, _found, _open, _put
        from pathlib import Path
        services = _open(Path({str(tmp_path)!r}), in_helper=True)
        services.detections.set_enabled(ACCOUNT, RULE, True, 0)
        _put(services, ACCOUNT, _event())
        assert len(_found(services)) == 1
        print(services.evaluation.helper_pid(), flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, env=env, timeout=120, check=False
    )
    assert done.returncode == -signal.SIGKILL, done.stderr
    helper = int(done.stdout.split()[0])
    deadline = time.monotonic() + 10
    while _running(helper) and time.monotonic() < deadline:
        time.sleep(0.05)
    if _running(helper):
        os.kill(helper, signal.SIGKILL)
        pytest.fail(f"the helper {helper} outlived the process that started it")


def test_a_helper_that_does_not_answer_in_time_is_killed_and_replaced(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # A timeout a loaded machine's helper start stays well within; the hang is a stopped
    # process (SIGSTOP), which answers nothing until killed.
    settings = Settings.load(
        {"data_dir": tmp_path / "data", "detections_process_timeout_seconds": 8.0}, environ={}
    )
    services = open_services(settings)
    try:
        services.accounts.create_account(ACCOUNT)
        services.detections.set_enabled(ACCOUNT, RULE, True, 0)
        _put(services, ACCOUNT, _event("DescribeRegions"))
        assert _found(services) == []
        hung = _new_helper(services, None)
        os.kill(hung, signal.SIGSTOP)
        _put(services, ACCOUNT, _event())
        deadline = time.monotonic() + 60
        while _running(hung) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _running(hung)  # killed by the watchdog, 8 s on
        assert [f.rule_id for f in _found(services)] == [RULE]
        assert len(_finding_events(services)) == 1
        assert "no answer within 8 s" in caplog.text
    finally:
        services.close()
