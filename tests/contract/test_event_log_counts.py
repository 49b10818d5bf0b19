"""The EventLog's per-day counts (DescribeUserLogCount): every adapter counts exactly the
account's events in the window, per UTC day, and agrees with the paging default."""

from __future__ import annotations

import pytest
from records import ACCOUNT, BASE_TIME, OTHER_ACCOUNT, history

from trailhouse.events.model import EventRecord
from trailhouse.store import Stores
from trailhouse.store.ports import EventLog

DAY = 86400


@pytest.fixture
def records(stores: Stores) -> list[EventRecord]:
    """60 events of ACCOUNT over two days, 30 of OTHER_ACCOUNT at the same times."""
    mine = history(60)
    stores.events.append(mine[:25])
    stores.events.append(history(30, account_id=OTHER_ACCOUNT, seed=3))
    stores.events.append(mine[25:])
    assert stores.events.catch_up()
    return mine


def expected(records: list[EventRecord], start: int, end: int) -> dict[int, int]:
    counts: dict[int, int] = {}
    for record in records:
        if start <= record.event_time <= end:
            day = record.event_time - record.event_time % DAY
            counts[day] = counts.get(day, 0) + 1
    return counts


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (BASE_TIME - DAY, BASE_TIME + 5 * DAY),  # everything
        (BASE_TIME + 3700, BASE_TIME + DAY + 3700),  # a window cutting into both days
        (BASE_TIME, BASE_TIME),  # one second: the first two events
        (BASE_TIME + 10 * DAY, BASE_TIME + 11 * DAY),  # nothing
    ],
)
def test_counts_per_day_are_the_accounts_events_in_the_window(
    stores: Stores, records: list[EventRecord], start: int, end: int
) -> None:
    counted = stores.events.count_by_day(ACCOUNT, start, end)
    assert counted == expected(records, start, end)
    assert counted == EventLog.count_by_day(stores.events, ACCOUNT, start, end)
    if start == BASE_TIME - DAY:
        assert sum(counted.values()) == 60 and len(counted) == 2


def test_an_account_without_events_counts_nothing(
    stores: Stores, records: list[EventRecord]
) -> None:
    assert stores.events.count_by_day("9999888877776666", BASE_TIME - DAY, BASE_TIME + DAY) == {}
    other = stores.events.count_by_day(OTHER_ACCOUNT, BASE_TIME - DAY, BASE_TIME + 5 * DAY)
    assert sum(other.values()) == 30
