"""`AuditMiddleware` around a real Starlette app, recording into a real `trailhouse serve`."""

from __future__ import annotations

import time
import uuid
import warnings
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

import pytest
from starlette.applications import Starlette
from starlette.exceptions import StarletteDeprecationWarning
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from trailhouse.events.validation import parse_event_time
from trailhouse.producers.asgi import UNKNOWN_ADDRESS, AuditMiddleware, default_event_name
from trailhouse.producers.recorder import Recorder

# Starlette 1.x asks for httpx2 under its test client; with plain httpx (the dev dependency)
# it warns once at import, which `filterwarnings = error` would turn into a failure.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

if TYPE_CHECKING:
    from producers_support import FindEvents, Server


async def get_item(request: Request) -> Response:
    return JSONResponse({"id": request.path_params["item_id"]}, headers={"x-app": "shop"})


async def create_item(request: Request) -> Response:
    body = await request.json()
    return JSONResponse({"created": body["name"]}, status_code=201)


async def stream(request: Request) -> Response:
    async def chunks() -> AsyncIterator[bytes]:
        for number in range(5):
            yield f"chunk {number}\n".encode()

    return StreamingResponse(chunks(), media_type="text/plain")


async def boom(request: Request) -> Response:
    raise RuntimeError("the app failed")


async def forbidden(request: Request) -> Response:
    return PlainTextResponse("no", status_code=403)


ROUTES = [
    Route("/items/{item_id}", get_item, methods=["GET"]),
    Route("/items", create_item, methods=["POST"]),
    Route("/stream", stream),
    Route("/boom", boom),
    Route("/forbidden", forbidden, methods=["DELETE"]),
]


def identify(scope: dict[str, Any]) -> dict[str, Any]:
    headers = dict(scope["headers"])
    user = headers.get(b"x-user")
    if user is None:
        return {"type": "ram-user", "userName": "anonymous"}
    return {"type": "ram-user", "userName": user.decode(), "accountId": "1234567890123456"}


def audited_app(recorder: Recorder, service: str, **options: Any) -> Starlette:
    middleware = Middleware(
        AuditMiddleware,
        recorder=recorder,
        service_name=service,
        event_source="shop.example.com",
        region="cn-shanghai",
        identify=identify,
        **options,
    )
    return Starlette(routes=ROUTES, middleware=[middleware])


@pytest.fixture
def recorder(server: Server) -> Iterator[Recorder]:
    with Recorder(
        server.endpoint, server.access_key_id, server.access_key_secret, flush_interval=0.05
    ) as running:
        yield running


@pytest.fixture
def idle_recorder(dead_endpoint: str) -> Iterator[Recorder]:
    """A recorder nobody sends through: for checks of the events the middleware builds."""
    running = Recorder(dead_endpoint, "key", "secret")
    yield running
    running.close(0.1)


def test_each_request_becomes_an_event_on_the_server(
    server: Server, recorder: Recorder, find_events: FindEvents
) -> None:
    service = f"Shop{uuid.uuid4().hex[:8]}"
    app = audited_app(recorder, service, api_version="2024-01-01")
    ids = {kind: str(uuid.uuid4()) for kind in ("get", "post", "missing", "stream", "deny")}
    with TestClient(app, client=("198.51.100.7", 40000)) as client:
        got = client.get(
            "/items/7?verbose=1&token=abc&Password=x&api_key=k&tag=a&tag=b",
            headers={"x-request-id": ids["get"], "user-agent": "shop-cli/1.0", "x-user": "bob"},
        )
        posted = client.post("/items", json={"name": "pen"}, headers={"x-request-id": ids["post"]})
        missing = client.get("/nowhere", headers={"x-request-id": ids["missing"]})
        streamed = client.get("/stream", headers={"x-request-id": ids["stream"]})
        denied = client.delete("/forbidden", headers={"x-request-id": ids["deny"]})
    assert (got.status_code, got.json(), got.headers["x-app"]) == (200, {"id": "7"}, "shop")
    assert (posted.status_code, posted.json()) == (201, {"created": "pen"})
    assert missing.status_code == 404
    assert streamed.text == "".join(f"chunk {n}\n" for n in range(5))
    assert denied.status_code == 403
    assert recorder.flush(10)

    events = find_events(server, "ServiceName", service, 5)
    by_request = {event["requestId"]: event for event in events}
    assert set(by_request) == set(ids.values())

    read = by_request[ids["get"]]
    assert read["eventName"] == "get_item"
    assert read["eventType"] == "ApiCall"
    assert read["eventRW"] == "Read"
    assert read["eventSource"] == "shop.example.com"
    assert read["acsRegion"] == "cn-shanghai"
    assert read["apiVersion"] == "2024-01-01"
    assert read["sourceIpAddress"] == "198.51.100.7"
    assert read["userAgent"] == "shop-cli/1.0"
    assert read["userIdentity"]["userName"] == "bob"
    assert read["requestParameters"] == {"verbose": "1", "tag": ["a", "b"]}
    assert "errorCode" not in read
    assert read["additionalEventData"]["Status"] == 200
    assert abs(parse_event_time(read["eventTime"]) - time.time()) < 120

    write = by_request[ids["post"]]
    assert (write["eventName"], write["eventRW"]) == ("create_item", "Write")
    assert write["userIdentity"] == {"type": "ram-user", "userName": "anonymous"}
    assert "errorCode" not in write

    not_found = by_request[ids["missing"]]
    assert not_found["eventName"] == "GET /nowhere"
    assert (not_found["errorCode"], not_found["errorMessage"]) == ("HTTP404", "Not Found")

    assert by_request[ids["stream"]]["eventName"] == "stream"
    assert by_request[ids["stream"]]["additionalEventData"]["Status"] == 200
    assert (by_request[ids["deny"]]["eventRW"], by_request[ids["deny"]]["errorCode"]) == (
        "Write",
        "HTTP403",
    )


def test_an_app_that_raises_is_recorded_as_a_500_and_the_error_propagates(
    server: Server, recorder: Recorder, find_events: FindEvents
) -> None:
    service = f"Shop{uuid.uuid4().hex[:8]}"
    request_id = str(uuid.uuid4())
    with (
        TestClient(audited_app(recorder, service)) as client,
        pytest.raises(RuntimeError, match="the app failed"),
    ):
        client.get("/boom", headers={"x-request-id": request_id})
    with TestClient(audited_app(recorder, service), raise_server_exceptions=False) as client:
        answer = client.get("/boom")
    assert answer.status_code == 500
    assert recorder.flush(10)
    events = find_events(server, "ServiceName", service, 2)
    assert len(events) == 2
    for event in events:
        assert (event["eventName"], event["errorCode"]) == ("boom", "HTTP500")
        assert event["errorMessage"] == "RuntimeError"
    assert request_id in {event["requestId"] for event in events}


def test_responses_are_the_same_with_and_without_the_middleware(recorder: Recorder) -> None:
    bare = Starlette(routes=ROUTES)
    audited = audited_app(recorder, "Same")
    for path in ("/items/3?x=1", "/stream", "/nowhere"):
        with TestClient(bare) as plain, TestClient(audited) as wrapped:
            expected, actual = plain.get(path), wrapped.get(path)
        assert actual.status_code == expected.status_code
        assert actual.content == expected.content
        assert actual.headers == expected.headers


def test_forwarded_addresses_are_used_only_when_trusted(idle_recorder: Recorder) -> None:
    scope = _scope(headers=[(b"x-forwarded-for", b"203.0.113.9, 10.0.0.1")], client=("10.0.0.1", 5))
    trusting = AuditMiddleware(_noop, idle_recorder, trust_forwarded=True)
    cautious = AuditMiddleware(_noop, idle_recorder)
    assert trusting.build_event(scope, time.time(), 200)["sourceIpAddress"] == "203.0.113.9"
    assert cautious.build_event(scope, time.time(), 200)["sourceIpAddress"] == "10.0.0.1"


@pytest.mark.parametrize(
    ("scope", "field", "expected"),
    [
        ({"client": None}, "sourceIpAddress", UNKNOWN_ADDRESS),
        ({"client": ("testclient", 50000)}, "sourceIpAddress", UNKNOWN_ADDRESS),
        ({"client": ("::1", 5)}, "sourceIpAddress", "::1"),
        ({"headers": []}, "userAgent", "unknown"),
        ({"headers": [(b"host", b"api.example.com:8443")]}, "eventSource", "api.example.com"),
        ({"method": "HEAD"}, "eventRW", "Read"),
        ({"method": "OPTIONS"}, "eventRW", "Read"),
        ({"method": "PATCH"}, "eventRW", "Write"),
        (
            {"query_string": b"Signature=s&SecretKey=k&access-token=t&q=1"},
            "requestParameters",
            {"q": "1"},
        ),
    ],
)
def test_event_fields_from_the_request(
    idle_recorder: Recorder, scope: dict[str, Any], field: str, expected: object
) -> None:
    middleware = AuditMiddleware(_noop, idle_recorder)
    assert middleware.build_event(_scope(**scope), time.time(), 200)[field] == expected


def test_event_name_comes_from_the_configured_function(idle_recorder: Recorder) -> None:
    middleware = AuditMiddleware(
        _noop, idle_recorder, event_name=lambda scope: "Custom" + scope["path"]
    )
    assert middleware.build_event(_scope(), time.time(), 200)["eventName"] == "Custom/things"
    assert default_event_name(_scope(method="put")) == "PUT /things"


def test_a_full_recorder_never_slows_or_breaks_the_app(dead_endpoint: str) -> None:
    with Recorder(dead_endpoint, "key", "secret", max_queue=1, flush_interval=5.0) as recorder:
        app = audited_app(recorder, "Busy")
        with TestClient(app) as client:
            started = time.monotonic()
            answers = [client.get("/items/1").status_code for _ in range(20)]
            elapsed = time.monotonic() - started
        stats = recorder.stats()
        recorder.close(0.2)
    assert answers == [200] * 20
    assert (stats.recorded, stats.dropped) == (1, 19)
    assert elapsed < 2.0


def _scope(**overrides: Any) -> dict[str, Any]:
    scope: dict[str, Any] = {
        "type": "http",
        "method": "GET",
        "path": "/things",
        "query_string": b"",
        "headers": [(b"user-agent", b"ua")],
        "client": ("192.0.2.1", 1234),
        "scheme": "http",
    }
    scope.update(overrides)
    return scope


async def _noop(scope: Any, receive: Any, send: Any) -> None:
    return None
