"""A failure window's summary event is written durably before the window is deleted, and two
processes recording the same window append it once."""

from __future__ import annotations

import dataclasses
import time

import pytest
from console_support import ACCOUNT, Console, ConsoleFactory

from trailhouse.console.signin import failure_summary, record_ended_windows
from trailhouse.iam import signin_guard
from trailhouse.iam.principals import Caller
from trailhouse.iam.signin_guard import SignInGuard


def _caller(console: Console) -> Caller:
    return console.services.accounts.caller_for(console.alice.access_key_id)


def _guard(console: Console, clock: list[float]) -> SignInGuard:
    guard = console.services.signin_guard
    return SignInGuard(console.services.stores.metadata, guard.limits, lambda: clock[0])


def test_two_processes_recording_one_window_append_one_event(
    console_factory: ConsoleFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(signin_guard, "SETTLE_GRACE_SECONDS", 0.0)
    console = console_factory()
    clock = [time.time() - 1000]
    guard = _guard(console, clock)
    alice = _caller(console)
    for _ in range(7):
        guard.failed(alice.access_key_id, alice, "cn-hangzhou", "203.0.113.1", "=cmd|' /C calc'!A0")
    clock[0] += 901
    (ended,) = guard.ended()
    # A crash after the event was written but before the window was deleted: recorded again.
    console.services.ingest.record([failure_summary(ended)])  # type: ignore[list-item]
    assert record_ended_windows(guard, console.services.ingest) == 1
    assert guard.ended() == []
    assert record_ended_windows(guard, console.services.ingest) == 0
    events = [e for e in console.events("ConsoleSignin", 2, timeout=1.0) if e.get("errorCode")]
    assert len(events) == 1, events
    assert events[0]["additionalEventData"]["failedAttempts"] == 6
    assert events[0]["recipientAccountId"] == ACCOUNT


def test_a_window_with_its_first_failure_only_adds_no_event(
    console_factory: ConsoleFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(signin_guard, "SETTLE_GRACE_SECONDS", 0.0)
    console = console_factory()
    clock = [time.time() - 1000]
    guard = _guard(console, clock)
    alice = _caller(console)
    assert guard.failed(alice.access_key_id, alice, "cn-hangzhou", "203.0.113.1", "ua") is True
    clock[0] += 901
    (ended,) = guard.ended()
    assert failure_summary(ended) is None
    unknown = dataclasses.replace(ended.window, account_id="", failures=9)
    assert failure_summary(dataclasses.replace(ended, window=unknown)) is None
    assert record_ended_windows(guard, console.services.ingest) == 0
    assert guard.ended() == []
