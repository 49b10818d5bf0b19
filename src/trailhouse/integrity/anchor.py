"""Signed anchors: a trail's newest digest, signed together with the moment it was true.

Deleting the newest digests and the files they list leaves a chain that still checks. An anchor
is what a verifier holds outside the copy: "at `signedAt`, trail T's newest digest was digest N
with SHA-256 H", signed with the region's key like the digests. `verify --anchor` requires the
copy to hold digest N with that SHA-256 (or a newer one), and the anchor to be recent, so an old
anchor replayed does not vouch for a copy whose tail went since.

The digester's `DigestAnchors` signs one afresh on request (GetDigestAnchor, `trailhouse keys
anchor`), and the digester writes one after each pass that made digests to
`<warehouse>/_anchors/<account id>/<trail name>.json`, outside every table folder: a heartbeat
anyone holding the storage can pick up. Signed like the digests (canonical JSON, Ed25519,
`docs/integrity.md`); this module is the format.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from trailhouse.integrity.digest import sign
from trailhouse.integrity.keys import SigningKey

ANCHOR_TYPE = "trailhouse.digestAnchor"
ANCHOR_VERSION = 1
ANCHORS_FOLDER = "_anchors"


@dataclass(frozen=True, slots=True)
class SignedAnchor:
    """An anchor and its signature, as the `.json` file and GetDigestAnchor hold them."""

    anchor: dict[str, Any]
    signature: str

    def document(self) -> dict[str, Any]:
        """The JSON object: `{"anchor": {...}, "signature": "<base64>"}`."""
        return {"anchor": self.anchor, "signature": self.signature}

    def to_json(self) -> bytes:
        """The file's content."""
        return orjson.dumps(self.document(), option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2)


def anchor_path(account_id: str, trail_name: str) -> str:
    """Where the digester leaves a trail's newest anchor, relative to the warehouse folder."""
    return f"{ANCHORS_FOLDER}/{account_id}/{trail_name}.json"


def make_anchor(
    trail_arn: str,
    region: str,
    sequence: int,
    digest_sha256: str,
    interval_end: int,
    key: SigningKey,
    now: int,
) -> SignedAnchor:
    """Sign "at `now`, the trail's newest digest is `sequence` with `digest_sha256`"."""
    anchor: dict[str, Any] = {
        "type": ANCHOR_TYPE,
        "version": ANCHOR_VERSION,
        "trailArn": trail_arn,
        "region": region,
        "sequence": sequence,
        "digestSha256": digest_sha256,
        "intervalEnd": interval_end,
        "keyId": key.key_id,
        "signedAt": now,
    }
    return SignedAnchor(anchor, sign(anchor, key.private_bytes))


def load_anchors(data: bytes) -> list[SignedAnchor]:
    """The anchors of a file: one `{"anchor", "signature"}` object or a list of them."""
    try:
        document: Any = orjson.loads(data)
        entries = document if isinstance(document, list) else [document]
        anchors = [SignedAnchor(dict(e["anchor"]), str(e["signature"])) for e in entries]
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"not an anchor file: {exc}") from exc
    if any(a.anchor.get("type") != ANCHOR_TYPE for a in anchors):
        raise ValueError(f"not an anchor file: an entry's type is not {ANCHOR_TYPE}")
    return anchors
