"""Attacks on the tail of a digest chain, and the signed anchors that catch them.

An attacker who can edit the storage (not the metadata store, which holds the private keys)
deletes the newest digests with the files they list: the chain that is left still checks.
A signed anchor held outside the copy names the newest digest; verify must see the tail is
gone, and must not be fooled by an old anchor replayed, an anchor edited or forged, or a
trail left without one.
"""

from __future__ import annotations

import time
from pathlib import Path

import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from integrity_support import REGION, Delivered, copy, digests

from trailhouse.integrity.anchor import SignedAnchor, load_anchors, make_anchor
from trailhouse.integrity.digest import SignedDigest, sign
from trailhouse.integrity.verify import DEFAULT_AGE, verify_folder


def _anchor(delivered: Delivered) -> SignedAnchor:
    (anchor,) = load_anchors(delivered.anchor_file.read_bytes())
    return anchor


def _moment(anchor: SignedAnchor) -> float:
    """A moment the anchor is fresh at (the fixture's digester runs 700 s ahead)."""
    return float(anchor.anchor["signedAt"]) + 5


def _delete_tail(folder: Path, count: int) -> None:
    """Delete the newest `count` digests and every file they list."""
    for path in digests(folder)[-count:]:
        for entry in SignedDigest.from_json(path.read_bytes()).digest["files"]:
            (folder / entry["path"]).unlink(missing_ok=True)
        path.unlink()


# The fixture's files are all listed by its first digest; the newest digests list none. The
# tail deleted here is the newest three, enough to show what is seen.
TAIL = 3


def test_the_digesters_anchor_vouches_for_the_whole_table(delivered: Delivered) -> None:
    anchor = _anchor(delivered)
    assert (anchor.anchor["sequence"], anchor.anchor["digestSha256"]) == delivered.latest
    assert delivered.table_dir not in delivered.anchor_file.parents  # outside the table
    report = verify_folder(
        delivered.table_dir, delivered.keys, anchors=[anchor], now=_moment(anchor)
    )
    assert report.ok, report.problems


def test_a_deleted_tail_is_caught_by_the_anchor(delivered: Delivered, tmp_path: Path) -> None:
    folder = copy(delivered, tmp_path)
    _delete_tail(folder, TAIL)
    anchor = _anchor(delivered)
    # Without an anchor, and with no clock to judge the age by, the shorter chain checks out:
    assert verify_folder(folder, delivered.keys, max_age_seconds=0).ok
    problems = verify_folder(
        folder, delivered.keys, max_age_seconds=0, anchors=[anchor], now=_moment(anchor)
    ).problems
    (problem,) = problems
    assert "digests were deleted" in problem and f"names digest {delivered.latest[0]}" in problem


def test_every_digest_deleted_is_caught(delivered: Delivered, tmp_path: Path) -> None:
    folder = copy(delivered, tmp_path)
    _delete_tail(folder, len(digests(folder)))
    anchor = _anchor(delivered)
    problems = verify_folder(folder, delivered.keys, anchors=[anchor], now=_moment(anchor)).problems
    assert any("the newest digest is 0" in p and "digests were deleted" in p for p in problems)


def test_an_old_anchor_replayed_is_caught(delivered: Delivered, tmp_path: Path) -> None:
    """An anchor the server signed earlier, naming the digest before the deleted tail."""
    folder = copy(delivered, tmp_path)
    count = TAIL
    kept = SignedDigest.from_json(digests(folder)[-count - 1].read_bytes())
    _delete_tail(folder, count)
    key = delivered.services.signing_keys.current(REGION)
    signed_at = int(kept.digest["signedAt"])
    old = make_anchor(
        kept.digest["trailArn"],
        REGION,
        kept.digest["sequence"],
        kept.sha256,
        kept.digest["intervalEnd"],
        key,
        signed_at,
    )
    later = signed_at + 10 * 60 * 60
    report = verify_folder(
        folder, delivered.keys, max_age_seconds=DEFAULT_AGE, anchors=[old], now=later
    )
    assert any("the anchor was signed 36000 s ago" in p for p in report.problems)
    # Given together with the fresh anchor, the newest one counts.
    fresh = _anchor(delivered)
    both = verify_folder(folder, delivered.keys, anchors=[old, fresh], now=_moment(fresh))
    assert any("digests were deleted" in p for p in both.problems)


def test_an_edited_anchor_is_caught(delivered: Delivered, tmp_path: Path) -> None:
    folder = copy(delivered, tmp_path)
    count = TAIL
    _delete_tail(folder, count)
    anchor = _anchor(delivered)
    edited = SignedAnchor(
        {**anchor.anchor, "sequence": anchor.anchor["sequence"] - count}, anchor.signature
    )
    problems = verify_folder(folder, delivered.keys, anchors=[edited], now=_moment(anchor)).problems
    assert any("signature does not match its content" in p for p in problems)
    assert any("no anchor names this trail" in p for p in problems)


def test_an_anchor_forged_with_another_key_is_caught(delivered: Delivered, tmp_path: Path) -> None:
    folder = copy(delivered, tmp_path)
    _delete_tail(folder, TAIL)
    anchor = _anchor(delivered)
    content = {**anchor.anchor, "sequence": 1, "digestSha256": ""}
    attacker = Ed25519PrivateKey.generate().private_bytes_raw()
    forged = SignedAnchor(content, sign(content, attacker))
    problems = verify_folder(folder, delivered.keys, anchors=[forged], now=_moment(anchor)).problems
    assert any("signature does not match its content (changed or forged)" in p for p in problems)


def test_a_replaced_digest_is_caught(delivered: Delivered) -> None:
    """An anchor naming another SHA-256 for the newest digest: the chain in the copy forked."""
    anchor = _anchor(delivered)
    key = delivered.services.signing_keys.current(REGION)
    content = anchor.anchor
    other = make_anchor(
        content["trailArn"],
        REGION,
        content["sequence"],
        "0" * 64,
        content["intervalEnd"],
        key,
        content["signedAt"],
    )
    (problem,) = verify_folder(
        delivered.table_dir, delivered.keys, anchors=[other], now=_moment(anchor)
    ).problems
    assert "digests were replaced" in problem


def test_a_trail_without_an_anchor_is_a_failure(delivered: Delivered) -> None:
    """Anchors for other trails only: this trail's tail could be gone unseen."""
    anchor = _anchor(delivered)
    key = delivered.services.signing_keys.current(REGION)
    stranger = make_anchor(
        "acs:actiontrail:cn-hangzhou:1:trail/other-trail", REGION, 0, "", 0, key, int(time.time())
    )
    (problem,) = verify_folder(
        delivered.table_dir, delivered.keys, anchors=[stranger], now=_moment(anchor)
    ).problems
    assert problem.startswith(f"{anchor.anchor['trailArn']}: no anchor names this trail")


def test_an_anchor_file_holds_one_anchor_or_a_list(delivered: Delivered) -> None:
    anchor = _anchor(delivered)
    listed = orjson.dumps([anchor.document(), anchor.document()])
    assert load_anchors(listed) == [anchor, anchor]
    with pytest.raises(ValueError, match="not an anchor file"):
        load_anchors(digests(delivered.table_dir)[0].read_bytes())
