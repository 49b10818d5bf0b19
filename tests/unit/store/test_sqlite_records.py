"""The log's record format: packed fields that no byte can shift, and logs of the older,
separator-joined format and of the nine-field packed format still read as they were written,
their recorder unknown."""

from __future__ import annotations

import msgspec

from trailhouse.events.model import EventRecord
from trailhouse.store.sqlite.records import (
    EventFrame,
    LogRecord,
    Prepared,
    encode,
    fields_of,
    pack_fields,
    scan_events,
    scan_records,
)

RECORDER = '{"type":"ram-user","accessKeyId":"LTAI5tMallory","principalId":"2"}'


def _record(event_id: str, names: tuple[str, ...]) -> EventRecord:
    return EventRecord(
        account_id="1234567890123456",
        event_id=event_id,
        event_time=1_740_787_200,
        event_name="DeleteTrail",
        service_name="Actiontrail",
        event_rw="Write",
        user_name="mallory",
        access_key_id="LTAI5tMallory",
        resource_types=("ACS::ActionTrail::Trail",),
        resource_names=names,
        body=b"{}",
        recorder=RECORDER,
        event_type="ApiCall",
        source_ip="42.120.*.*",
        sensitive="true",
        role_name="ops-role",
    )


def _frame(seq: int, fields: bytes) -> bytes:
    prepared = Prepared("1234567890123456", f"id-{seq}", 1_740_787_200, fields, 0, b"body")
    return encode(prepared, seq, 1_740_787_200_000)


def test_packed_fields_keep_separators_inside_values() -> None:
    record = _record("id\x1fwith\x1eseparators", ("a\x1fb", "c\x1ed", ""))
    found: list[LogRecord] = []
    scan_records(_frame(1, pack_fields(fields_of(record, {}))), 0, 10, found)
    [read] = found
    assert read.event_id == "id\x1fwith\x1eseparators"
    assert (read.event_name, read.user_name) == ("DeleteTrail", "mallory")
    assert read.resource_names == ("a\x1fb", "c\x1ed", "")


def test_a_log_of_the_older_format_reads_as_written_beside_the_new() -> None:
    legacy = "\x1f".join(
        (
            "1234567890123456",
            "old-id",
            "ListTrails",
            "Actiontrail",
            "Read",
            "alice",
            "LTAI5tAlice",
            "ACS::ActionTrail::Trail",
            "trail-a\x1etrail-b",
        )
    ).encode()
    new = pack_fields(fields_of(_record("new-id", ("trail-c",)), {}))
    buffer = _frame(1, legacy) + _frame(2, new)
    records: list[LogRecord] = []
    scan_records(buffer, 0, 10, records)
    old, new = records
    assert (old.event_id, old.event_name, old.user_name) == ("old-id", "ListTrails", "alice")
    assert old.resource_types == ("ACS::ActionTrail::Trail",)
    assert old.resource_names == ("trail-a", "trail-b")
    assert (new.event_id, new.resource_names) == ("new-id", ("trail-c",))
    frames: list[EventFrame] = []
    assert scan_events(buffer, 0, 10, frames) == len(buffer)
    assert [(f.account_id, f.event_id, f.recorder) for f in frames] == [
        ("1234567890123456", "old-id", ""),
        ("1234567890123456", "new-id", RECORDER),
    ]
    assert (old.recorder, new.recorder) == ("", RECORDER)


def test_the_recorder_is_the_tenth_field_and_nine_field_records_read_as_unknown() -> None:
    record = _record("new-id", ("trail-c",))
    packed = pack_fields(fields_of(record, {}))
    assert packed[0] == 0x9E  # an array of fourteen
    ten = msgspec.msgpack.encode(msgspec.msgpack.decode(packed)[:10])
    assert ten[0] == 0x9A
    nine = msgspec.msgpack.encode(msgspec.msgpack.decode(packed)[:9])
    assert nine[0] == 0x99
    buffer = _frame(1, nine) + _frame(2, packed)
    records: list[LogRecord] = []
    scan_records(buffer, 0, 10, records)
    assert [(r.event_id, r.recorder) for r in records] == [("new-id", ""), ("new-id", RECORDER)]
    assert records[0].resource_names == ("trail-c",)
    frames: list[EventFrame] = []
    assert scan_events(buffer, 0, 10, frames) == len(buffer)
    assert [f.recorder for f in frames] == ["", RECORDER]


def test_the_derived_values_follow_the_recorder_and_older_records_read_as_unknown() -> None:
    packed = pack_fields(fields_of(_record("new-id", ("trail-c",)), {}))
    ten = msgspec.msgpack.encode(msgspec.msgpack.decode(packed)[:10])
    records: list[LogRecord] = []
    scan_records(_frame(1, ten) + _frame(2, packed), 0, 10, records)
    derived = [(r.event_type, r.source_ip, r.sensitive, r.role_name) for r in records]
    assert derived == [(None, None, None, None), ("ApiCall", "42.120.*.*", "true", "ops-role")]
    assert [r.recorder for r in records] == [RECORDER, RECORDER]
