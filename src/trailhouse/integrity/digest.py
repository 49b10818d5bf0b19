"""The digest format: what a digest says, the exact bytes that are signed, and how to check it.

A digest covers one interval of one trail's table. It lists every data file committed in that
interval, links to the previous digest by its SHA-256 and signature, and is signed with
Ed25519. The string to sign is the digest object serialised as JSON with sorted keys, no
whitespace and UTF-8 (`canonical`). `docs/integrity.md` describes it for other verifiers.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass
from typing import Any

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

FORMAT_VERSION = 1
DIGESTS_FOLDER = "_digests"
_TRAIL_ARN = re.compile(
    r"^acs:actiontrail:[^:]*:(?P<account>[0-9A-Za-z_-]+):trail/(?P<name>[0-9A-Za-z_-]+)\Z"
)


def digest_file_name(sequence: int) -> str:
    """The name of digest `sequence` of a trail."""
    return f"digest-{sequence:010d}.json"


def digest_path(trail_arn: str, sequence: int) -> str:
    """Where digest `sequence` of a trail lives, relative to its table's folder.

    `_digests/<account id>/<trail name>/digest-<sequence>.json`: the trails of two accounts may
    deliver into one table (across accounts), and each keeps its own chain. ValueError when
    `trail_arn` is not a trail's ARN.
    """
    match = _TRAIL_ARN.match(trail_arn)
    if match is None:
        raise ValueError(f"not a trail ARN: {trail_arn!r}")
    return f"{DIGESTS_FOLDER}/{match['account']}/{match['name']}/{digest_file_name(sequence)}"


def legacy_digest_path(sequence: int) -> str:
    """Where releases before per-trail folders put digest `sequence`; still read by verify."""
    return f"{DIGESTS_FOLDER}/{digest_file_name(sequence)}"


def canonical(digest: dict[str, Any]) -> bytes:
    """The bytes that are signed and hashed: sorted keys, no whitespace, UTF-8."""
    return orjson.dumps(digest, option=orjson.OPT_SORT_KEYS)


def digest_sha256(digest: dict[str, Any]) -> str:
    """The hex SHA-256 of a digest's canonical bytes (what the next digest links to)."""
    return hashlib.sha256(canonical(digest)).hexdigest()


def sign(digest: dict[str, Any], private_key: bytes) -> str:
    """The base64 Ed25519 signature of the digest's canonical bytes."""
    key = Ed25519PrivateKey.from_private_bytes(private_key)
    return base64.b64encode(key.sign(canonical(digest))).decode()


def signature_valid(digest: dict[str, Any], signature: str, public_key: bytes) -> bool:
    """True when `signature` is the Ed25519 signature of the digest by this public key."""
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(
            base64.b64decode(signature), canonical(digest)
        )
    except (InvalidSignature, ValueError):
        return False
    return True


@dataclass(frozen=True, slots=True)
class SignedDigest:
    """A digest and its signature, as the `.json` file beside the data holds them."""

    digest: dict[str, Any]
    signature: str

    def to_json(self) -> bytes:
        """The file's content."""
        return orjson.dumps(
            {"digest": self.digest, "signature": self.signature},
            option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2,
        )

    @classmethod
    def from_json(cls, data: bytes) -> SignedDigest:
        """Read a digest file; ValueError when it is not one."""
        try:
            document = orjson.loads(data)
            return cls(dict(document["digest"]), str(document["signature"]))
        except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
            raise ValueError(f"not a digest file: {exc}") from exc

    @property
    def sha256(self) -> str:
        """The digest's own SHA-256."""
        return digest_sha256(self.digest)
