"""The LookupEvents limit: a token bucket per account, shared through the metadata store."""

from __future__ import annotations

from pathlib import Path

import pytest

from trailhouse.errors import ThrottlingUser
from trailhouse.events.throttle import RateLimiter
from trailhouse.settings import Settings
from trailhouse.store import open_metadata


def test_rate_limiter_throttles_and_says_when_to_retry(tmp_path: Path) -> None:
    metadata = open_metadata(Settings.load({"data_dir": tmp_path}, environ={}))
    limiter = RateLimiter(metadata, 2, "LookupEvents")
    limiter.acquire("a")
    limiter.acquire("a")
    with pytest.raises(ThrottlingUser, match="limited to 2 calls per second per account") as no:
        limiter.acquire("a")
    assert 0 < no.value.retry_after_ms <= 500
    limiter.acquire("b")  # other accounts have their own bucket
    RateLimiter(metadata, 0, "off").acquire("a")
    metadata.close()
