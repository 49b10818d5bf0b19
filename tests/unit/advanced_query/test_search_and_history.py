"""The advanced query service over a real SQLite event log and metadata store: a statement runs
over the caller's events only, and templates and history stay in their account."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from trailhouse.advanced_query.search import EventSearch, InvalidSearch, SearchRequest
from trailhouse.advanced_query.service import (
    MAX_HISTORY,
    AdvancedQueries,
    QueryNotFound,
    TemplateNotFound,
)
from trailhouse.events.ingest import IngestService
from trailhouse.events.validation import format_event_time
from trailhouse.iam.principals import Caller, PrincipalKind
from trailhouse.settings import Settings
from trailhouse.store.sqlite.event_log import SqliteEventLog
from trailhouse.store.sqlite.metadata import SqliteMetadataStore

ALICE, BOB = "1000000000000001", "2000000000000002"


def _root(account: str) -> Caller:
    return Caller(f"LTAI5t{account}", PrincipalKind.ROOT, account, "root", account)


@pytest.fixture
def queries(tmp_path: Path) -> Iterator[tuple[AdvancedQueries, IngestService, SqliteEventLog]]:
    """The service over real stores, an ingest service and the log behind it."""
    log = SqliteEventLog(tmp_path / "events", gather_seconds=0.0)
    metadata = SqliteMetadataStore(tmp_path / "meta")
    settings = Settings.load({"data_dir": tmp_path}, environ={})
    ingest = IngestService(settings, log, lambda account: account in {ALICE, BOB})
    yield AdvancedQueries(metadata), ingest, log
    log.close()
    metadata.close()


def _event(account: str, seconds_ago: int, **fields: Any) -> bytes:
    body: dict[str, Any] = {
        "eventId": str(uuid.uuid4()),
        "eventTime": format_event_time(int(time.time()) - seconds_ago),
        "eventSource": "ecs.aliyuncs.com",
        "eventName": "DescribeInstances",
        "eventType": "ApiCall",
        "eventRW": "Read",
        "acsRegion": "cn-hangzhou",
        "serviceName": "Ecs",
        "requestId": "R",
        "sourceIpAddress": "203.0.113.9",
        "userAgent": "test",
        "userIdentity": {"type": "root-account", "accountId": account, "principalId": account},
    }
    return orjson.dumps({**body, **fields})


def _ids(bodies: list[bytes]) -> list[str]:
    return [orjson.loads(body)["eventId"] for body in bodies]


def test_a_statement_runs_over_the_callers_events_only(
    queries: tuple[AdvancedQueries, IngestService, SqliteEventLog],
) -> None:
    _, ingest, log = queries
    mine = [
        _event(ALICE, 10, eventName="CreateInstance", errorCode="Forbidden"),
        _event(ALICE, 20, eventName="CreateInstance"),
        _event(ALICE, 30),
        _event(ALICE, 40, eventName="CreateDisk"),
        _event(ALICE, 50, eventName="CreateObjectData", eventCategory="Data"),
    ]
    theirs = [_event(BOB, 5, eventName="CreateInstance", errorCode="Forbidden")]
    assert ingest.put_events(_root(ALICE), mine).accepted == 5
    assert ingest.put_events(_root(BOB), theirs).accepted == 1
    assert log.catch_up(timeout=10)
    now = int(time.time())
    search = EventSearch(log, retention_days=90, slack_seconds=0)

    def ask(statement: str, size: int = 10, token: str | None = None) -> Any:
        request = SearchRequest(ALICE, statement, None, None, size, token)
        return search.search(request, now)

    created = [orjson.loads(m)["eventId"] for m in (mine[0], mine[1], mine[3])]
    assert _ids(ask("event.eventName: Create*").bodies) == created  # never the data event
    assert _ids(ask("event.errorCode: *").bodies) == created[:1]
    assert all(b"trailhouseRecorder" in body for body in ask("*").bodies)
    first = ask("event.eventName: Create*", size=2)
    assert _ids(first.bodies) == created[:2] and first.next_token
    second = ask("event.eventName: Create*", size=2, token=first.next_token)
    assert (_ids(second.bodies), second.next_token) == (created[2:], None)
    exact = ask("event.eventName: Create*", size=3)
    assert (
        exact.next_token is None
        or ask("event.eventName: Create*", 3, exact.next_token).bodies == []
    )
    bounded = EventSearch(log, retention_days=90, slack_seconds=0, max_scanned=2)
    page = bounded.search(SearchRequest(ALICE, "event.eventName: CreateDisk", None, None, 10), now)
    assert (page.bodies, page.scanned, page.next_token is not None) == ([], 2, True)
    for statement, parameter in [
        ("(", "QuerySql"),
        ("* | SELECT 1", "QuerySql"),
    ]:
        with pytest.raises(InvalidSearch) as raised:
            ask(statement)
        assert raised.value.parameter == parameter
    with pytest.raises(InvalidSearch) as raised:
        ask("event.eventName: Create*", size=2, token=first.next_token + "x")
    assert raised.value.parameter == "NextToken"
    with pytest.raises(InvalidSearch) as raised:
        ask("*", size=2, token=first.next_token)
    assert "other parameters" in str(raised.value)


def test_templates_and_history_stay_in_their_account(
    queries: tuple[AdvancedQueries, IngestService, SqliteEventLog],
) -> None:
    service, _, _ = queries
    template = service.create_template(ALICE, "mine", "event.errorCode: *", False, 1)
    with pytest.raises(TemplateNotFound):
        service.get_template(BOB, template.template_id)
    with pytest.raises(TemplateNotFound):
        service.update_template(BOB, template.template_id, "taken", None, None)
    with pytest.raises(TemplateNotFound):
        service.delete_template(BOB, template.template_id)
    assert service.list_templates(BOB) == []
    assert service.get_template(ALICE, template.template_id) == template
    record = service.record_query(ALICE, "*", True, 1)
    with pytest.raises(QueryNotFound):
        service.delete_query(BOB, record.query_id)
    assert service.history(BOB) == [] and service.history(ALICE) == [record]


def test_the_history_keeps_the_newest_records(
    queries: tuple[AdvancedQueries, IngestService, SqliteEventLog],
) -> None:
    service, _, _ = queries
    records = [service.record_query(ALICE, f"q{i}", True, 1000 + i) for i in range(MAX_HISTORY + 3)]
    kept = service.history(ALICE)
    assert len(kept) == MAX_HISTORY
    assert kept[0] == records[-1] and kept[-1] == records[3]
