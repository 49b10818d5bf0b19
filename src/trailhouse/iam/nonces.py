"""Signature nonces: each is accepted once per access key, so a captured request cannot be
replayed while its signature is still valid.

Nonces are kept in the metadata store, so a request replayed to another process behind the
same load balancer is refused too. A nonce is remembered for twice the allowed clock skew: a
signature older than that is refused for its time anyway.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from trailhouse.store.ports import MetadataStore


class SignatureNonces:
    """Records the nonces signed requests carry, refusing one seen before."""

    def __init__(
        self,
        metadata: MetadataStore,
        clock_skew_seconds: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._metadata = metadata
        self._remember_seconds = 2 * clock_skew_seconds
        self._clock = clock

    def claim(self, access_key_id: str, nonce: str) -> bool:
        """Record the key's nonce; False when it was already used (a replay)."""
        expires_at = int(self._clock()) + self._remember_seconds
        return self._metadata.use_nonce(f"{access_key_id}:{nonce}", expires_at)
