"""Console sign-in throttling against a real `trailhouse serve` over TCP: an attacker on the
server's own host cannot dodge the per-address limit by forging X-Forwarded-For, and static
files come with nosniff from the real server too."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
from e2e_support import Server, free_port

_CSRF = re.compile(r'<meta name="csrf-token" content="([^"]*)">')


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = Server(tmp_path_factory.mktemp("e2e-throttle") / "data", free_port())
    running.create_account()
    running.start()
    try:
        yield running
    finally:
        running.stop()


def _attempt(client: httpx.Client, key: str, secret: str, forwarded: str) -> httpx.Response:
    page = client.get("/console/signin")
    found = _CSRF.search(page.text)
    assert found is not None
    return client.post(
        "/console/signin",
        json={"AccessKeyId": key, "AccessKeySecret": secret},
        headers={"X-CSRF-Token": found.group(1), "X-Forwarded-For": forwarded},
    )


def test_forged_forwarded_addresses_do_not_reset_the_address_limit(server: Server) -> None:
    assert server.root is not None
    with httpx.Client(base_url=server.url) as client:
        answers = [
            _attempt(client, f"LTAI5tSPRAY{n:013d}", "guess", f"10.9.{n}.1") for n in range(23)
        ]
        assert [a.status_code for a in answers] == [401] * 20 + [429] * 3
        assert answers[-1].json()["Code"] == "SignInThrottled"
        assert int(answers[-1].headers["retry-after"]) >= 1
        root = server.root
        refused = _attempt(client, root.access_key_id, root.access_key_secret, "10.9.99.1")
        assert refused.status_code == 429


def test_static_files_are_served_with_nosniff(server: Server) -> None:
    with httpx.Client(base_url=server.url) as client:
        for asset in ("console.css", "js/api.js", "js/pages/sql.js"):
            answer = client.get(f"/console/static/{asset}")
            assert answer.status_code == 200, asset
            assert answer.headers["x-content-type-options"] == "nosniff", asset
