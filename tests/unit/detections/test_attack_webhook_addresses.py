"""An account trying to make the server call inside its own network through a findings webhook
(server-side request forgery): metadata and link-local addresses in every spelling are refused
always, loopback and private ones unless the operator allows them, at registration and again at
each send, and a send connects to the address it checked whatever DNS answers by then.

The receivers are real HTTP servers on 127.0.0.1. Where an attack needs a DNS answer that changes
(rebinding) or names an address, the resolver is a scripted function standing in for the
attacker's DNS server: everything after it (the check, the connection, the request) is real.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from trailhouse.detections.egress import Egress, refusal
from trailhouse.detections.engine import Match
from trailhouse.detections.webhooks import InvalidWebhook, Webhooks
from trailhouse.retry import delivery_policy
from trailhouse.runtime import Services, open_services
from trailhouse.settings import Settings

ALICE = "1000000000000001"
POLICY = delivery_policy(2.0)

ALWAYS_REFUSED = [
    "http://169.254.169.254/latest/meta-data/",
    "http://100.100.100.200/latest/meta-data/ram/security-credentials/",  # Alibaba Cloud ECS
    "http://[fd00:ec2::254]/latest/meta-data/",
    "http://[fe80::1]:8080/",
    "http://[::ffff:169.254.169.254]/",  # IPv4-mapped
    "http://[::ffff:a9fe:a9fe]/",
    "http://[64:ff9b::a9fe:a9fe]/",  # NAT64
    "http://2852039166/",  # 169.254.169.254 as one decimal number
    "http://0xa9.0xfe.0xa9.0xfe/",  # ... in hexadecimal parts
    "http://169.254.1/",  # ... shortened
    "http://0.0.0.0:8080/",
    "http://0/",
    "http://[::]/",
    "http://224.0.0.1/",
    "http://255.255.255.255/",
    "http://240.0.0.1/",
]
PRIVATE = [
    "http://127.0.0.1:8080/hook",
    "http://127.1/",
    "http://0x7f000001/",
    "http://localhost:8080/",
    "http://user:pw@127.0.0.1/",
    "http://10.0.0.5/",
    "http://172.16.3.4/",
    "http://192.168.1.1/",
    "http://100.64.0.1/",  # shared address space
    "http://[::1]:8080/",
    "http://[fd12:3456::1]/",
    "http://[::ffff:127.0.0.1]/",
]


class Receiver:
    """A webhook receiver on 127.0.0.1 answering `status`, keeping each request's headers."""

    def __init__(self, status: int = 204, location: str = "") -> None:
        self.received: list[dict[str, str]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append(dict(self.headers.items()))
                self.send_response(status)
                if location:
                    self.send_header("Location", location)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def opened(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    data_dir = tmp_path_factory.mktemp("egress") / "data"
    services = open_services(Settings.load({"data_dir": data_dir}, environ={}))
    yield services
    services.close()


@pytest.fixture
def services(opened: Services) -> Iterator[Services]:
    """The module's services, with no webhook (nor anything waiting for one) left over."""
    opened.detections.webhooks.delete(ALICE)
    yield opened
    opened.detections.webhooks.delete(ALICE)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver()
    yield running
    running.close()


def _webhooks(services: Services, egress: Egress) -> Webhooks:
    return Webhooks(services.stores.metadata, POLICY, egress=egress)


def _finding(services: Services) -> str:
    rule = services.detections.get_rule(ALICE, "actiontrail_trail_stopped")
    match = Match(rule, ALICE, (f"e-{uuid.uuid4()}",))  # a new match: a new finding
    return services.detections.findings.add(match, int(time.time() * 1000)).finding_id


@pytest.mark.parametrize("allow_private", [False, True])
@pytest.mark.parametrize("url", ALWAYS_REFUSED)
def test_metadata_and_link_local_are_refused_always(
    services: Services, url: str, allow_private: bool
) -> None:
    webhooks = _webhooks(services, Egress(allow_private=allow_private))
    with pytest.raises(InvalidWebhook) as refused:
        webhooks.set(ALICE, url, 1)
    assert "never called" in str(refused.value)
    assert webhooks.get(ALICE) is None  # nothing written


@pytest.mark.parametrize("url", PRIVATE)
def test_private_addresses_need_the_operator(services: Services, url: str) -> None:
    with pytest.raises(InvalidWebhook) as refused:
        _webhooks(services, Egress()).set(ALICE, url, 1)
    assert "webhook_allow_private" in str(refused.value)
    assert _webhooks(services, Egress(allow_private=True)).set(ALICE, url, 1).url == url


def test_a_name_that_does_not_resolve_is_refused(services: Services) -> None:
    with pytest.raises(InvalidWebhook, match="does not resolve"):
        _webhooks(services, Egress()).set(ALICE, "http://no-such-host.invalid/hook", 1)


def test_an_answer_mixing_public_and_metadata_addresses_is_refused_whole(
    services: Services,
) -> None:
    dns = Egress(resolver=lambda host, port: ["8.8.8.8", "169.254.169.254"])
    with pytest.raises(InvalidWebhook) as refused:
        _webhooks(services, dns).set(ALICE, "http://hook.attacker.test/", 1)
    assert "'hook.attacker.test' resolves to 169.254.169.254" in str(refused.value)


def test_dns_rebinding_after_registration_is_refused_at_send(
    services: Services, receiver: Receiver
) -> None:
    """The name resolved to a public address when set, to the metadata service when sent."""
    answers = iter([["8.8.8.8"], ["169.254.169.254"]])
    dns = Egress(resolver=lambda host, port: next(answers))
    webhooks = _webhooks(services, dns)
    webhooks.set(ALICE, f"http://hook.attacker.test:{receiver.port}/", 1)
    _finding(services)
    assert webhooks.send_due() == 0
    (waiting,) = webhooks.pending(ALICE)
    assert waiting.last_error.startswith("refused: 'hook.attacker.test' resolves to 169.254")


def test_a_send_connects_to_the_address_it_checked(services: Services, receiver: Receiver) -> None:
    """The name is not in the system's DNS at all: the request reaches the receiver only
    because the send connects to the address checked, with the name as its Host."""
    dns = Egress(allow_private=True, resolver=lambda host, port: ["127.0.0.1"])
    webhooks = _webhooks(services, dns)
    webhooks.set(ALICE, f"http://hook.attacker.invalid:{receiver.port}/in", 1)
    _finding(services)
    assert webhooks.send_due() == 1
    (headers,) = receiver.received
    assert headers["Host"] == f"hook.attacker.invalid:{receiver.port}"


def test_an_allowed_webhook_is_checked_again_at_each_send(
    services: Services, receiver: Receiver
) -> None:
    """Set while the operator allowed private addresses; the server restarted without."""
    url = f"http://127.0.0.1:{receiver.port}/hook"
    _webhooks(services, Egress(allow_private=True)).set(ALICE, url, 1)
    _finding(services)
    strict = _webhooks(services, Egress())
    assert strict.send_due() == 0
    assert receiver.received == []
    (waiting,) = strict.pending(ALICE)
    assert "webhook_allow_private" in waiting.last_error


def test_a_redirect_to_the_metadata_service_is_not_followed(services: Services) -> None:
    bouncer = Receiver(302, "http://169.254.169.254/latest/meta-data/")
    try:
        webhooks = _webhooks(services, Egress(allow_private=True))
        webhooks.set(ALICE, f"http://127.0.0.1:{bouncer.port}/hook", 1)
        _finding(services)
        assert webhooks.send_due() == 0
        (waiting,) = webhooks.pending(ALICE)
        assert waiting.last_error == "HTTP 302"
        assert len(bouncer.received) == 1
    finally:
        bouncer.close()


@pytest.mark.parametrize("text", ["::1%lo", "fe80::1%eth0", "not-an-address"])
def test_zone_ids_and_junk_are_judged_safely(text: str) -> None:
    assert refusal(text, allow_private=False) is not None
