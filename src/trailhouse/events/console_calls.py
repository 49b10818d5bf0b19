"""How an audit event says a call came through the web console, and which events are the
console's own reads (hidden by default in the console's Event history).

ActionTrail records a call made from its console as an `ApiCall` whose `userAgent` names the
console (`actiontrail.console.aliyun.com`, `ram.console.aliyun.com`), not the browser. trailhouse
does the same and keeps the browser's user agent in `additionalEventData`, beside `callVia`
"console". A signed API call never carries `additionalEventData`, and a producer's PutEvents
event is recorded by its key, not by trailhouse, so neither can pass for a console call.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from trailhouse.events.model import LoggedEvent
from trailhouse.events.recorder import TRAILHOUSE

CALL_VIA = "callVia"
CONSOLE = "console"
BROWSER_USER_AGENT = "browserUserAgent"
_MARK = b'"callVia":"console"'


def console_user_agent(service_name: str) -> str:
    """The `userAgent` of a console call to `service_name`, as ActionTrail writes it."""
    return f"{service_name.lower()}.console.aliyun.com"


def console_call_data(browser_user_agent: str) -> dict[str, Any]:
    """The `additionalEventData` of a console call: its mark and the browser's user agent."""
    return {CALL_VIA: CONSOLE, BROWSER_USER_AGENT: browser_user_agent}


def is_console_read(body: bytes, recorder: str) -> bool:
    """True for a read the web console made (any user of the account): an event trailhouse
    recorded itself, with eventRW Read and `additionalEventData.callVia` "console"."""
    if recorder != TRAILHOUSE or _MARK not in body:
        return False
    try:
        event = orjson.loads(body)
    except orjson.JSONDecodeError:
        return False
    data = event.get("additionalEventData")
    return (
        event.get("eventRW") == "Read" and isinstance(data, dict) and data.get(CALL_VIA) == CONSOLE
    )


class WithoutConsoleReads:
    """A LookupEvents filter (`events/visibility.py`) that also leaves out the console's own
    reads, counting those it left out before the page filled."""

    def __init__(self, shows: Callable[[LoggedEvent], bool]) -> None:
        self._shows = shows
        self.hidden = 0

    def __call__(self, event: LoggedEvent) -> bool:
        if not self._shows(event):
            return False
        if is_console_read(event.body, event.recorder):
            self.hidden += 1
            return False
        return True
