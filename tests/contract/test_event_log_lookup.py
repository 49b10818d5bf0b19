"""The EventLog lookup contract: every LookupKey, both directions, paging, windows, accounts."""

from __future__ import annotations

import pytest
from records import ACCOUNT, BASE_TIME, OTHER_ACCOUNT, history, make_record

from trailhouse.events.model import (
    Direction,
    EventRecord,
    LookupKey,
    LookupPosition,
    LookupQuery,
)
from trailhouse.store import Stores
from trailhouse.store.ports import EventLog

WHOLE_HISTORY = (BASE_TIME - 86400, BASE_TIME + 10 * 86400)

# One condition per LookupKey, each matching some but not all of `history(60)`.
CONDITIONS = [
    (LookupKey.SERVICE_NAME, "Oss"),
    (LookupKey.EVENT_NAME, "StopInstance"),
    (LookupKey.USER, "bob"),
    (LookupKey.EVENT_ACCESS_KEY_ID, "LTAI5tAliceKey0000001"),
    (LookupKey.EVENT_RW, "Write"),
    (LookupKey.EVENT_RW, "Read"),
    (LookupKey.RESOURCE_TYPE, "ACS::OSS::Bucket"),
    (LookupKey.RESOURCE_TYPE, "ACS::VPC::VSwitch"),  # second of "A;B"
    (LookupKey.RESOURCE_NAME, "bkt-finance"),  # second of "bkt-audit-logs;bkt-finance"
    (LookupKey.RESOURCE_NAME, "i-bp1zz9yy8xx7"),  # second of "i-…,i-…"
    (LookupKey.RESOURCE_NAME, "bkt-audit-logs"),  # alone and first of a list
    (LookupKey.EVENT_TYPE, "ConsoleOperation"),
    (LookupKey.EVENT_TYPE, "ApiCall"),
    (LookupKey.SOURCE_IP_ADDRESS, "42.120.*.*"),  # masked, as services send it
    (LookupKey.SOURCE_IP_ADDRESS, "ecs.aliyuncs.com"),
    (LookupKey.SENSITIVE_ACTION, "true"),
    (LookupKey.SENSITIVE_ACTION, "false"),  # stated false, or not stated at all
    (LookupKey.ROLE_NAME, "ops-role"),
    (LookupKey.ROLE_NAME, "AliyunServiceRoleForEcs"),
]


def matches(record: EventRecord, key: LookupKey, value: str) -> bool:
    """The reference semantics of one LookupEvents condition."""
    match key:
        case LookupKey.SERVICE_NAME:
            return record.service_name == value
        case LookupKey.EVENT_NAME:
            return record.event_name == value
        case LookupKey.USER:
            return record.user_name == value
        case LookupKey.EVENT_ID:
            return record.event_id == value
        case LookupKey.RESOURCE_TYPE:
            return value in record.resource_types
        case LookupKey.RESOURCE_NAME:
            return value in record.resource_names
        case LookupKey.EVENT_RW:
            return record.event_rw == value
        case LookupKey.EVENT_ACCESS_KEY_ID:
            return record.access_key_id == value
        case LookupKey.EVENT_TYPE:
            return record.event_type == value
        case LookupKey.SOURCE_IP_ADDRESS:
            return record.source_ip == value
        case LookupKey.SENSITIVE_ACTION:
            return record.sensitive == value
        case LookupKey.ROLE_NAME:
            return record.role_name == value


@pytest.fixture
def records(stores: Stores) -> list[EventRecord]:
    """60 events of ACCOUNT over two days, 30 of OTHER_ACCOUNT with the same attributes."""
    mine = history(60)
    stores.events.append(mine[:25])
    stores.events.append(history(30, account_id=OTHER_ACCOUNT, seed=3))
    stores.events.append(mine[25:])
    assert stores.events.catch_up()
    return mine


def expected_ids(
    log: EventLog,
    records: list[EventRecord],
    direction: Direction,
    conditions: tuple[tuple[LookupKey, str], ...] = (),
    window: tuple[int, int] = WHOLE_HISTORY,
) -> list[str]:
    """Matching event ids in (event_time, seq) order, seqs taken from the log itself."""
    seq = {event.event_id: event.seq for event in log.read_after(0, 10_000)}
    chosen = [
        r
        for r in records
        if window[0] <= r.event_time <= window[1]
        and all(matches(r, key, value) for key, value in conditions)
    ]
    chosen.sort(key=lambda r: (r.event_time, seq[r.event_id]))
    ids = [r.event_id for r in chosen]
    return ids[::-1] if direction is Direction.BACKWARD else ids


def collect(log: EventLog, query: LookupQuery) -> list[str]:
    """Every page of `query`, following next_position until it is None."""
    ids: list[str] = []
    for _ in range(1000):
        page = log.lookup(query)
        assert len(page.events) <= query.limit
        assert all(event.account_id == query.account_id for event in page.events)
        ids.extend(event.event_id for event in page.events)
        if page.next_position is None:
            return ids
        last = page.events[-1]
        assert page.next_position == LookupPosition(last.event_time, last.seq)
        query = LookupQuery(
            query.account_id,
            query.start,
            query.end,
            query.direction,
            query.conditions,
            query.limit,
            page.next_position,
        )
    raise AssertionError("lookup paging did not end")


def query(
    conditions: tuple[tuple[LookupKey, str], ...] = (),
    direction: Direction = Direction.BACKWARD,
    limit: int = 50,
    window: tuple[int, int] = WHOLE_HISTORY,
    account_id: str = ACCOUNT,
) -> LookupQuery:
    return LookupQuery(account_id, window[0], window[1], direction, conditions, limit)


@pytest.mark.parametrize("direction", list(Direction))
@pytest.mark.parametrize(("key", "value"), CONDITIONS, ids=lambda v: getattr(v, "value", v))
def test_lookup_by_each_key_pages_through_all_matches(
    stores: Stores, records: list[EventRecord], key: LookupKey, value: str, direction: Direction
) -> None:
    expected = expected_ids(stores.events, records, direction, ((key, value),))
    assert 0 < len(expected) < len(records)
    found = collect(stores.events, query(((key, value),), direction, limit=3))
    assert found == expected  # same order, no duplicates, no gaps


def test_every_lookup_key_is_covered() -> None:
    assert {key for key, _ in CONDITIONS} | {LookupKey.EVENT_ID} == set(LookupKey)


@pytest.mark.parametrize("direction", list(Direction))
def test_lookup_by_event_id(
    stores: Stores, records: list[EventRecord], direction: Direction
) -> None:
    wanted = records[17]
    page = stores.events.lookup(query(((LookupKey.EVENT_ID, wanted.event_id),), direction))
    assert [event.event_id for event in page.events] == [wanted.event_id]
    assert page.events[0].body == wanted.body
    assert page.next_position is None


@pytest.mark.parametrize("direction", list(Direction))
def test_lookup_without_conditions_pages_through_the_account(
    stores: Stores, records: list[EventRecord], direction: Direction
) -> None:
    found = collect(stores.events, query(direction=direction, limit=7))
    assert found == expected_ids(stores.events, records, direction)
    assert len(found) == 60


def test_backward_is_newest_first(stores: Stores, records: list[EventRecord]) -> None:
    page = stores.events.lookup(query(limit=10))
    positions = [(event.event_time, event.seq) for event in page.events]
    assert positions == sorted(positions, reverse=True)
    assert page.events[0].event_time == max(r.event_time for r in records)


def test_time_window_bounds_are_inclusive(stores: Stores, records: list[EventRecord]) -> None:
    start, end = BASE_TIME + 5 * 3700, BASE_TIME + 9 * 3700
    for direction in Direction:
        found = collect(stores.events, query(direction=direction, limit=4, window=(start, end)))
        assert found == expected_ids(stores.events, records, direction, window=(start, end))
        assert len(found) == 10  # five timestamps, both ends included, two events each
    narrower = collect(stores.events, query(window=(start + 1, end - 1)))
    assert len(narrower) == 6
    assert collect(stores.events, query(window=(start + 1, start + 3699))) == []


def test_two_conditions_are_anded(stores: Stores, records: list[EventRecord]) -> None:
    conditions = ((LookupKey.EVENT_RW, "Write"), (LookupKey.RESOURCE_NAME, "bkt-finance"))
    found = collect(stores.events, query(conditions, limit=2))
    expected = expected_ids(stores.events, records, Direction.BACKWARD, conditions)
    assert found == expected
    assert len(expected) > 0
    either = expected_ids(stores.events, records, Direction.BACKWARD, conditions[:1])
    assert len(expected) < len(either)
    contradiction = ((LookupKey.SERVICE_NAME, "Ecs"), (LookupKey.EVENT_NAME, "PutObject"))
    assert collect(stores.events, query(contradiction)) == []


def test_other_accounts_events_are_never_returned(
    stores: Stores, records: list[EventRecord]
) -> None:
    for conditions in [(), ((LookupKey.SERVICE_NAME, "Oss"),)]:
        mine = collect(stores.events, query(conditions))
        assert set(mine) <= {r.event_id for r in records}
        theirs = collect(stores.events, query(conditions, account_id=OTHER_ACCOUNT, limit=7))
        assert theirs and not set(theirs) & set(mine)
    assert collect(stores.events, query(account_id="1111222233334444")) == []
    other_id = stores.events.lookup(query(account_id=OTHER_ACCOUNT)).events[0].event_id
    assert collect(stores.events, query(((LookupKey.EVENT_ID, other_id),))) == []


def test_next_position_only_when_more_rows_exist(stores: Stores) -> None:
    stores.events.append([make_record(event_time=BASE_TIME + i) for i in range(4)])
    assert stores.events.catch_up()
    assert stores.events.lookup(query(limit=4)).next_position is None
    assert stores.events.lookup(query(limit=5)).next_position is None
    page = stores.events.lookup(query(limit=3))
    assert page.next_position == LookupPosition(BASE_TIME + 1, page.events[-1].seq)


def test_paging_splits_events_of_the_same_second(stores: Stores) -> None:
    same_second = [make_record(event_time=BASE_TIME + 60) for _ in range(9)]
    stores.events.append(same_second[:4])
    stores.events.append(same_second[4:])
    assert stores.events.catch_up()
    for direction in Direction:
        found = collect(stores.events, query(direction=direction, limit=2))
        assert sorted(found) == sorted(r.event_id for r in same_second)
        assert len(found) == len(set(found)) == 9


@pytest.mark.parametrize(
    "conditions",
    [
        ((LookupKey.SENSITIVE_ACTION, "false"), (LookupKey.SERVICE_NAME, "Oss")),
        ((LookupKey.SERVICE_NAME, "Ecs"), (LookupKey.SENSITIVE_ACTION, "true")),
        ((LookupKey.SOURCE_IP_ADDRESS, "42.120.*.*"), (LookupKey.EVENT_RW, "Write")),
        ((LookupKey.EVENT_TYPE, "ApiCall"), (LookupKey.ROLE_NAME, "ops-role")),
        ((LookupKey.USER, "alice"), (LookupKey.EVENT_TYPE, "ApiCall")),
        ((LookupKey.RESOURCE_NAME, "bkt-audit-logs"), (LookupKey.SENSITIVE_ACTION, "false")),
    ],
    ids=lambda c: "+".join(f"{k.value}={v}" for k, v in c),
)
def test_the_new_keys_combine_with_the_others(
    stores: Stores, records: list[EventRecord], conditions: tuple[tuple[LookupKey, str], ...]
) -> None:
    for direction in Direction:
        expected = expected_ids(stores.events, records, direction, conditions)
        assert collect(stores.events, query(conditions, direction, limit=2)) == expected
    alone = expected_ids(stores.events, records, Direction.BACKWARD, conditions[:1])
    assert len(expected) < len(alone)
