"""No byte of an event's fields changes how it is indexed.

The SQLite log once joined the indexed fields with `\\x1f` (and resource values with `\\x1e`): a
resource name holding `\\x1f` shifted every field after it, so an event by `mallory` calling
`DeleteTrail` was found under another user and event name, and not under its own. Here every
control character sits in every indexed field, and each event is found by its true values only,
on every adapter.
"""

from __future__ import annotations

import dataclasses

import pytest
from records import ACCOUNT, BASE_TIME, make_record

from trailhouse.events.model import Direction, EventRecord, LookupKey, LookupQuery
from trailhouse.store import Stores

# C0 (NUL apart: refused, see test_a_nul_in_an_indexed_field_is_refused_naming_it), DEL and C1.
CONTROL = [chr(code) for code in (*range(0x01, 0x20), 0x7F, *range(0x80, 0xA0))]
WINDOW = (BASE_TIME - 86400, BASE_TIME + 86400)


def _steering(index: int, char: str) -> EventRecord:
    """An event whose every indexed field holds `char`, alone and next to the separators."""

    def field(name: str) -> str:
        return f"{name}{char}\x1f{char}\x1e{index}"

    record = make_record(
        event_time=BASE_TIME + index,
        event_id=field("id"),
        call=(field("Svc"), field("DeleteTrail"), "Write", field("ACS::X"), field("res")),
        user=(field("mallory"), field("LTAI")),
        # The keys issue 20 added: an assumed role's name is read from the event's body.
        extras=(field("ApiCall"), field("10.0.0.1"), "true", field("role")),
    )
    second_name = f"second{char}{index}"
    return dataclasses.replace(record, resource_names=(*record.resource_names, second_name))


def _found(stores: Stores, key: LookupKey, value: str) -> list[str]:
    query = LookupQuery(ACCOUNT, *WINDOW, Direction.BACKWARD, ((key, value),), 100)
    return [event.event_id for event in stores.events.lookup(query).events]


@pytest.fixture
def steering(stores: Stores) -> list[EventRecord]:
    records = [_steering(index, char) for index, char in enumerate(CONTROL)]
    stores.events.append(records)
    assert stores.events.catch_up()
    return records


def test_each_event_is_found_by_its_true_values_only(
    stores: Stores, steering: list[EventRecord]
) -> None:
    for record in steering:
        truths = [
            (LookupKey.EVENT_NAME, record.event_name),
            (LookupKey.SERVICE_NAME, record.service_name),
            (LookupKey.USER, record.user_name),
            (LookupKey.EVENT_ACCESS_KEY_ID, record.access_key_id),
            (LookupKey.EVENT_RW, record.event_rw),
            (LookupKey.EVENT_TYPE, record.event_type),
            (LookupKey.SOURCE_IP_ADDRESS, record.source_ip),
            (LookupKey.ROLE_NAME, record.role_name),
            (LookupKey.SENSITIVE_ACTION, record.sensitive),
            *((LookupKey.RESOURCE_TYPE, value) for value in record.resource_types),
            *((LookupKey.RESOURCE_NAME, value) for value in record.resource_names),
        ]
        for key, value in truths:
            assert value is not None
            found = _found(stores, key, value)
            shared = key in (LookupKey.EVENT_RW, LookupKey.SENSITIVE_ACTION)  # one value for all
            expected = [r.event_id for r in steering if r is record or shared]
            assert sorted(found) == sorted(expected), (key, value)
        page = stores.events.lookup(
            LookupQuery(
                ACCOUNT, *WINDOW, Direction.BACKWARD, ((LookupKey.EVENT_ID, record.event_id),), 5
            )
        )
        assert [event.event_id for event in page.events] == [record.event_id]
        assert page.events[0].body == record.body


def test_no_piece_of_a_field_is_indexed_as_a_value(
    stores: Stores, steering: list[EventRecord]
) -> None:
    keys = (
        LookupKey.USER,
        LookupKey.EVENT_NAME,
        LookupKey.RESOURCE_NAME,
        LookupKey.EVENT_TYPE,
        LookupKey.SOURCE_IP_ADDRESS,
        LookupKey.ROLE_NAME,
    )
    for key in keys:
        # Not "ApiCall": EventType ApiCall is every event of no other known type, by design
        # (validation lets no other value in; docs/storage.md).
        for piece in ("mallory", "DeleteTrail", "res", "Write", "0", "1", "role", "10.0.0.1"):
            assert _found(stores, key, piece) == [], (key, piece)


def test_delivery_reads_each_event_whole(stores: Stores, steering: list[EventRecord]) -> None:
    read = {event.event_id: event for event in stores.events.read_after(0, 1000)}
    assert sorted(read) == sorted(record.event_id for record in steering)
    for record in steering:
        assert read[record.event_id].account_id == ACCOUNT
        assert read[record.event_id].body == record.body
