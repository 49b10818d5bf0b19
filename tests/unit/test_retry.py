"""The retry policy: its limits and backoff, retry_on_conflict's exhaustion, the transient or
terminal class of every error, and a guard against retry loops written by hand again."""

from __future__ import annotations

import ast
import errno
from pathlib import Path

import pytest

from trailhouse import errors
from trailhouse.delivery.history import DeliveryHistoryJobNotFound
from trailhouse.errors import VersionConflict
from trailhouse.retry import (
    CONFLICT,
    DELIVERY,
    THROTTLED,
    Outcome,
    RetryPolicy,
    classify,
    delivery_policy,
    retry_on_conflict,
)

SRC = Path(__file__).resolve().parents[2] / "src" / "trailhouse"


# -- the policies' numbers ---------------------------------------------------------------------


def test_the_delivery_schedule_doubles_from_the_setting_up_to_a_minute() -> None:
    policy = delivery_policy(5.0)
    assert [policy.delay(n) for n in range(1, 8)] == [5, 10, 20, 40, 60, 60, 60]
    assert policy.attempts is None and not policy.exhausted(10_000)  # a trail is never given up
    assert delivery_policy(0.0).delay(3) == 0.0  # tests retry at the next pass
    assert delivery_policy(90.0).delay(1) == 90.0  # a longer setting is never cut to a minute
    assert (DELIVERY.base_delay, DELIVERY.max_delay, DELIVERY.jitter) == (5.0, 60.0, 0.0)


def test_conflict_waits_are_jittered_below_a_doubling_cap() -> None:
    unjittered = [CONFLICT.delay(n, rng=lambda: 0.0) for n in range(1, CONFLICT.retries + 1)]
    assert unjittered == [0.002, 0.004, 0.008, 0.016, 0.032, 0.05, 0.05]
    assert CONFLICT.delay(3, rng=lambda: 0.5) == pytest.approx(0.004)  # half taken off
    assert all(0.0 <= CONFLICT.delay(n) <= CONFLICT.max_delay for n in range(1, 20))
    assert CONFLICT.attempts == 8 and CONFLICT.exhausted(8) and not CONFLICT.exhausted(7)


def test_a_server_named_wait_is_capped() -> None:
    assert THROTTLED.capped(2.5) == 2.5
    assert THROTTLED.capped(3600.0) == THROTTLED.max_delay == 10.0
    assert THROTTLED.retries == 3


@pytest.mark.parametrize(
    ("attempts", "jitter", "message"),
    [(0, 0.0, "at least one attempt"), (3, 1.5, "jitter is a share")],
)
def test_a_policy_refuses_impossible_numbers(attempts: int, jitter: float, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RetryPolicy(attempts=attempts, base_delay=0.1, max_delay=1.0, jitter=jitter)


# -- retry_on_conflict ---------------------------------------------------------------------------


class Flaky:
    """Conflicts `conflicts` times, then answers."""

    def __init__(self, conflicts: int) -> None:
        self.conflicts = conflicts
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.calls <= self.conflicts:
            raise VersionConflict(f"document changed (call {self.calls})")
        return "done"


def test_conflicts_are_retried_with_the_policys_waits() -> None:
    waits: list[float] = []
    flaky = Flaky(conflicts=3)
    policy = RetryPolicy(attempts=5, base_delay=1.0, max_delay=3.0)
    assert retry_on_conflict(flaky, what="thing", policy=policy, sleep=waits.append) == "done"
    assert flaky.calls == 4
    assert waits == [1.0, 2.0, 3.0]


def test_exhaustion_raises_naming_what_kept_changing() -> None:
    waits: list[float] = []
    flaky = Flaky(conflicts=100)
    with pytest.raises(VersionConflict, match=r"^project p1 kept changing: 8 attempts") as raised:
        retry_on_conflict(flaky, what="project p1", sleep=waits.append)
    assert flaky.calls == CONFLICT.attempts
    assert len(waits) == CONFLICT.attempts - 1  # no wait after the last attempt
    assert isinstance(raised.value.__cause__, VersionConflict)
    assert "call 8" in str(raised.value.__cause__)


def test_a_conflict_retry_if_refuses_is_raised_at_once() -> None:
    flaky = Flaky(conflicts=100)
    with pytest.raises(VersionConflict, match="call 1"):
        retry_on_conflict(flaky, what="x", retry_if=lambda _: False, sleep=lambda _: None)
    assert flaky.calls == 1


def test_other_errors_are_not_retried() -> None:
    calls = []

    def refuses() -> None:
        calls.append(1)
        raise errors.NoPermission("no")

    with pytest.raises(errors.NoPermission):
        retry_on_conflict(refuses, what="x", sleep=lambda _: None)
    assert calls == [1]


def test_an_unbounded_policy_cannot_retry_conflicts() -> None:
    with pytest.raises(ValueError, match="limit"):
        retry_on_conflict(Flaky(0), what="x", policy=DELIVERY)


# -- classification ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "outcome"),
    [
        (errors.TransientError("warehouse busy"), Outcome.TRANSIENT),
        (errors.TerminalError("project missing"), Outcome.TERMINAL),
        (errors.StoreError("database locked"), Outcome.TRANSIENT),
        (errors.StoreUnavailable("closing"), Outcome.TRANSIENT),
        (errors.DiskFull("the disk is full", errno.ENOSPC), Outcome.TRANSIENT),
        (errors.DiskFailed("the storage failed", errno.EIO), Outcome.TRANSIENT),
        (errors.VersionConflict("moved on"), Outcome.TRANSIENT),
        (OSError(errno.ENOTDIR, "Not a directory"), Outcome.TRANSIENT),
        (FileExistsError("in the way"), Outcome.TRANSIENT),
        (errors.ThrottlingUser("slow down", 1000), Outcome.TRANSIENT),
        (errors.QuotaExceeded("queue full"), Outcome.TRANSIENT),
        (errors.ServiceUnavailable("later"), Outcome.TRANSIENT),
        (errors.DiskFullUnavailable("full"), Outcome.TRANSIENT),
        (errors.DiskFailedUnavailable("failed"), Outcome.TRANSIENT),
        (errors.NoPermission("the role may not write"), Outcome.TERMINAL),
        (errors.ProjectNotFound("no project"), Outcome.TERMINAL),
        (errors.TableNotFound("no table"), Outcome.TERMINAL),
        (errors.TrailNotFoundException("no trail"), Outcome.TERMINAL),
        (errors.EntityNotExistRole("no role"), Outcome.TERMINAL),
        (errors.InsufficientMaxComputePolicyException("untrusted"), Outcome.TERMINAL),
        (errors.NoAvailableQuota("no quota"), Outcome.TERMINAL),
        (errors.InvalidParameter("bad"), Outcome.TERMINAL),
        (errors.InternalError("bug"), Outcome.TERMINAL),
        (DeliveryHistoryJobNotFound("gone"), Outcome.TERMINAL),
        (errors.ConflictError("already exists"), Outcome.TERMINAL),
        (errors.NotFoundError("no account"), Outcome.TERMINAL),
        (errors.SettingsError("bad setting"), Outcome.TERMINAL),
        (errors.RequestFailed(429, "Throttling.User", "slow down"), Outcome.TRANSIENT),
        (errors.RequestFailed(503, "ServiceUnavailable", "later"), Outcome.TRANSIENT),
        (errors.RequestFailed(0, "ConnectionFailed", "refused"), Outcome.TRANSIENT),
        (errors.RequestFailed(403, "NoPermission", "no"), Outcome.TERMINAL),
        (ValueError("a bug"), Outcome.TERMINAL),
        (KeyError("a bug"), Outcome.TERMINAL),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, BaseException) else str(v),
)
def test_classification_by_error_class(error: BaseException, outcome: Outcome) -> None:
    assert classify(error) is outcome


def test_every_api_error_is_terminal_unless_marked_transient() -> None:
    marked = {
        "ThrottlingUser",
        "QuotaExceeded",
        "ServiceUnavailable",
        "DiskFullUnavailable",
        "DiskFailedUnavailable",
    }
    api_errors = [
        c for c in vars(errors).values() if isinstance(c, type) and issubclass(c, errors.ApiError)
    ]
    assert {c.__name__ for c in api_errors if c.transient} == marked
    assert all(c.http_status in (429, 503) for c in api_errors if c.transient)


# -- no hand-written retry loops -----------------------------------------------------------------

# Only VersionConflict: accounts.py's loop on ConflictError draws a new random key id after a
# collision, a new choice rather than a retry of the same decision, and needs no wait.
_CONFLICTS = {"VersionConflict"}


def _names(node: ast.expr | None) -> set[str]:
    """The exception names an `except` clause or a `suppress(...)` call names."""
    if node is None:
        return set()
    parts = node.elts if isinstance(node, ast.Tuple) else [node]
    return {p.id if isinstance(p, ast.Name) else getattr(p, "attr", "") for p in parts}


def _is_retry_loop(loop: ast.For | ast.While) -> bool:
    """A loop that counts attempts (`for _ in range(n)`, `itertools.count()`) or a `while`."""
    if isinstance(loop, ast.While):
        return True
    call = loop.iter
    return isinstance(call, ast.Call) and _names(call.func) & {"range", "count"} != set()


def _conflicts_caught(node: ast.AST) -> bool:
    if isinstance(node, ast.ExceptHandler):
        return bool(_names(node.type) & _CONFLICTS)
    if isinstance(node, ast.withitem) and isinstance(node.context_expr, ast.Call):
        call = node.context_expr
        return "suppress" in _names(call.func) and any(_names(a) & _CONFLICTS for a in call.args)
    return False


def hand_written_retry_loops(source: str) -> list[int]:
    """Line numbers of conflicts caught inside an attempt-counting loop of the same function."""
    found = []

    def visit(node: ast.AST, in_loop: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                visit(child, False)
                continue
            if _conflicts_caught(child) and in_loop:
                found.append(getattr(child, "lineno", 0) or node.lineno)  # type: ignore[attr-defined]
            looping = isinstance(child, ast.For | ast.While) and _is_retry_loop(child)
            visit(child, in_loop or looping)

    visit(ast.parse(source), False)
    return found


def test_the_scanner_finds_a_hand_written_loop() -> None:
    written = """
def bump(store):
    for _ in range(8):
        try:
            store.commit()
        except VersionConflict:
            continue
        return
    while True:
        with contextlib.suppress(errors.VersionConflict):
            store.commit()
"""
    assert hand_written_retry_loops(written) == [6, 10]
    per_item = """
def each(trails):
    for trail in trails:
        try:
            trail.digest()
        except (ApiError, VersionConflict):
            pass
"""
    assert hand_written_retry_loops(per_item) == []  # one try per item: not a retry loop


def test_no_retry_loop_is_written_by_hand_outside_retry_py() -> None:
    offenders = {
        f"{path.relative_to(SRC)}:{line}"
        for path in SRC.rglob("*.py")
        if path.name != "retry.py" or path.parent != SRC
        for line in hand_written_retry_loops(path.read_text())
    }
    assert not offenders, f"use trailhouse.retry.retry_on_conflict instead: {sorted(offenders)}"
