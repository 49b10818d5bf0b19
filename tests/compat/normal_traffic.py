"""Normal traffic for the detection replay: `gen_events.py` (the shared generator, copied
verbatim into tests/data) rewritten to one account and made the traffic of a well-run account.

The generator draws every API independently of who calls it, so its stream holds, at a steady
rate, exactly the acts the starter rules exist to find: trails stopped, deleted or changed
(about 70 times in 9,000 events), the root identity making writes and signing in, and every
console sign-in marked `isMFAChecked: "false"` even when its own `MFAUsed` says "true". A real
account doing those things all day is the incident, not the baseline (docs/detections.md,
"Normal traffic"). So, and only so, the normal stream is changed: trail changes become
DescribeTrails reads, the root identity only reads (its writes are made by a RAM user) and
console sign-ins use MFA. Nothing else is touched.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import uuid
from pathlib import Path
from typing import Any

GENERATOR = Path(__file__).parent.parent / "data" / "gen_events.py"
TRAIL_CHANGES = {"StopLogging", "DeleteTrail", "UpdateTrail"}


def _generator_class() -> Any:
    spec = importlib.util.spec_from_file_location("gen_events", GENERATOR)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.EventGenerator


def raw_events(seed: int, start: int, minutes: int, per_minute: int) -> list[dict[str, Any]]:
    """The generator's events over [start, start + minutes), as it makes them."""
    generator = _generator_class()(
        seed=seed, start=dt.datetime.fromtimestamp(start, tz=dt.UTC), days=1
    )
    generator.span = float(minutes * 60)
    events: list[dict[str, Any]] = generator.batch(minutes * per_minute)
    return events


def normal_events(
    account_id: str, seed: int, start: int, minutes: int, per_minute: int
) -> list[dict[str, Any]]:
    """A well-run account's traffic over [start, start + minutes), time-ordered."""
    events = raw_events(seed, start, minutes, per_minute)
    for event in events:
        event["eventId"] = str(uuid.uuid4())  # the generator's ids repeat with its seed
        event["recipientAccountId"] = account_id
        identity = event["userIdentity"]
        identity["accountId"] = account_id
        if event["eventName"] in TRAIL_CHANGES:
            event["eventName"], event["eventRW"] = "DescribeTrails", "Read"
        if identity["type"] == "root-account" and event["eventRW"] == "Write":
            identity["type"], identity["userName"] = "ram-user", "operator"
        if event["eventName"] == "ConsoleSignin":
            event["requestParameters"]["MFAUsed"] = "true"
            event["additionalEventData"]["isMFAChecked"] = "true"
    events.sort(key=lambda e: str(e["eventTime"]))
    return events
