"""A flood of PutEvents that must wait for the lookup index cannot take the threads every other
call needs: PutEvents waits in a pool of its own, and LookupEvents is answered meanwhile."""

from __future__ import annotations

import threading
import time
import warnings
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from api_support import served_app, signed_post
from starlette.exceptions import StarletteDeprecationWarning

from trailhouse.api import app as app_module
from trailhouse.events.validation import format_event_time
from trailhouse.iam.accounts import Credentials
from trailhouse.iam.signing import sign_request_v3
from trailhouse.runtime import Services, open_services
from trailhouse.settings import Settings
from trailhouse.store.sqlite.event_log import SqliteEventLog
from trailhouse.store.sqlite.records import LogRecord

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

ACCOUNT = "1234567890123456"
FLOOD = 45  # PutEvents calls at once: more than the shared pool's 40 threads
INDEX_SECONDS = 3.0  # each batch of the slowed indexer


@pytest.fixture
def served(tmp_path: Any) -> Iterator[tuple[TestClient, Services, Credentials]]:
    """A server whose unindexed tail holds ~1 MB and whose indexer takes 3 s a batch."""
    settings = Settings.load({"data_dir": tmp_path / "data", "tail_mb": 1}, environ={})
    services = open_services(settings)
    log = services.stores.events
    assert isinstance(log, SqliteEventLog)
    # The indexer's writes (the index process's, in a server), each made slow; what they write
    # is unchanged.
    writer = log._day_writer
    real_index = writer.index

    def slow_index(day: int, records: list[LogRecord]) -> int:
        time.sleep(INDEX_SECONDS)
        return real_index(day, records)

    writer.index = slow_index  # type: ignore[method-assign]
    with served_app(services, ACCOUNT) as (client, root):
        yield client, services, root


def batch(number: int) -> bytes:
    """100 events, ~60 KB of the tail: a few such calls fill its high-water mark."""
    now = format_event_time(int(time.time()) - 60)
    events = [
        {
            "eventId": f"FLOOD-{number}-{n}",
            "eventTime": now,
            "eventName": "DescribeInstances",
            "eventType": "ApiCall",
            "serviceName": "Ecs",
            "userIdentity": {"type": "root-account", "accountId": ACCOUNT},
            "requestParameters": {"padding": "x" * 400},
        }
        for n in range(100)
    ]
    return orjson.dumps({"Events": events})


def test_put_events_waiting_for_the_index_leaves_lookups_their_threads(
    served: tuple[TestClient, Services, Credentials],
) -> None:
    client, services, root = served
    answers: list[int] = []

    def flood(number: int) -> None:
        answers.append(signed_post(client, root, "PutEvents", batch(number)).status_code)

    flooders = [threading.Thread(target=flood, args=(n,)) for n in range(FLOOD)]
    for flooder in flooders:
        flooder.start()
    time.sleep(1.0)  # the tail is past its mark: PutEvents calls wait for the index
    assert len(answers) < FLOOD
    began = time.monotonic()
    looked = signed_post(client, root, "LookupEvents")
    took = time.monotonic() - began
    assert looked.status_code == 200, looked.text
    assert took < INDEX_SECONDS / 2, f"LookupEvents waited {took:.1f} s behind PutEvents"
    for flooder in flooders:
        flooder.join(120.0)
    assert answers == [200] * FLOOD
    stats = services.lookup.stats()
    assert stats.index_wait_seconds > 0  # the flood did wait for the index
    assert stats.let_go == 0
    assert stats.events >= FLOOD * 100


def test_only_put_events_takes_the_ingest_pool() -> None:
    def signed(action: str) -> Any:
        query, headers = sign_request_v3(
            "POST", "testserver", action, "2020-07-06", {}, b"", "k", "s"
        )
        return app_module.SignedRequest(
            method="POST", path="/", query_string=query, headers=headers, body=b""
        )

    assert app_module._names_put_events(signed("PutEvents"))
    assert not app_module._names_put_events(signed("LookupEvents"))
    rpc = app_module.SignedRequest(
        method="POST",
        path="/",
        query_string="Action=PutEvents&Version=2020-07-06",
        headers={},
        body=b"",
    )
    assert app_module._names_put_events(rpc)
