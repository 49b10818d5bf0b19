"""Bad input gets its documented code in-process; an unexpected error is logged with its
traceback and request id, counted in /metrics, and answered without the exception's text."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from api_support import served_app, signed_post
from starlette.exceptions import StarletteDeprecationWarning

from trailhouse.api import app as app_module
from trailhouse.api.actions import Action, ActionContext, action_table
from trailhouse.iam.accounts import Credentials
from trailhouse.jsonlimits import MAX_EVENT_DEPTH, nests_deeper_than
from trailhouse.runtime import Services, open_services
from trailhouse.settings import Settings

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

ACCOUNT = "1234567890123456"


def _boom(ctx: ActionContext) -> dict[str, Any]:
    raise KeyError("secret internals")


@pytest.fixture
def served(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[TestClient, Services, Credentials]]:
    actions = dict(app_module.ACTIONS)
    actions.update(action_table(Action("Boom", _boom, read_only=True)))
    monkeypatch.setattr(app_module, "ACTIONS", actions)
    services = open_services(settings)
    with served_app(services, ACCOUNT) as (client, root):
        yield client, services, root


def test_an_unexpected_error_is_logged_with_its_request_id_and_counted(
    served: tuple[TestClient, Services, Credentials], caplog: pytest.LogCaptureFixture
) -> None:
    client, _, root = served
    with caplog.at_level(logging.ERROR):
        answer = signed_post(client, root, "Boom")
    assert answer.status_code == 500
    body = answer.json()
    assert body["Code"] == "InternalError"
    assert body["RequestId"] in body["Message"]
    assert "secret internals" not in body["Message"]
    [record] = [r for r in caplog.records if body["RequestId"] in r.getMessage()]
    assert record.exc_info is not None and record.exc_info[0] is KeyError
    metrics = client.get("/metrics").text
    assert 'trailhouse_internal_errors_total{where="api"} 1' in metrics


def test_an_error_outside_every_route_is_answered_as_internal_error(
    served: tuple[TestClient, Services, Credentials],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    client, _, _ = served

    def broken(services: Services) -> str:
        raise OSError("disk on fire")

    monkeypatch.setattr(app_module, "scrape", broken)
    with caplog.at_level(logging.ERROR):
        answer = client.get("/metrics")
    assert answer.status_code == 500
    assert answer.json()["Code"] == "InternalError"
    assert "disk on fire" not in answer.text
    assert any(answer.json()["RequestId"] in r.getMessage() for r in caplog.records)


DEEP_EVENT = b'{"a":' + b"[" * 70 + b"1" + b"]" * 70 + b"}"


@pytest.mark.parametrize(
    ("body", "status", "code", "says"),
    [
        (
            b'{"Events": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
            400,
            "MalformedBody.TooDeep",
            "more than 128 levels deep",
        ),
        (
            b'{"Events": [' + b"[" * 200 + b"]" * 200 + b"]}",
            400,
            "MalformedBody.TooDeep",
            "an event may nest at most 64",
        ),
        (b"[" * 100_000, 400, "MalformedBody", "JSON array of event objects"),
        (b'[{"eventName": "A"}]', 400, "MalformedBody", 'needs a JSON object {"Events": [...]}'),
        (b'{"Events": [' + b'"x"' * 1 + b"]", 400, "MalformedBody", "not valid JSON"),
    ],
)
def test_bad_put_events_bodies_get_their_codes(
    served: tuple[TestClient, Services, Credentials],
    body: bytes,
    status: int,
    code: str,
    says: str,
) -> None:
    client, services, root = served
    answer = signed_post(client, root, "PutEvents", body)
    assert (answer.status_code, answer.json()["Code"]) == (status, code)
    assert says in answer.json()["Message"]
    assert services.stores.events.stats().events == 0


def test_a_too_deep_event_is_refused_alone(
    served: tuple[TestClient, Services, Credentials],
) -> None:
    client, _, root = served
    answer = signed_post(client, root, "PutEvents", b'{"Events": [' + DEEP_EVENT + b"]}")
    [failed] = answer.json()["Failed"]
    assert failed["Code"] == "InvalidEvent.TooDeep"
    assert f"more than {MAX_EVENT_DEPTH} levels" in failed["Message"]


@pytest.mark.parametrize(
    ("text", "limit", "deeper"),
    [
        (b"[" * 64 + b"]" * 64, 64, False),
        (b"[" * 65 + b"]" * 65, 64, True),
        (b"[" * 100_000, 64, True),
        (b'["' + b"[" * 500 + b'"]', 64, False),  # brackets inside a string do not nest
        (b'["\\"' + b"[" * 500 + b'"]', 64, False),  # nor after an escaped quote
        (b"[" + b"[]," * 10_000 + b"[]]", 64, False),  # wide, not deep
        ('{"a": "' + "\uff3b" * 100 + '"}', 64, False),
    ],
)
def test_nesting_is_measured_without_parsing(text: bytes | str, limit: int, deeper: bool) -> None:
    assert nests_deeper_than(text, limit) is deeper
    if not deeper:
        orjson.loads(text)
