"""What LookupEvents shows over a real SQLite log: never data events, global events only in
the storage region, and full pages with a working NextToken when events were left out."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from trailhouse.events.lookup import LookupRequest, LookupService
from trailhouse.events.model import Direction, EventRecord
from trailhouse.store.sqlite.event_log import SqliteEventLog

BASE_TIME = 1740787200
ACCOUNT = "1234567890123456"


def _record(n: int, **fields: Any) -> EventRecord:
    body = {"eventId": f"E{n:03d}", "eventTime": BASE_TIME + n, "eventName": "Op", **fields}
    return EventRecord(
        account_id=ACCOUNT,
        event_id=f"E{n:03d}",
        event_time=BASE_TIME + n,
        event_name="Op",
        service_name="Oss",
        event_rw="Read",
        user_name=None,
        access_key_id=None,
        resource_types=(),
        resource_names=(),
        body=orjson.dumps(body),
    )


@pytest.fixture
def log(tmp_path: Path) -> Iterator[SqliteEventLog]:
    opened = SqliteEventLog(tmp_path / "events", gather_seconds=0.0, train_after=50)
    # Every third event a data event, every fifth a global one, the rest regional management.
    records = []
    for n in range(60):
        if n % 3 == 0:
            records.append(_record(n, eventCategory="Data"))
        elif n % 5 == 0:
            records.append(_record(n, eventCategory="Management", isGlobal=True))
        else:
            records.append(_record(n, eventCategory="Management", isGlobal=False))
    assert all(opened.append(records))
    assert opened.catch_up(timeout=10)
    yield opened
    opened.close()


def _pages(log: SqliteEventLog, region: str | None, global_region: str | None) -> list[list[str]]:
    service = LookupService(log, retention_days=100000, slack_seconds=0)
    pages: list[list[str]] = []
    token = None
    while True:
        request = LookupRequest(
            account_id=ACCOUNT,
            start=BASE_TIME,
            end=BASE_TIME + 100,
            direction=Direction.FORWARD,
            conditions=(),
            max_results=7,
            next_token=token,
            region=region,
            global_region=global_region,
        )
        result = service.lookup(request, now=BASE_TIME + 100)
        pages.append([orjson.loads(body)["eventId"] for body in result.bodies])
        token = result.next_token
        if token is None:
            return pages


def _expected(show_global: bool) -> list[str]:
    return [f"E{n:03d}" for n in range(60) if n % 3 != 0 and (show_global or n % 5 != 0)]


@pytest.mark.parametrize(
    ("region", "global_region", "show_global"),
    [
        ("cn-hangzhou", "cn-hangzhou", True),
        ("cn-shanghai", "cn-hangzhou", False),
        (None, "cn-hangzhou", True),
    ],
)
def test_pages_are_full_and_leave_out_what_the_region_does_not_show(
    log: SqliteEventLog, region: str | None, global_region: str, show_global: bool
) -> None:
    pages = _pages(log, region, global_region)
    expected = _expected(show_global)
    assert [event for page in pages for event in page] == expected
    assert all(len(page) == 7 for page in pages[:-1])
    assert 1 <= len(pages[-1]) <= 7
