"""LookupEvents: one page of an account's recent history, with an opaque NextToken.

A NextToken is bound to the query that produced it: reusing it with other parameters (another
time range, attribute, direction or page size) is refused rather than silently answered. It
also carries the time window the first page resolved, so a query that leaves StartTime and
EndTime to their defaults ("the last 7 days") pages through one fixed window.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass

import orjson

from trailhouse.events.console_calls import WithoutConsoleReads
from trailhouse.events.model import (
    Direction,
    LoggedEvent,
    LookupKey,
    LookupPosition,
    LookupQuery,
)
from trailhouse.events.recorder import with_recorder
from trailhouse.events.visibility import shown_in, visible_page
from trailhouse.store.ports import EventLog, LogStats

MAX_RESULTS_LIMIT = 50
DEFAULT_MAX_RESULTS = 20
DEFAULT_WINDOW_SECONDS = 7 * 86400


class InvalidLookup(ValueError):
    """A lookup parameter is out of range; the message names it and says what is allowed."""

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(message)
        self.parameter = parameter


@dataclass(frozen=True, slots=True)
class LookupRequest:
    """A LookupEvents request with its parameters parsed (times in epoch seconds).

    `start` and `end` are None when the caller left them to their defaults: end = now,
    start = end − 7 days.
    """

    account_id: str
    start: int | None
    end: int | None
    direction: Direction
    conditions: tuple[tuple[LookupKey, str], ...]
    max_results: int
    next_token: str | None = None
    # The region asked (None: every region) and the account's global events storage region.
    region: str | None = None
    global_region: str | None = None
    # trailhouse's extension: leave out the web console's own reads (`events/console_calls.py`)
    hide_console_reads: bool = False


@dataclass(frozen=True, slots=True)
class LookupResult:
    """The page's events as LookupEvents shows them (each stored body with its recorder appended,
    `events/recorder.py`), in order, the window searched, the next token."""

    bodies: list[bytes]
    start: int
    end: int
    next_token: str | None
    hidden: int = 0  # console reads left out of this page (with `hide_console_reads`)


class LookupService:
    """Answers LookupEvents, and the other reads of the event log outside delivery."""

    def __init__(self, log: EventLog, retention_days: int, slack_seconds: int) -> None:
        self._log = log
        self._retention_seconds = retention_days * 86400
        self._slack_seconds = slack_seconds

    def lookup(self, request: LookupRequest, now: int) -> LookupResult:
        """One page of events; `next_token` is None on the last page."""
        if not 1 <= request.max_results <= MAX_RESULTS_LIMIT:
            raise InvalidLookup(
                "MaxResults", f"MaxResults must be between 1 and {MAX_RESULTS_LIMIT}"
            )
        fingerprint = _fingerprint(request)
        if request.next_token:
            after, start, end = _decode_token(request.next_token, fingerprint)
        else:
            after = None
            end = request.end if request.end is not None else now
            start = request.start if request.start is not None else end - DEFAULT_WINDOW_SECONDS
            self._check_window(start, end, now)
        shows = shown_in(request.region, request.global_region)
        console_reads = WithoutConsoleReads(shows) if request.hide_console_reads else None
        page = visible_page(
            self._log,
            LookupQuery(
                account_id=request.account_id,
                start=start,
                end=end,
                direction=request.direction,
                conditions=last_value_per_key(request.conditions),
                limit=request.max_results,
                after=after,
            ),
            console_reads or shows,
        )
        token = None
        if page.next_position is not None:
            token = _encode_token(page.next_position, start, end, fingerprint)
        bodies = [with_recorder(event.body, event.recorder) for event in page.events]
        hidden = console_reads.hidden if console_reads else 0
        return LookupResult(bodies, start, end, token, hidden)

    def stats(self) -> LogStats:
        """The event log's counts and sizes (for `/metrics`)."""
        return self._log.stats()

    def wait_searchable(self, timeout: float) -> bool:
        """Block until every accepted event can be looked up; False on timeout."""
        return self._log.catch_up(timeout=timeout)

    def events_after(self, seq: int, limit: int) -> list[LoggedEvent]:
        """Up to `limit` events of every account after log position `seq`, in log order (for
        a bulk copy such as the demo's table, not for answering callers)."""
        return self._log.read_after(seq, limit)

    def _check_window(self, start: int, end: int, now: int) -> None:
        """Refuse a time range that is reversed or reaches past the retained history."""
        if start > end:
            raise InvalidLookup("StartTime", "StartTime must not be later than EndTime")
        oldest = now - self._retention_seconds - self._slack_seconds
        if start < oldest:
            days = self._retention_seconds // 86400
            raise InvalidLookup(
                "StartTime",
                f"StartTime is more than {days} days ago; only the last {days} days "
                "of events can be searched (deliver older events to a trail)",
            )


def last_value_per_key(
    conditions: tuple[tuple[LookupKey, str], ...],
) -> tuple[tuple[LookupKey, str], ...]:
    """One condition per key: ActionTrail answers a key given twice with the results of the
    later one ("If you specify the same key for two query conditions, the system returns only
    the results that match the second condition"); different keys are ANDed."""
    latest: dict[LookupKey, str] = {}
    for key, value in conditions:
        latest.pop(key, None)
        latest[key] = value
    return tuple(latest.items())


def _fingerprint(request: LookupRequest) -> str:
    parts = [
        request.account_id,
        str(request.start),  # "None" when left to the default
        str(request.end),
        request.direction.value,
        str(request.max_results),
        *(f"{key.value}={value}" for key, value in request.conditions),
    ]
    if request.hide_console_reads:  # added only when set: earlier tokens stay valid
        parts.append("hide-console-reads")
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]


def _encode_token(position: LookupPosition, start: int, end: int, fingerprint: str) -> str:
    raw = orjson.dumps(
        {"t": position.event_time, "s": position.seq, "w": [start, end], "q": fingerprint}
    )
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_token(token: str, fingerprint: str) -> tuple[LookupPosition, int, int]:
    """The position, start and end a token carries; InvalidLookup for a foreign token."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        data = orjson.loads(raw)
        position = LookupPosition(_whole(data["t"]), _whole(data["s"]))
        start, end = (_whole(value) for value in data["w"])
        issued_for = data["q"]
    except (binascii.Error, ValueError, KeyError, TypeError, orjson.JSONDecodeError):
        raise InvalidLookup(
            "NextToken", "NextToken is not a token this server issued; drop it to start over"
        ) from None
    if issued_for != fingerprint:
        raise InvalidLookup(
            "NextToken",
            "NextToken belongs to a query with other parameters; repeat the StartTime, EndTime, "
            "Direction, MaxResults and LookupAttribute of the call that returned it",
        )
    return position, start, end


def _whole(value: object) -> int:
    """A token's integer as this server wrote it (not a string or a float); ValueError if not."""
    if type(value) is not int:
        raise ValueError(value)
    return value
