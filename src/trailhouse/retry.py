"""The one retry policy: which failures are worth trying again, how often, and how far apart.

Every loop that retries goes through here. Optimistic-concurrency conflicts (a document changed
between its read and its commit) are retried by `retry_on_conflict` under `CONFLICT`: a few
quick attempts, apart by a small jittered backoff, and then a VersionConflict naming what kept
changing, never a silent return. A failed trail is retried by the delivery engine on the
`delivery_policy` schedule, and `classify` tells it (and anyone else) whether a failure is
transient or terminal, by its class (see `trailhouse.errors`). The client's throttling retries
use `THROTTLED`.
"""

from __future__ import annotations

import enum
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TypeVar

from trailhouse.errors import RequestFailed, TrailhouseError, VersionConflict

R = TypeVar("R")


class Outcome(enum.StrEnum):
    """What a failure calls for."""

    TRANSIENT = "transient"  # it may pass: try again after a while
    TERMINAL = "terminal"  # it needs a person (or a fix): report it


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How many attempts, and how long to wait after each failure in a row.

    The wait after the n-th failure is `base_delay` doubled n-1 times, at most `max_delay`; with
    `jitter` j a random share of it, up to j, is taken off, so that rivals that failed together
    do not come back together. `attempts` counts every try, the first included; None means the
    caller never gives up (and must show the failure somewhere while it keeps trying).
    """

    attempts: int | None
    base_delay: float
    max_delay: float
    jitter: float = 0.0

    def __post_init__(self) -> None:
        if self.attempts is not None and self.attempts < 1:
            raise ValueError(f"a retry policy needs at least one attempt, not {self.attempts}")
        if not 0.0 <= self.jitter <= 1.0:
            raise ValueError(f"jitter is a share between 0 and 1, not {self.jitter}")

    def delay(self, failures: int, rng: Callable[[], float] = random.random) -> float:
        """Seconds to wait after `failures` failures in a row (1 after the first)."""
        doubled = self.base_delay * 2.0 ** max(failures - 1, 0)
        return min(doubled, self.max_delay) * (1.0 - self.jitter * rng())

    def capped(self, seconds: float) -> float:
        """A wait someone else named (a server's retry-after), no longer than `max_delay`."""
        return min(max(seconds, 0.0), self.max_delay)

    @property
    def retries(self) -> int:
        """The attempts after the first, of a policy that has a limit."""
        if self.attempts is None:
            raise ValueError("this policy retries without end")
        return self.attempts - 1

    def exhausted(self, failures: int) -> bool:
        """True when `failures` failures in a row used up every attempt."""
        return self.attempts is not None and failures >= self.attempts


# Optimistic-concurrency conflicts: the loser reads again at once and usually wins the next
# round; under a crowd, waits of up to 2, 4, ... 50 ms (fully jittered) spread the rivals out.
# Eight attempts cost at most 0.16 s of waiting.
CONFLICT = RetryPolicy(attempts=8, base_delay=0.002, max_delay=0.05, jitter=1.0)

# A failed trail: tried again after `delivery_retry_seconds` (5 s by default), doubling up to a
# minute while it keeps failing; never given up, because the trail's status shows the failure.
DELIVERY = RetryPolicy(attempts=None, base_delay=5.0, max_delay=60.0)

# A throttled client call: resent after the delay the server names (x-acs-retry-after), capped at
# `max_delay`, three times at most.
THROTTLED = RetryPolicy(attempts=4, base_delay=0.0, max_delay=10.0)


def delivery_policy(retry_seconds: float) -> RetryPolicy:
    """DELIVERY starting at the `delivery_retry_seconds` setting (never capped below it)."""
    return replace(
        DELIVERY, base_delay=retry_seconds, max_delay=max(retry_seconds, DELIVERY.max_delay)
    )


def retry_on_conflict(
    attempt: Callable[[], R],
    *,
    what: str,
    policy: RetryPolicy = CONFLICT,
    retry_if: Callable[[VersionConflict], bool] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> R:
    """Call `attempt` (which reads, decides and commits) until it passes without a
    VersionConflict, waiting between attempts as `policy` says.

    `retry_if` may refuse to retry a conflict (it is then raised as is): a conflict that
    reading again cannot resolve. When the attempts run out, a VersionConflict says that `what`
    (a noun: "project p1") kept changing; nothing is ever given up silently.
    """
    if policy.attempts is None:
        raise ValueError("retry_on_conflict needs a policy with a limit on its attempts")
    failures = 0
    while True:
        try:
            return attempt()
        except VersionConflict as exc:
            if retry_if is not None and not retry_if(exc):
                raise
            failures += 1
            if policy.exhausted(failures):
                raise VersionConflict(
                    f"{what} kept changing: {failures} attempts met a concurrent change; try again"
                ) from exc
        sleep(policy.delay(failures))


def classify(exc: BaseException) -> Outcome:
    """Whether a failure is worth trying again, decided by its class.

    A trailhouse error says so itself (`TrailhouseError.transient`); a client's RequestFailed by
    the server's answer (throttled, unavailable, connection lost). An OSError is the disk or the
    network refusing for now, so transient. Anything else is a bug: the same code would fail
    the same way, so terminal.
    """
    if isinstance(exc, RequestFailed):
        return Outcome.TRANSIENT if exc.retryable else Outcome.TERMINAL
    if isinstance(exc, TrailhouseError):
        return Outcome.TRANSIENT if exc.transient else Outcome.TERMINAL
    if isinstance(exc, OSError):
        return Outcome.TRANSIENT
    return Outcome.TERMINAL
