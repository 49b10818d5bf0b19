"""The console's Detections page in a real headless Chromium against a real server: the starter
pack is listed disabled, a rule is enabled with one click, and an event recorded afterwards shows
as a finding naming it."""

from __future__ import annotations

import time
import urllib.request
import uuid
from typing import Any

import pytest
from e2e_support import DESKTOP, Screenshots, Server, free_port, open_page, sign_in

from trailhouse.client import RpcClient
from trailhouse.events.validation import format_event_time


def test_a_rule_enabled_in_the_console_shows_its_finding(
    playwright_browser: Any, tmp_path_factory: pytest.TempPathFactory, shots: Screenshots
) -> None:
    server = Server(tmp_path_factory.mktemp("e2e-detections") / "data", free_port())
    server.create_account()
    server.start()
    try:
        assert server.root is not None
        context = playwright_browser.new_context(viewport=DESKTOP)
        errors: list[str] = []
        context.on("weberror", lambda error: errors.append(str(error.error)))
        page = context.new_page()
        sign_in(page, server.url, server.root)
        open_page(page, f"{server.url}/console/detections")
        rows = page.eval_on_selector_all("#rules tbody tr", "rows => rows.length")
        assert rows == 10
        assert page.query_selector("#rules [data-enabled=true]") is None  # all start disabled
        assert "No findings yet" in page.inner_text("#findings")

        page.click("#rules button[data-rule=actiontrail_trail_stopped]")
        page.wait_for_selector(
            "#rules tr:has(button[data-rule=actiontrail_trail_stopped]) [data-enabled=true]"
        )
        event_id = str(uuid.uuid4())
        stopped = {
            "eventId": event_id,
            "eventTime": format_event_time(int(time.time())),
            "eventName": "StopLogging",
            "eventType": "ApiCall",
            "eventRW": "Write",
            "acsRegion": "cn-hangzhou",
            "serviceName": "Actiontrail",
            "requestId": "R",
            "sourceIpAddress": "203.0.113.5",
            "userAgent": "e2e",
            "userIdentity": {"type": "ram-user", "principalId": "9", "userName": "mallory"},
        }
        root = server.root
        with RpcClient(server.url, root.access_key_id, root.access_key_secret) as client:
            answer = client.call("PutEvents", {}, body={"Events": [stopped]})
        assert answer["Accepted"] == 1, answer
        _wait_evaluated(server.url)  # rules run behind PutEvents' answer
        open_page(page, f"{server.url}/console/detections")
        assert event_id in page.inner_text("#findings")
        assert "Trail stopped or deleted" in page.inner_text("#findings")
        shots.take(page, "40-detections")
        context.close()
        assert errors == [], f"script errors in the pages: {errors}"
    finally:
        server.stop()


def _wait_evaluated(url: str) -> None:
    """Wait until the server shows no stored event waiting for detections (`/metrics`)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with urllib.request.urlopen(f"{url}/metrics", timeout=10) as answer:
            lines = answer.read().decode().splitlines()
        if "trailhouse_observer_pending_events 0" in lines:
            return
        time.sleep(0.05)
    raise AssertionError("the server did not evaluate the event within 30 s")
