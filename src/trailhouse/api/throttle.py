"""A per-key token bucket, the way ActionTrail limits LookupEvents per account."""

from __future__ import annotations

import threading
import time

from trailhouse.errors import ThrottlingUser


class RateLimiter:
    """Allows `rate` calls per second per key, with bursts of up to `rate` calls (at least 1)."""

    def __init__(self, rate: float, what: str) -> None:
        self._rate = rate
        self._burst = max(rate, 1.0)
        self._what = what
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def acquire(self, key: str) -> None:
        """Take one call from `key`'s bucket; ThrottlingUser when it is empty."""
        if self._rate <= 0:
            return
        now = time.monotonic()
        with self._lock:
            tokens, updated = self._buckets.get(key, (self._burst, now))
            tokens = min(self._burst, tokens + (now - updated) * self._rate)
            if tokens < 1.0:
                wait_ms = int((1.0 - tokens) / self._rate * 1000) + 1
                self._buckets[key] = (tokens, now)
                raise ThrottlingUser(
                    f"{self._what} is limited to {self._rate:g} calls per second per account; "
                    f"retry after {wait_ms} ms",
                    retry_after_ms=wait_ms,
                )
            self._buckets[key] = (tokens - 1.0, now)
