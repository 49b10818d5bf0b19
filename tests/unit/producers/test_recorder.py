"""`Recorder` against a real `trailhouse serve` process: batching, rejection, retry, drops."""

from __future__ import annotations

import logging
import time
import uuid
from typing import TYPE_CHECKING, Any

import pytest

from trailhouse.events.validation import parse_event_time
from trailhouse.producers.recorder import Recorder

if TYPE_CHECKING:
    from producers_support import FindEvents, Server, ServerFactory


def unique_name() -> str:
    return f"Test{uuid.uuid4().hex[:12]}"


def make_event(name: str, **fields: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "eventSource": "shop.example.com",
        "eventName": name,
        "eventType": "ApiCall",
        "eventRW": "Write",
        "acsRegion": "cn-hangzhou",
        "serviceName": "Shop",
        "requestId": str(uuid.uuid4()),
        "sourceIpAddress": "203.0.113.7",
        "userAgent": "pytest",
        "userIdentity": {"type": "ram-user", "userName": "alice"},
    }
    event.update(fields)
    return event


def recorder_for(server: Server, **options: Any) -> Recorder:
    return Recorder(server.endpoint, server.access_key_id, server.access_key_secret, **options)


def test_recorded_events_arrive_with_the_ids_the_recorder_gave_them(
    server: Server, find_events: FindEvents
) -> None:
    name = unique_name()
    given = str(uuid.uuid4()).upper()
    with recorder_for(server, flush_interval=0.05) as recorder:
        ids = [
            recorder.record(make_event(name, eventId=given, requestParameters={"Size": "3"})),
            recorder.record(make_event(name)),
            recorder.record(make_event(name, eventTime="2020-01-01T00:00:00Z")),
        ]
        assert recorder.flush(10)
        stats = recorder.stats()
    assert ids[0] == given
    assert ids[1] is not None and uuid.UUID(ids[1]).version == 4
    # The third event is older than the 90-day history: the server refuses it.
    assert (stats.recorded, stats.sent, stats.accepted, stats.rejected) == (3, 3, 2, 1)
    assert (stats.dropped, stats.abandoned, stats.pending) == (0, 0, 0)

    found = find_events(server, "EventId", given, 1)
    assert len(found) == 1
    assert found[0]["eventName"] == name
    assert found[0]["requestParameters"] == {"Size": "3"}
    by_name = find_events(server, "EventName", name, 2)
    assert sorted(event["eventId"] for event in by_name) == sorted([given, ids[1]])
    # eventTime was filled at record time.
    assert all(abs(parse_event_time(event["eventTime"]) - time.time()) < 120 for event in by_name)


def test_record_copies_the_event_and_keeps_the_callers_dict_unchanged(server: Server) -> None:
    event = make_event(unique_name())
    with recorder_for(server) as recorder:
        event_id = recorder.record(event)
    assert event_id is not None
    assert "eventId" not in event
    assert "eventTime" not in event


def test_events_the_server_rejects_reach_on_error_and_the_rest_are_kept(
    server: Server, find_events: FindEvents
) -> None:
    name = unique_name()
    errors: list[tuple[dict[str, Any], str, str]] = []
    with recorder_for(
        server, on_error=lambda e, code, message: errors.append((e, code, message))
    ) as recorder:
        good = [recorder.record(make_event(name)) for _ in range(5)]
        bad = recorder.record(make_event(name, eventRW="Sometimes"))
        unencodable = recorder.record(make_event(name, requestParameters={"Tags": {"a", "b"}}))
        missing = recorder.record({"eventName": name})
        assert recorder.flush(10)
        stats = recorder.stats()

    assert (stats.accepted, stats.rejected, stats.sent) == (5, 3, 7)
    codes = {event["eventId"]: (code, message) for event, code, message in errors}
    assert set(codes) == {bad, unencodable, missing}
    assert codes[bad][0] == "InvalidEvent.InvalidField"
    assert "eventRW" in codes[bad][1]
    assert codes[unencodable][0] == "InvalidEvent.NotSerializable"
    assert codes[missing][0] == "InvalidEvent.MissingField"
    found = find_events(server, "EventName", name, 5)
    assert sorted(event["eventId"] for event in found) == sorted(good)


def test_without_on_error_rejections_are_logged_once_per_call(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    with (
        caplog.at_level(logging.WARNING, logger="trailhouse.producers.recorder"),
        recorder_for(server, flush_interval=5.0) as recorder,
    ):
        for _ in range(30):
            recorder.record(make_event(unique_name(), eventType="Unheard"))
        assert recorder.flush(10)
    assert recorder.stats().rejected == 30
    lines = [record.getMessage() for record in caplog.records]
    assert len(lines) == 1
    assert "the server rejected 30 event(s)" in lines[0]
    assert "InvalidEvent.InvalidField" in lines[0]


def test_a_burst_larger_than_one_call_is_split_by_count_and_by_bytes(
    server: Server, find_events: FindEvents
) -> None:
    name = unique_name()
    # 40 events of ~150 KB are ~6 MB: more than one 5 MB call may carry.
    padding = "x" * 150_000
    with recorder_for(server, max_batch=1000, flush_interval=0.05) as recorder:
        for _ in range(40):
            recorder.record(make_event(name, responseElements={"Padding": padding}))
        for _ in range(1200):
            recorder.record(make_event(name))
        assert recorder.flush(30)
        stats = recorder.stats()
    assert (stats.sent, stats.accepted, stats.rejected, stats.abandoned) == (1240, 1240, 0, 0)
    found = find_events(server, "EventName", name, 1240, timeout=20)
    assert len({event["eventId"] for event in found}) == len(found) == 1240


def test_events_recorded_while_the_server_is_down_arrive_once_it_is_back(
    server_factory: ServerFactory, find_events: FindEvents
) -> None:
    server = server_factory()
    name = unique_name()
    # Retries enough to outlast a slow restart (~60 s at the 0.3 s cap): this test is about
    # arriving once the server is back, not about when a recorder gives up.
    recorder = recorder_for(
        server,
        max_batch=50,
        flush_interval=0.02,
        backoff_base=0.05,
        backoff_cap=0.3,
        max_retries=200,
    )
    try:
        ids = [recorder.record(make_event(name)) for _ in range(100)]
        assert recorder.flush(10)
        server.stop()
        ids += [recorder.record(make_event(name)) for _ in range(150)]
        time.sleep(1.0)  # several failed attempts while nothing listens
        assert not recorder.flush(0.1)
        assert recorder.stats().retries > 0
        server.start()
        ids += [recorder.record(make_event(name)) for _ in range(50)]
        assert recorder.flush(20)
        stats = recorder.stats()
    finally:
        recorder.close(5)
    assert (stats.recorded, stats.accepted, stats.dropped, stats.abandoned) == (300, 300, 0, 0)
    found = find_events(server, "EventName", name, 300, timeout=20)
    assert len(found) == 300
    assert sorted(event["eventId"] for event in found) == sorted(str(i) for i in ids)


def test_a_full_queue_drops_events_without_blocking_the_caller(
    dead_endpoint: str, caplog: pytest.LogCaptureFixture
) -> None:
    recorder = Recorder(
        dead_endpoint, "key", "secret", max_queue=10, flush_interval=5.0, block_timeout=0.01
    )
    with caplog.at_level(logging.WARNING, logger="trailhouse.producers.recorder"):
        slowest = 0.0
        results = []
        for _ in range(50):
            started = time.perf_counter()
            results.append(recorder.record(make_event("Dropped")))
            slowest = max(slowest, time.perf_counter() - started)
        stats = recorder.stats()
        started = time.monotonic()
        assert not recorder.close(timeout=0.5)
        closing = time.monotonic() - started
    # Blocked, a call would wait for the 5 s flush; 1 s leaves room for a loaded machine's
    # scheduler (0.2 s seen once under CI's load).
    assert slowest < 1.0
    assert (stats.recorded, stats.dropped) == (10, 40)
    assert results.count(None) == 40
    assert "dropped" in caplog.text
    assert closing < 3.0
    final = recorder.stats()
    assert final.accepted == 0
    assert final.dropped == 40
    # After close every event is accounted for, and new ones are dropped.
    assert recorder.record(make_event("Dropped")) is None
    assert recorder.stats().dropped == 41


def test_a_refused_key_is_not_retried_and_every_event_is_reported(server: Server) -> None:
    errors: list[str] = []
    recorder = Recorder(
        server.endpoint,
        server.access_key_id,
        "not-the-secret",
        on_error=lambda event, code, message: errors.append(code),
    )
    with recorder:
        for _ in range(3):
            recorder.record(make_event(unique_name()))
        assert recorder.flush(10)
        stats = recorder.stats()
    assert (stats.abandoned, stats.retries, stats.accepted) == (3, 0, 0)
    assert errors == ["SignatureDoesNotMatch"] * 3


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"max_batch": 0}, "max_batch"),
        ({"max_batch": 1001}, "max_batch"),
        ({"max_queue": 0}, "max_queue"),
        ({"max_retries": -1}, "max_retries"),
    ],
)
def test_bad_options_are_refused(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Recorder("http://127.0.0.1:1", "key", "secret", **options)


def test_record_refuses_what_is_not_a_dict() -> None:
    with Recorder("http://127.0.0.1:1", "key", "secret") as recorder:
        with pytest.raises(TypeError, match="must be a dict"):
            recorder.record(["not", "an", "event"])  # type: ignore[arg-type]
        assert recorder.stats().recorded == 0
