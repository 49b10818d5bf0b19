"""NextToken handling of the lookup service: opaque, bound to its query, refused otherwise."""

from __future__ import annotations

from dataclasses import replace

import pytest

from trailhouse.events.lookup import InvalidLookup, LookupRequest, LookupService
from trailhouse.events.model import (
    Direction,
    LoggedEvent,
    LookupKey,
    LookupPage,
    LookupPosition,
    LookupQuery,
)
from trailhouse.store.ports import EventLog, LogStats


class PagedLog(EventLog):
    """A tiny in-memory log that answers lookups page by page (stands in for no real part)."""

    def __init__(self) -> None:
        self.queries: list[LookupQuery] = []

    def lookup(self, query: LookupQuery) -> LookupPage:
        self.queries.append(query)
        event = LoggedEvent(
            seq=7,
            account_id=query.account_id,
            event_id="e",
            event_time=100,
            accepted_ms=0,
            body=b"{}",
        )
        return LookupPage([event], LookupPosition(100, 7))

    def append(self, records):
        raise NotImplementedError  # type: ignore[no-untyped-def]

    def read_after(self, seq, limit):
        raise NotImplementedError  # type: ignore[no-untyped-def]

    def recorders(self, records):
        raise NotImplementedError  # type: ignore[no-untyped-def]

    def last_seq(self) -> int:
        return 0

    def catch_up(self, timeout: float = 10.0) -> bool:
        return True

    def purge(self, older_than: int) -> int:
        return 0

    def stats(self) -> LogStats:
        return LogStats(0, 0, 0, 0)

    def close(self) -> None:
        pass


NOW = 100 * 86400
REQUEST = LookupRequest(
    account_id="1234567890123456",
    start=NOW - 1000,
    end=NOW,
    direction=Direction.BACKWARD,
    conditions=((LookupKey.EVENT_NAME, "StopInstance"),),
    max_results=20,
)


def test_a_token_continues_the_same_query_from_its_position() -> None:
    log = PagedLog()
    service = LookupService(log, retention_days=90, slack_seconds=900)
    first = service.lookup(REQUEST, now=NOW)
    assert first.next_token
    service.lookup(replace(REQUEST, next_token=first.next_token), now=NOW)
    assert log.queries[1].after == LookupPosition(100, 7)


@pytest.mark.parametrize(
    "changed",
    [
        {"start": NOW - 999},
        {"end": NOW - 1},
        {"direction": Direction.FORWARD},
        {"max_results": 21},
        {"conditions": ((LookupKey.EVENT_NAME, "StartInstance"),)},
        {"account_id": "6543210987654321"},
    ],
)
def test_a_token_from_another_query_is_refused(changed: dict[str, object]) -> None:
    service = LookupService(PagedLog(), retention_days=90, slack_seconds=900)
    token = service.lookup(REQUEST, now=NOW).next_token
    with pytest.raises(InvalidLookup, match="belongs to a query with other parameters"):
        service.lookup(replace(REQUEST, next_token=token, **changed), now=NOW)  # type: ignore[arg-type]


@pytest.mark.parametrize("token", ["garbage!!", "eyJ4Ijox", "", "e30"])
def test_a_forged_token_is_refused(token: str) -> None:
    service = LookupService(PagedLog(), retention_days=90, slack_seconds=900)
    if not token:
        assert service.lookup(replace(REQUEST, next_token=token), now=NOW).next_token
        return
    with pytest.raises(InvalidLookup, match="not a token this server issued"):
        service.lookup(replace(REQUEST, next_token=token), now=NOW)


def test_windows_outside_the_history_are_refused() -> None:
    service = LookupService(PagedLog(), retention_days=90, slack_seconds=900)
    now = 100 * 86400
    with pytest.raises(InvalidLookup, match="later than EndTime"):
        service.lookup(replace(REQUEST, start=now, end=now - 1), now=now)
    with pytest.raises(InvalidLookup, match="more than 90 days ago"):
        service.lookup(replace(REQUEST, start=now - 91 * 86400, end=now), now=now)
    service.lookup(replace(REQUEST, start=now - 90 * 86400, end=now), now=now)


def test_default_windows_stay_fixed_across_pages() -> None:
    log = PagedLog()
    service = LookupService(log, retention_days=90, slack_seconds=900)
    first = service.lookup(replace(REQUEST, start=None, end=None), now=NOW)
    assert (first.start, first.end) == (NOW - 7 * 86400, NOW)
    later = service.lookup(
        replace(REQUEST, start=None, end=None, next_token=first.next_token), now=NOW + 60
    )
    assert (later.start, later.end) == (first.start, first.end)
    assert (log.queries[1].start, log.queries[1].end) == (first.start, first.end)
