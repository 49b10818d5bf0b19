"""The recorder stamps every event with who recorded it, and a copy of a stored event id from
another principal is refused, over a real SQLite event log."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from trailhouse.events.ingest import IngestService
from trailhouse.events.model import EventRecord
from trailhouse.events.recorder import TRAILHOUSE, recorder_of, with_recorder
from trailhouse.events.validation import format_event_time
from trailhouse.iam.principals import Caller, PrincipalKind
from trailhouse.settings import Settings
from trailhouse.store.sqlite.event_log import SqliteEventLog

ACCOUNT = "1234567890123456"
ROOT = Caller("LTAI5tRoot", PrincipalKind.ROOT, ACCOUNT, "root", ACCOUNT)
WRITER = Caller("LTAI5tWriter", PrincipalKind.RAM_USER, ACCOUNT, "writer", "2000000000000001")
WRITER_SECOND_KEY = Caller(
    "LTAI5tWriter2", PrincipalKind.RAM_USER, ACCOUNT, "writer", "2000000000000001"
)


@pytest.fixture
def log(tmp_path: Path) -> Iterator[SqliteEventLog]:
    opened = SqliteEventLog(tmp_path / "events", gather_seconds=0.0)
    yield opened
    opened.close()


@pytest.fixture
def ingest(tmp_path: Path, log: SqliteEventLog) -> IngestService:
    settings = Settings.load({"data_dir": tmp_path}, environ={})
    return IngestService(settings, log, lambda account: account == ACCOUNT)


def event(**fields: Any) -> bytes:
    body: dict[str, Any] = {
        "eventId": str(uuid.uuid4()),
        "eventTime": format_event_time(int(time.time()) - 5),
        "eventSource": "ecs.aliyuncs.com",
        "eventName": "DescribeInstances",
        "eventType": "ApiCall",
        "eventRW": "Read",
        "acsRegion": "cn-hangzhou",
        "serviceName": "Ecs",
        "requestId": "R",
        "sourceIpAddress": "203.0.113.9",
        "userAgent": "test",
        "userIdentity": {"type": "root-account", "accountId": ACCOUNT, "principalId": ACCOUNT},
    }
    return orjson.dumps({**body, **fields})


def test_each_event_is_stored_with_its_callers_key_and_principal(
    ingest: IngestService, log: SqliteEventLog
) -> None:
    assert ingest.put_events(WRITER, [event(), event(eventId=None)]).accepted == 2
    stored = log.read_after(0, 10)
    assert [e.recorder for e in stored] == [recorder_of(WRITER)] * 2
    assert orjson.loads(recorder_of(WRITER)) == {
        "type": "ram-user",
        "accessKeyId": "LTAI5tWriter",
        "principalId": "2000000000000001",
        "accountId": ACCOUNT,
        "userName": "writer",
    }
    assert b"trailhouseRecorder" not in stored[0].body  # the body stays as sent


def test_trailhouses_own_records_say_trailhouse_whatever_they_were_built_with(
    ingest: IngestService, log: SqliteEventLog
) -> None:
    built = EventRecord(ACCOUNT, "own", int(time.time()), "E", "S", "Write", None, None, (), (),
                        b"{}", recorder=recorder_of(WRITER))  # fmt: skip
    assert ingest.record([built]) == 1
    assert [e.recorder for e in log.read_after(0, 10)] == [TRAILHOUSE]


def test_a_copy_of_a_stored_id_from_another_principal_is_refused(
    ingest: IngestService, log: SqliteEventLog
) -> None:
    taken = event()
    assert ingest.put_events(WRITER, [taken]).accepted == 1
    for _ in range(2):  # before the index has it, and after
        result = ingest.put_events(ROOT, [event(), taken])
        assert (result.accepted, result.stored) == (1, 1)
        [failed] = result.failed
        assert (failed.index, failed.code) == (1, "InvalidEvent.DuplicateFromOtherRecorder")
        assert log.catch_up()
    # The same principal through another of its keys is a retry, accepted as ever.
    retried = ingest.put_events(WRITER_SECOND_KEY, [taken])
    assert (retried.accepted, retried.failed) == (1, [])
    taken_id = orjson.loads(taken)["eventId"]
    kept = [e for e in log.read_after(0, 10) if e.event_id == taken_id]
    assert [e.recorder for e in kept] == [recorder_of(WRITER)]


def test_a_stored_event_of_unknown_recorder_is_a_plain_duplicate(
    ingest: IngestService, log: SqliteEventLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An event stored before recorders were kept cannot be told apart: a retry of it after the
    upgrade is accepted, as it always was."""
    old = event()
    assert ingest.put_events(WRITER, [old]).accepted == 1
    monkeypatch.setattr(log, "recorders", lambda records: [""] * len(records))
    result = ingest.put_events(ROOT, [old])
    assert (result.accepted, result.stored, result.failed) == (1, 0, [])


def test_lookup_shows_the_recorder_as_the_events_last_key() -> None:
    shown = orjson.loads(with_recorder(b'{"a":1,"trailhouseRecorder":"forged"} ', ""))
    assert shown == {"a": 1, "trailhouseRecorder": {"type": "unknown"}}
    assert list(shown)[-1] == "trailhouseRecorder"
    assert orjson.loads(with_recorder(b'{"a":1}', TRAILHOUSE))["trailhouseRecorder"] == {
        "type": "trailhouse"
    }
