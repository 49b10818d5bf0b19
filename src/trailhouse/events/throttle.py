"""A per-account token bucket, the way ActionTrail limits LookupEvents per account.

The same limit applies, each action with its own bucket, to every read that scans an account's
event history (`HISTORY_READS`): each such call reads up to tens of thousands of events, so
without a rate one key could keep the server busy.

The buckets live in the metadata store, so that every process behind a load balancer enforces
one limit per account rather than one each. `trailhouse.runtime` builds the limiter; the API's
dispatcher only asks it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from trailhouse.errors import ThrottlingUser
from trailhouse.store.ports import MetadataStore

# The actions that scan an account's event history, each limited per account.
HISTORY_READS = (
    "LookupEvents",
    "LookupAdvancedQueryEvents",
    "LookupInsightEvents",
    "GetInsightsEventsCount",
    "DescribeResourceLifeCycleEvents",
    "DescribeUserLogCount",
    "DescribeUserAlertCount",
    "GetAccessKeyLastUsedEvents",
    "GetAccessKeyLastUsedInfo",
    "GetAccessKeyLastUsedIps",
    "GetAccessKeyLastUsedProducts",
    "GetAccessKeyLastUsedResources",
)


class RateLimiter:
    """Allows `rate` calls per second per key, with bursts of up to `rate` calls (at least 1)."""

    def __init__(self, store: MetadataStore, rate: float, what: str) -> None:
        self._store = store
        self._rate = rate
        self._burst = max(rate, 1.0)
        self._what = what

    def acquire(self, key: str) -> None:
        """Take one call from `key`'s bucket; ThrottlingUser when it is empty."""
        if self._rate <= 0:
            return
        wait = self._store.take_token(f"{self._what}/{key}", self._rate, self._burst)
        if wait > 0:
            wait_ms = math.ceil(wait * 1000)
            raise ThrottlingUser(
                f"{self._what} is limited to {self._rate:g} calls per second per account; "
                f"retry after {wait_ms} ms",
                retry_after_ms=wait_ms,
            )


def history_read_limiters(store: MetadataStore, rate: float) -> Mapping[str, RateLimiter]:
    """One limiter per action of `HISTORY_READS`, each allowing `rate` calls per second per
    account (`lookup_rate_per_second`)."""
    return {action: RateLimiter(store, rate, action) for action in HISTORY_READS}
