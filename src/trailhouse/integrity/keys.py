"""Per-region Ed25519 signing keys that rotate, and their public halves with validity windows.

A region's current key signs its digests until `signing_key_days` have passed; the next digest
then makes a new key and closes the old one's window. Public keys are published (ListPublicKeys,
`trailhouse keys export`) so that anyone can verify digests offline. Private keys are kept in
the metadata store: whoever can read that store can sign, so protect it as the audit trail's
root of trust.
"""

from __future__ import annotations

import base64
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from trailhouse.retry import retry_on_conflict
from trailhouse.store.documents import decode, encode
from trailhouse.store.ports import DocumentWrite, MetadataStore

SIGNING_KEY_KIND = "signing-key"


@dataclass(frozen=True, slots=True)
class SigningKey:
    """One key of a region. `valid_to` is 0 while it is the current key."""

    key_id: str
    region: str
    private_key: str
    public_key: str
    valid_from: int
    valid_to: int

    @property
    def private_bytes(self) -> bytes:
        """The raw 32-byte Ed25519 private key."""
        return base64.b64decode(self.private_key)

    @property
    def public_bytes(self) -> bytes:
        """The raw 32-byte Ed25519 public key."""
        return base64.b64decode(self.public_key)

    def published(self) -> dict[str, str | int]:
        """What ListPublicKeys shows of it."""
        return {
            "KeyId": self.key_id,
            "Region": self.region,
            "Algorithm": "Ed25519",
            "PublicKey": self.public_key,
            "ValidFrom": self.valid_from,
            "ValidTo": self.valid_to,
        }


class SigningKeys:
    """Makes, rotates and lists the signing keys of each region."""

    def __init__(
        self,
        metadata: MetadataStore,
        rotation_seconds: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._metadata = metadata
        self._rotation_seconds = rotation_seconds
        self._clock = clock

    def current(self, region: str) -> SigningKey:
        """The region's key to sign with now, made (or rotated) when needed."""

        def attempt() -> SigningKey:
            now = int(self._clock())
            documents = self._metadata.list_documents(SIGNING_KEY_KIND, region)
            keys = [(decode(SigningKey, d.body), d.version) for d in documents]
            live = [(k, v) for k, v in keys if not k.valid_to]
            if live and now - live[-1][0].valid_from < self._rotation_seconds:
                return live[-1][0]
            fresh = _new_key(region, now)
            writes = [
                DocumentWrite(
                    SIGNING_KEY_KIND, region, k.key_id, encode(replace(k, valid_to=now)), v
                )
                for k, v in live
            ]
            writes.append(DocumentWrite(SIGNING_KEY_KIND, region, fresh.key_id, encode(fresh), 0))
            self._metadata.commit(writes)
            return fresh

        return retry_on_conflict(attempt, what=f"the signing keys of {region}")

    def public_keys(self, region: str | None = None) -> list[SigningKey]:
        """Every key (of one region, or all), oldest first; callers show only public halves."""
        keys = [
            decode(SigningKey, d.body)
            for d in self._metadata.list_documents(SIGNING_KEY_KIND, region)
        ]
        return sorted(keys, key=lambda k: (k.region, k.valid_from, k.key_id))


def _new_key(region: str, now: int) -> SigningKey:
    private = Ed25519PrivateKey.generate()
    public = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    raw = private.private_bytes_raw()
    return SigningKey(
        key_id=f"{region}-{time.strftime('%Y%m%d', time.gmtime(now))}-{secrets.token_hex(4)}",
        region=region,
        private_key=base64.b64encode(raw).decode(),
        public_key=base64.b64encode(public).decode(),
        valid_from=now,
        valid_to=0,
    )
