"""An in-process trailhouse app (real SQLite store, real dispatcher) driven by Starlette's test
client, with an account, a RAM user and a service key, for the console tests."""

from __future__ import annotations

import dataclasses
import re
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import pytest
from starlette.exceptions import StarletteDeprecationWarning

from trailhouse.api.app import create_app
from trailhouse.api.audit import AuditWriter
from trailhouse.events.lookup import LookupRequest
from trailhouse.events.model import Direction, LookupKey
from trailhouse.iam.accounts import Credentials
from trailhouse.iam.signing import sign_request_v3
from trailhouse.runtime import Services, open_services
from trailhouse.settings import Settings

# Starlette asks for httpx2 under its test client and warns once at import otherwise.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

ACCOUNT = "1234567890123456"
BROWSER = "Mozilla/5.0 (X11; Linux x86_64) console-test"
_CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]*)">')


def csrf_of(page: str) -> str:
    """The CSRF token a console page embeds."""
    found = _CSRF_META.search(page)
    assert found is not None, page[:500]
    return found.group(1)


@dataclass
class Console:
    """The app, its services, and credentials of the root key, a RAM user and a service."""

    client: TestClient
    services: Services
    root: Credentials
    alice: Credentials
    service: Credentials

    def sign_in(self, who: Credentials) -> str:
        """Sign `who` in; return the CSRF token of the session's pages."""
        answer = self.sign_in_answer(who.access_key_id, who.access_key_secret)
        assert answer.status_code == 200, answer.text
        page = self.client.get("/console/trails")
        assert page.status_code == 200, page.text
        return csrf_of(page.text)

    def sign_in_answer(self, access_key_id: str, secret: str) -> httpx.Response:
        """The answer to a sign-in POST made as the sign-in page makes it."""
        token = csrf_of(self.client.get("/console/signin").text)
        return self.client.post(
            "/console/signin",
            json={"AccessKeyId": access_key_id, "AccessKeySecret": secret},
            headers={"X-CSRF-Token": token, "User-Agent": BROWSER},
        )

    def api(self, action: str, params: dict[str, Any], csrf: str | None) -> httpx.Response:
        """A console API call with the session's cookie and (when given) its CSRF token."""
        headers = {"User-Agent": BROWSER}
        if csrf is not None:
            headers["X-CSRF-Token"] = csrf
        return self.client.post(f"/console/api/{action}", json=params, headers=headers)

    def signed(self, who: Credentials, action: str, params: dict[str, str]) -> httpx.Response:
        """The same action called on the RPC endpoint, V3-signed as the SDK signs it."""
        query, headers = sign_request_v3(
            "POST",
            "testserver",
            action,
            "2020-07-06",
            params,
            b"",
            who.access_key_id,
            who.access_key_secret,
            extra_headers={"user-agent": BROWSER},
        )
        return self.client.post(f"/?{query}", headers=headers, content=b"")

    def events(self, name: str, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        """The account's events named `name`, once at least `count` are searchable."""
        deadline = time.monotonic() + timeout
        while True:
            self.services.stores.events.catch_up()
            page = self.services.lookup.lookup(
                LookupRequest(
                    account_id=ACCOUNT,
                    start=None,
                    end=None,
                    direction=Direction.BACKWARD,
                    conditions=((LookupKey.EVENT_NAME, name),),
                    max_results=50,
                ),
                now=int(time.time()) + 60,
            )
            events = [orjson.loads(body) for body in page.bodies]
            if len(events) >= count or time.monotonic() > deadline:
                return events
            time.sleep(0.05)


ConsoleFactory = Callable[..., Console]


@pytest.fixture
def console_factory(settings: Settings) -> Iterator[ConsoleFactory]:
    """Builds a console app over fresh services, with settings overridden as asked."""
    opened: list[tuple[TestClient, AuditWriter, Services]] = []

    def build(**overrides: Any) -> Console:
        services = open_services(dataclasses.replace(settings, **overrides))
        audit = AuditWriter(services.ingest)
        root = services.accounts.create_account(ACCOUNT)
        alice = services.accounts.create_user(ACCOUNT, "alice")
        service = services.accounts.create_service("billing-service")
        client = TestClient(create_app(services, audit))
        client.__enter__()
        opened.append((client, audit, services))
        return Console(client, services, root, alice, service)

    yield build
    for client, audit, services in opened:
        client.__exit__(None, None, None)
        audit.close()
        services.close()


@pytest.fixture
def console(console_factory: ConsoleFactory) -> Console:
    """A console over fresh services with default settings."""
    return console_factory()
