"""Sign-in throttling in the metadata store: one count per key and per address for every
process sharing the store, windows that end on the server's clock, unknown keys alike."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from trailhouse.iam.principals import Caller
from trailhouse.iam.signin_guard import (
    SETTLE_GRACE_SECONDS,
    WINDOW_KIND,
    SignInGuard,
    SignInLimits,
    address_bucket,
)
from trailhouse.settings import Settings
from trailhouse.store import open_metadata
from trailhouse.store.ports import MetadataStore

LIMITS = SignInLimits(per_address_per_minute=0, failures_per_key=5, window_seconds=900)
ALICE = Caller("LTAI5tALICE", "ram-user", "1234567890123456", "alice", "2000000000000001")


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def two_processes(settings: Settings) -> Iterator[tuple[MetadataStore, MetadataStore]]:
    """Two metadata stores over the same database, as two servers would open it."""
    first, second = open_metadata(settings), open_metadata(settings)
    yield first, second
    first.close()
    second.close()


def _fail(guard: SignInGuard, caller: Caller | None, key: str = ALICE.access_key_id) -> bool:
    return guard.failed(key, caller, "cn-hangzhou", "203.0.113.1", "ua")


def test_failures_in_two_processes_add_up_to_one_lock(
    two_processes: tuple[MetadataStore, MetadataStore],
) -> None:
    clock = Clock()
    first = SignInGuard(two_processes[0], LIMITS, clock)
    second = SignInGuard(two_processes[1], LIMITS, clock)
    assert _fail(first, ALICE) is True  # opens the window: recorded at once
    assert [_fail(first, ALICE), _fail(second, ALICE), _fail(second, ALICE)] == [False] * 3
    assert first.admit(ALICE.access_key_id, "198.51.100.1") is None
    assert _fail(second, ALICE) is False
    for guard in (first, second):
        refusal = guard.admit(ALICE.access_key_id, "198.51.100.1")
        assert refusal is not None and refusal.reason == "key"
        assert refusal.retry_after_seconds == 900
    (document,) = two_processes[0].list_documents(WINDOW_KIND)
    assert b'"failures":5' in document.body and b'"refused":2' in document.body


def test_the_lock_ends_with_the_window_and_retry_after_counts_down(
    two_processes: tuple[MetadataStore, MetadataStore],
) -> None:
    clock = Clock()
    guard = SignInGuard(two_processes[0], LIMITS, clock)
    for _ in range(5):
        _fail(guard, ALICE)
    clock.now += 600
    refusal = guard.admit(ALICE.access_key_id, "198.51.100.1")
    assert refusal is not None and refusal.retry_after_seconds == 300
    clock.now += 300
    assert guard.admit(ALICE.access_key_id, "198.51.100.1") is None
    assert _fail(guard, ALICE) is True  # a new window, recorded at once again


def test_unknown_key_ids_are_locked_like_existing_ones(
    two_processes: tuple[MetadataStore, MetadataStore],
) -> None:
    guard = SignInGuard(two_processes[0], LIMITS, Clock())
    for _ in range(5):
        _fail(guard, None, "LTAI5tNOSUCHKEY")
    refusal = guard.admit("LTAI5tNOSUCHKEY", "198.51.100.1")
    assert refusal is not None and refusal.reason == "key"
    assert guard.admit(ALICE.access_key_id, "198.51.100.1") is None  # other keys are not


def test_a_window_is_handed_over_only_after_its_grace_and_settles_once(
    two_processes: tuple[MetadataStore, MetadataStore],
) -> None:
    clock = Clock()
    first = SignInGuard(two_processes[0], LIMITS, clock)
    second = SignInGuard(two_processes[1], LIMITS, clock)
    _fail(first, ALICE)
    _fail(first, ALICE)
    clock.now += 900
    assert first.ended() == []  # an attempt that read it open may still be committing
    clock.now += SETTLE_GRACE_SECONDS
    (ended,) = first.ended(ALICE.access_key_id)
    assert second.ended() == [ended]
    assert ended.window.failures == 2 and ended.window.caller == ALICE
    first.settle(ended)
    second.settle(ended)  # the other process settles too: nothing left, no error
    assert first.ended() == []


def test_the_address_limit_is_one_bucket_for_every_process(
    two_processes: tuple[MetadataStore, MetadataStore],
) -> None:
    limits = SignInLimits(per_address_per_minute=4, failures_per_key=0, window_seconds=900)
    guards = [SignInGuard(store, limits) for store in two_processes]
    verdicts = [guards[n % 2].admit(f"KEY{n}", "203.0.113.9") for n in range(6)]
    assert verdicts[:4] == [None] * 4
    assert all(v is not None and v.reason == "address" for v in verdicts[4:])
    assert guards[0].admit("KEY", "203.0.113.10") is None


@pytest.mark.parametrize(
    ("address", "bucket"),
    [
        ("203.0.113.9", "203.0.113.9"),
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:bbbb::2", "2001:db8:1:2::/64"),
        ("::ffff:203.0.113.9", "203.0.113.9"),
        ("testclient", "testclient"),
    ],
)
def test_addresses_are_counted_by_host_and_ipv6_by_its_64(address: str, bucket: str) -> None:
    assert address_bucket(address) == bucket
