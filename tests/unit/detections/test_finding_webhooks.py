"""Findings reach an account's webhook through a durable outbox: signed with HMAC, retried on
the delivery policy while the receiver is down or failing, never lost across a restart, and
removed from the outbox only once the receiver answers 2xx. The receiver is a real HTTP
server on 127.0.0.1."""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson
import pytest

from trailhouse.detections.egress import Egress
from trailhouse.detections.service import DetectionService
from trailhouse.detections.webhooks import InvalidWebhook, Webhooks
from trailhouse.events.ingest import IngestService
from trailhouse.events.validation import format_event_time
from trailhouse.iam.principals import Caller, PrincipalKind
from trailhouse.retry import delivery_policy
from trailhouse.settings import Settings
from trailhouse.store.sqlite.event_log import SqliteEventLog
from trailhouse.store.sqlite.metadata import SqliteMetadataStore

ALICE = "1000000000000001"
ROOT = Caller(f"LTAI5t{ALICE}", PrincipalKind.ROOT, ALICE, "root", ALICE)
POLICY = delivery_policy(2.0)
LOOPBACK_ALLOWED = Egress(allow_private=True)  # the receivers are on 127.0.0.1


class Receiver:
    """A webhook receiver answering `status` and keeping what it was sent."""

    def __init__(self) -> None:
        self.status = 503
        self.received: list[tuple[dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append((dict(self.headers.items()), body))
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def stores(
    tmp_path: Path,
) -> Iterator[tuple[SqliteMetadataStore, IngestService, DetectionService]]:
    """The metadata store, and an ingest service whose accepted events detections evaluate."""
    log = SqliteEventLog(tmp_path / "events", gather_seconds=0.0)
    metadata = SqliteMetadataStore(tmp_path / "meta")
    settings = Settings.load({"data_dir": tmp_path}, environ={})
    detections = DetectionService(
        metadata, lambda records: ingest.record(records), POLICY, LOOPBACK_ALLOWED
    )
    ingest = IngestService(
        settings,
        log,
        lambda account: account == ALICE,
        [detections.on_accepted],
        [detections.on_accepted],
    )
    yield metadata, ingest, detections
    log.close()
    metadata.close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver()
    yield running
    running.close()


def _stop_event() -> bytes:
    return orjson.dumps(
        {
            "eventId": str(uuid.uuid4()),
            "eventTime": format_event_time(int(time.time())),
            "eventName": "StopLogging",
            "eventType": "ApiCall",
            "eventRW": "Write",
            "acsRegion": "cn-hangzhou",
            "serviceName": "Actiontrail",
            "requestId": "R",
            "sourceIpAddress": "203.0.113.9",
            "userAgent": "test",
            "userIdentity": {"type": "ram-user", "principalId": "1", "userName": "u"},
        }
    )


def test_a_finding_waits_out_a_down_receiver_and_arrives_signed(
    stores: Any, receiver: Receiver
) -> None:
    metadata, ingest, detections = stores
    detections.set_enabled(ALICE, "actiontrail_trail_stopped", True, 1)
    webhook = detections.webhooks.set(ALICE, receiver.url, 1)
    ingest.put_events(ROOT, [_stop_event()])
    (finding,) = detections.findings.list(ALICE)[0]

    now = [time.time()]
    # Another process, after a restart.
    sender = Webhooks(metadata, POLICY, clock=lambda: now[0], egress=LOOPBACK_ALLOWED)
    assert sender.send_due() == 0  # 503: kept, retried later
    (pending,) = sender.pending(ALICE)
    assert (pending.attempts, pending.last_error) == (1, "HTTP 503")
    assert sender.send_due() == 0 and len(receiver.received) == 1  # not before its time

    receiver.close()  # the receiver is down altogether
    now[0] += 60
    assert sender.send_due() == 0
    (pending,) = sender.pending(ALICE)
    assert pending.attempts == 2 and pending.last_error.startswith("not reached")

    revived = Receiver()
    try:
        revived.status = 204
        moved = detections.webhooks.set(ALICE, revived.url, 2)  # the waiting finding follows
        assert sender.send_due() == 0  # not before its time
        now[0] += 120
        assert sender.send_due() == 1
        assert sender.pending(ALICE) == []
        ((headers, body),) = revived.received
    finally:
        revived.close()
    stamp = headers["X-Trailhouse-Timestamp"].encode()
    mac = hmac.new(moved.secret.encode(), stamp + b"." + body, hashlib.sha256)
    assert headers["X-Trailhouse-Signature"] == "v1=" + mac.hexdigest()
    assert moved.secret != webhook.secret  # setting the webhook again draws a new secret
    sent = orjson.loads(body)
    assert sent["accountId"] == ALICE
    assert sent["finding"]["ruleId"] == "actiontrail_trail_stopped"
    assert sent["finding"]["findingId"] == finding.finding_id == headers["X-Trailhouse-Delivery"]


def test_a_deleted_webhook_drops_what_waits(stores: Any, receiver: Receiver) -> None:
    _metadata, ingest, detections = stores
    detections.set_enabled(ALICE, "actiontrail_trail_stopped", True, 1)
    detections.webhooks.set(ALICE, receiver.url, 1)
    ingest.put_events(ROOT, [_stop_event()])
    assert len(detections.webhooks.pending(ALICE)) == 1
    assert detections.webhooks.delete(ALICE) is True
    assert detections.webhooks.pending(ALICE) == []
    assert detections.webhooks.send_due() == 0 and receiver.received == []
    assert len(detections.findings.list(ALICE)[0]) == 1  # the finding itself stays


def test_an_accepted_finding_leaves_the_outbox(stores: Any, receiver: Receiver) -> None:
    _metadata, ingest, detections = stores
    detections.set_enabled(ALICE, "actiontrail_trail_stopped", True, 1)
    webhook = detections.webhooks.set(ALICE, receiver.url, 1)
    receiver.status = 200
    ingest.put_events(ROOT, [_stop_event(), _stop_event()])
    assert len(detections.webhooks.pending(ALICE)) == 2
    assert detections.webhooks.send_due() == 2
    assert detections.webhooks.pending(ALICE) == []
    assert detections.webhooks.send_due() == 0 and len(receiver.received) == 2
    for headers, body in receiver.received:
        stamp = headers["X-Trailhouse-Timestamp"].encode()
        mac = hmac.new(webhook.secret.encode(), stamp + b"." + body, hashlib.sha256)
        assert headers["X-Trailhouse-Signature"] == "v1=" + mac.hexdigest()


def test_no_webhook_means_no_outbox(stores: Any) -> None:
    _metadata, ingest, detections = stores
    detections.set_enabled(ALICE, "actiontrail_trail_stopped", True, 1)
    ingest.put_events(ROOT, [_stop_event()])
    assert len(detections.findings.list(ALICE)[0]) == 1
    assert detections.webhooks.pending(ALICE) == []


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://x/y", "http://", "not a url"])
def test_a_webhook_must_be_an_http_address(stores: Any, url: str) -> None:
    with pytest.raises(InvalidWebhook):
        stores[2].webhooks.set(ALICE, url, 1)
