"""Who recorded each event, on every adapter: kept through append, read, lookup and reopen, and
found again for a duplicate, so that ingest can tell another principal's copy of an event id."""

from __future__ import annotations

import dataclasses

from records import ACCOUNT, BASE_TIME, OTHER_ACCOUNT, make_record

from trailhouse.events.model import Direction, LookupKey, LookupQuery
from trailhouse.settings import Settings
from trailhouse.store import Stores, open_stores

WRITER = '{"type":"ram-user","accessKeyId":"LTAI5tWriter","principalId":"1","accountId":"x"}'
FORGER = '{"type":"ram-user","accessKeyId":"LTAI5tForger","principalId":"2","accountId":"x"}'


def test_the_recorder_is_kept_through_read_and_lookup(stores: Stores) -> None:
    recorded = dataclasses.replace(make_record(event_id="BY-WRITER"), recorder=WRITER)
    unknown = make_record(event_id="BY-NOBODY")  # "" : as events stored before recorders
    assert stores.events.append([recorded, unknown]) == [True, True]
    assert {e.event_id: e.recorder for e in stores.events.read_after(0, 10)} == {
        "BY-WRITER": WRITER,
        "BY-NOBODY": "",
    }
    assert stores.events.catch_up()
    page = stores.events.lookup(
        LookupQuery(ACCOUNT, BASE_TIME - 10, BASE_TIME + 10, Direction.FORWARD, (), 10)
    )
    assert {e.event_id: e.recorder for e in page.events} == {"BY-WRITER": WRITER, "BY-NOBODY": ""}


def test_recorders_of_duplicates_name_the_first_copys_recorder(stores: Stores) -> None:
    first = dataclasses.replace(make_record(event_id="TAKEN"), recorder=FORGER)
    assert stores.events.append([first]) == [True]
    again = dataclasses.replace(first, recorder=WRITER, body=b'{"other":1}')
    elsewhere = dataclasses.replace(again, account_id=OTHER_ACCOUNT, event_id="TAKEN-2")
    # Before the index has them (SQLite's pending keys) and after.
    assert stores.events.recorders([again, elsewhere]) == [FORGER, None]
    assert stores.events.append([again]) == [False]
    assert stores.events.catch_up()
    assert stores.events.recorders([again, elsewhere]) == [FORGER, None]
    [kept] = stores.events.lookup(
        LookupQuery(
            ACCOUNT,
            BASE_TIME - 10,
            BASE_TIME + 10,
            Direction.FORWARD,
            ((LookupKey.EVENT_ID, "TAKEN"),),
            10,
        )
    ).events
    assert (kept.recorder, kept.body) == (FORGER, first.body)


def test_recorders_survive_close_and_reopen(stores: Stores, store_settings: Settings) -> None:
    record = dataclasses.replace(make_record(event_id="DURABLE"), recorder=WRITER)
    stores.events.append([record])
    stores.close()
    reopened = open_stores(store_settings)
    try:
        assert [e.recorder for e in reopened.events.read_after(0, 10)] == [WRITER]
        assert reopened.events.recorders([record]) == [WRITER]
    finally:
        reopened.close()
