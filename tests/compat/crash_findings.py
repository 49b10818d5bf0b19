"""The crash points of detections (`finding.committed`, `finding.recorded`): a rule enabled on
the prepared store fires on every event the armed run sends, so the kill lands between a
finding's commit and its event's append, or between the append and the marker's removal. After
the restart every finding has its `TrailhouseFinding` event in the history exactly once, no
such event names a finding that does not exist, and no match has two findings."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from compat_support import Keys, Server, rpc_client
from crash_support import DAY, Store

from trailhouse.events.validation import format_event_time
from trailhouse.runtime import open_services
from trailhouse.settings import Settings

CRASH_RULE = """title: Crash probe called
name: crash_probe
logsource:
  product: alibabacloud
  service: actiontrail
detection:
  selection:
    eventName: CrashProbe
  condition: selection
level: low
"""
# The server's pass over unrecorded findings runs at start and every 10 s.
_SETTLE_SECONDS = 40.0


def enable_crash_rule(store: Store) -> None:
    """Add and enable a rule matching every event the armed run sends (the store is stopped)."""
    services = open_services(Settings.load({"data_dir": store.data_dir}, environ={}))
    try:
        now_ms = int(time.time() * 1000)
        account_id = store.keys.account_id
        info = services.detections.create_rule(account_id, CRASH_RULE, now_ms)
        services.detections.set_enabled(account_id, info.rule_id, True, now_ms)
    finally:
        services.close()


def check_findings_once(server: Server, store: Store) -> None:
    """Each finding's event is in the history once (waiting for the pass that records what a
    killed process left unrecorded), none without its finding, and one finding per match."""
    deadline = time.monotonic() + _SETTLE_SECONDS
    while True:
        findings = _findings(server, store.keys)
        recorded = _finding_events(server, store.keys)
        doubled = [event_id for event_id, n in recorded.items() if n > 1]
        assert not doubled, f"{len(doubled)} findings' events are in the history twice"
        wanted = {"finding-" + finding["FindingId"] for finding in findings}
        strays = set(recorded) - wanted
        assert not strays, f"{len(strays)} finding events name no finding"
        missing = wanted - set(recorded)
        if not missing:
            break
        assert time.monotonic() < deadline, f"{len(missing)} findings' events were never recorded"
        time.sleep(1.0)
    assert findings, "the killed run committed no finding"
    matches = Counter(tuple(finding["EventIds"]) for finding in findings)
    twice = [events for events, n in matches.items() if n > 1]
    assert not twice, f"{len(twice)} matches have two findings"


def _findings(server: Server, keys: Keys) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    token = ""
    with rpc_client(server, keys) as rpc:
        while True:
            page = rpc.call(
                "ListFindings", {"MaxResults": "200", **({"NextToken": token} if token else {})}
            )
            found.extend(page["Findings"])
            token = page.get("NextToken", "")
            if not token:
                return found


def _finding_events(server: Server, keys: Keys) -> Counter[str]:
    """How many times each finding's event is in the history (findings are made now)."""
    now = time.time()
    counts: Counter[str] = Counter()
    parameters = {
        "StartTime": format_event_time(int(now - DAY)),
        "EndTime": format_event_time(int(now + 60)),
        "MaxResults": "50",
        "LookupAttribute.1.Key": "EventName",
        "LookupAttribute.1.Value": "DetectionFinding",
    }
    with rpc_client(server, keys) as rpc:
        while True:
            page = rpc.call("LookupEvents", parameters)
            counts.update(event["eventId"] for event in page["Events"])
            token = page.get("NextToken")
            if not token:
                return counts
            parameters["NextToken"] = token
