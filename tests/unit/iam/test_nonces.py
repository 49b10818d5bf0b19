"""Signature nonces: each is accepted once per key while a signature could still carry it."""

from __future__ import annotations

import time

from trailhouse.iam.nonces import SignatureNonces
from trailhouse.settings import Settings
from trailhouse.store import open_metadata


def test_a_nonce_is_accepted_once_per_key_until_it_expires(settings: Settings) -> None:
    metadata = open_metadata(settings)
    try:
        nonces = SignatureNonces(metadata, clock_skew_seconds=900)
        assert nonces.claim("key-a", "n-1")
        assert not nonces.claim("key-a", "n-1")  # a replay
        assert nonces.claim("key-b", "n-1")  # another key's nonce
        # Claimed 3 skews ago: remembered for 2 skews, so forgotten by now.
        past = SignatureNonces(metadata, clock_skew_seconds=900, clock=lambda: time.time() - 2700)
        assert past.claim("key-c", "n-2")
        assert nonces.claim("key-c", "n-2")
    finally:
        metadata.close()
