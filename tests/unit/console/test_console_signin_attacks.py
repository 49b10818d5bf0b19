"""The console attacked as an attacker would: brute force against one key, spraying keys from
one address, locking out others, flooding the audit trail, and sniffing static files."""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable

import httpx
import pytest
from console_support import BROWSER, Console, ConsoleFactory, csrf_of
from starlette.exceptions import StarletteDeprecationWarning

from trailhouse.console.routes import STATIC_DIR
from trailhouse.iam import signin_guard

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

ATTACKER = "203.0.113.66"
VICTIM = "198.51.100.20"
UNKNOWN = "LTAI5tNOSUCHKEY000000000"


def _from(console: Console, address: str) -> TestClient:
    """A browser at `address` on the same server (its own cookies)."""
    return TestClient(console.client.app, client=(address, 40000))


def _attempt(client: TestClient, access_key_id: str, secret: str) -> httpx.Response:
    token = csrf_of(client.get("/console/signin").text)
    return client.post(
        "/console/signin",
        json={"AccessKeyId": access_key_id, "AccessKeySecret": secret},
        headers={"X-CSRF-Token": token, "User-Agent": BROWSER},
    )


def _failure_events(console: Console, count: int) -> list[dict[str, object]]:
    events = console.events("ConsoleSignin", count, timeout=1.0 if count == 0 else 5.0)
    return [event for event in events if event.get("errorCode")]


def test_brute_force_on_one_key_is_locked_after_five_failures(console: Console) -> None:
    attacker = _from(console, ATTACKER)
    alice = console.alice
    answers = [_attempt(attacker, alice.access_key_id, f"guess-{n}") for n in range(8)]
    assert [a.status_code for a in answers] == [401] * 5 + [429] * 3
    locked = answers[-1]
    assert locked.json()["Code"] == "SignInThrottled"
    assert "too many failed sign-ins with this AccessKey ID" in locked.json()["Message"]
    assert 0 < int(locked.headers["retry-after"]) <= 900
    # Locked means locked: even the right secret no longer gets in, so guessing stops paying.
    right = _attempt(attacker, alice.access_key_id, alice.access_key_secret)
    assert right.status_code == 429
    assert "th_console=" not in str(right.headers.get_list("set-cookie"))


def test_a_locked_unknown_key_looks_exactly_like_a_locked_existing_one(console: Console) -> None:
    def sequence(access_key_id: str, address: str) -> list[tuple[int, str, str]]:
        client = _from(console, address)
        answers = [_attempt(client, access_key_id, "guess") for _ in range(7)]
        return [
            (a.status_code, a.json()["Code"], a.json()["Message"].split(" for ")[0])
            for a in answers
        ]

    assert sequence(console.alice.access_key_id, "192.0.2.1") == sequence(UNKNOWN, "192.0.2.2")


def test_failures_for_one_key_are_aggregated_not_one_event_each(
    console_factory: ConsoleFactory,
) -> None:
    console = console_factory(console_signin_per_minute=0)  # the key's limit alone
    attacker = _from(console, ATTACKER)
    answers = [_attempt(attacker, console.alice.access_key_id, f"guess-{n}") for n in range(60)]
    assert sum(a.status_code == 401 for a in answers) == 5
    assert sum(a.status_code == 429 for a in answers) == 55
    time.sleep(0.3)  # the audit writer's batch
    events = _failure_events(console, 2)
    assert len(events) == 1, events  # 60 attempts, one event so far: the window's first failure
    (first,) = events
    assert first["additionalEventData"]["failedAttempts"] == 1  # type: ignore[index]
    assert first["sourceIpAddress"] == ATTACKER


def test_an_ended_window_is_recorded_once_with_its_counts(
    console_factory: ConsoleFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(signin_guard, "SETTLE_GRACE_SECONDS", 0.0)
    console = console_factory(console_signin_per_minute=0, console_signin_window_seconds=1)
    attacker = _from(console, ATTACKER)
    answers = [_attempt(attacker, console.alice.access_key_id, f"guess-{n}") for n in range(9)]
    assert [a.status_code for a in answers] == [401] * 5 + [429] * 4
    time.sleep(1.1)
    # The next attempt after the window records it, then opens a new window with its own first.
    assert _attempt(attacker, console.alice.access_key_id, "guess-again").status_code == 401
    time.sleep(0.3)
    events = _failure_events(console, 3)
    summaries = [e for e in events if e["additionalEventData"]["failedAttempts"] != 1]  # type: ignore[index]
    assert len(events) == 3, events
    (summary,) = summaries
    data = summary["additionalEventData"]
    assert data["failedAttempts"] == 4  # type: ignore[index]
    assert data["refusedAttempts"] == 4  # type: ignore[index]
    assert data["sourceIpAddresses"] == [ATTACKER]  # type: ignore[index]
    assert summary["userIdentity"]["userName"] == "alice"  # type: ignore[index]
    # Every failure is counted exactly once across the events: 5 + 1 (the new window's first).
    assert sum(e["additionalEventData"]["failedAttempts"] for e in events) == 6  # type: ignore[index,misc]


def _throttled_spray(attempt: Callable[[int], httpx.Response], count: int) -> list[httpx.Response]:
    """`count` attempts in a row, checked against the address's bucket: 20 at once, then one
    every 3 s (20 a minute), so a slow machine may see a refilled token or two between them."""
    began = time.monotonic()
    answers = [attempt(n) for n in range(count)]
    refilled = int((time.monotonic() - began) / 3.0) + 1
    statuses = [a.status_code for a in answers]
    assert statuses[:20] == [401] * 20, statuses
    assert set(statuses[20:]) <= {401, 429} and statuses[-1] == 429, statuses
    assert statuses.count(401) <= 20 + refilled, statuses
    return answers


def test_spraying_keys_from_one_address_is_throttled_per_address(console: Console) -> None:
    attacker = _from(console, ATTACKER)
    answers = _throttled_spray(lambda n: _attempt(attacker, f"LTAI5tSPRAY{n:013d}", "guess"), 30)
    assert "from your address" in answers[-1].json()["Message"]
    assert int(answers[-1].headers["retry-after"]) >= 1
    # The address is refused before any key is looked at, the right pair included.
    root = console.root
    assert _attempt(attacker, root.access_key_id, root.access_key_secret).status_code == 429


def test_a_throttled_attacker_does_not_lock_out_another_key_from_another_address(
    console: Console,
) -> None:
    attacker = _from(console, ATTACKER)
    for n in range(25):  # the address's limit, spent on one key and a spray
        key = console.alice.access_key_id if n < 8 else f"LTAI5tSPRAY{n:013d}"
        _attempt(attacker, key, "guess")
    assert _attempt(attacker, "LTAI5tANY", "x").status_code == 429
    victim = _from(console, VICTIM)
    root = console.root
    answer = _attempt(victim, root.access_key_id, root.access_key_secret)
    assert answer.status_code == 200, answer.text
    assert victim.get("/console/trails").status_code == 200


def test_an_ipv6_attacker_cannot_rotate_addresses_within_its_64(console: Console) -> None:
    _throttled_spray(
        lambda n: _attempt(_from(console, f"2001:db8:1:2::{n:x}"), f"LTAI5tV6{n:016d}", "guess"),
        30,
    )


def test_every_static_asset_is_sent_with_nosniff(console: Console) -> None:
    assets = sorted(p for p in STATIC_DIR.rglob("*") if p.is_file())
    assert len(assets) >= 10
    for path in assets:
        address = f"/console/static/{path.relative_to(STATIC_DIR).as_posix()}"
        answer = console.client.get(address)
        assert answer.status_code == 200, address
        assert answer.headers.get("x-content-type-options") == "nosniff", address


def test_console_answers_send_nosniff(console: Console) -> None:
    refused = console.sign_in_answer(console.alice.access_key_id, "wrong")
    assert refused.headers["x-content-type-options"] == "nosniff"
    csrf = console.sign_in(console.root)
    answered = console.api("DescribeTrails", {}, csrf)
    assert answered.status_code == 200
    assert answered.headers["x-content-type-options"] == "nosniff"
    redirect = console.client.get("/console", follow_redirects=False)
    assert redirect.headers["x-content-type-options"] == "nosniff"
