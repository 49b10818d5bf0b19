"""Signed digests over a real delivered table, and the attacks `trailhouse verify` must catch."""

from __future__ import annotations

import base64
import shutil
import time
from pathlib import Path

import pyarrow.parquet as pq
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from integrity_support import (
    INTERVAL,
    REGION,
    Delivered,
    check,
    copy,
    data_files,
    digests,
)

from trailhouse.integrity.digest import SignedDigest, sign
from trailhouse.integrity.keys import SigningKeys
from trailhouse.integrity.verify import verify_folder
from trailhouse.runtime import open_services
from trailhouse.settings import Settings


def test_a_whole_table_verifies(delivered: Delivered, tmp_path: Path) -> None:
    folder = copy(delivered, tmp_path)
    report = verify_folder(folder, delivered.keys, expect_latest=delivered.latest)
    assert report.ok, report.problems
    assert report.rows == 600 and report.files == len(data_files(folder)) > 0
    assert report.digests >= 10  # empty intervals get digests too


def test_changing_one_byte_is_caught(delivered: Delivered, tmp_path: Path) -> None:
    folder = copy(delivered, tmp_path)
    victim = data_files(folder)[0]
    content = bytearray(victim.read_bytes())
    content[len(content) // 2] ^= 0x01
    victim.write_bytes(bytes(content))
    (problem,) = check(delivered, folder)
    assert victim.name in problem and "SHA-256 differs" in problem


def test_a_deleted_file_is_caught(delivered: Delivered, tmp_path: Path) -> None:
    folder = copy(delivered, tmp_path)
    victim = data_files(folder)[-1]
    victim.unlink()
    (problem,) = check(delivered, folder)
    assert victim.name in problem and "missing (deleted)" in problem


def test_a_deleted_row_is_caught(delivered: Delivered, tmp_path: Path) -> None:
    folder = copy(delivered, tmp_path)
    victim = data_files(folder)[0]
    table = pq.read_table(victim)
    pq.write_table(table.slice(1), victim, compression="zstd")
    (problem,) = check(delivered, folder)
    assert victim.name in problem and "changed" in problem


def test_a_forged_file_is_caught(delivered: Delivered, tmp_path: Path) -> None:
    folder = copy(delivered, tmp_path)
    original = data_files(folder)[0]
    forged = original.with_name("part-forged.parquet")
    shutil.copy(original, forged)
    (problem,) = check(delivered, folder)
    assert "part-forged.parquet" in problem and "no digest lists" in problem


def test_deleting_the_newest_digest_is_caught(delivered: Delivered, tmp_path: Path) -> None:
    folder = copy(delivered, tmp_path)
    digests(folder)[-1].unlink()
    (problem,) = check(delivered, folder)
    assert "digests were deleted" in problem
    stale = verify_folder(folder, delivered.keys, max_age_seconds=INTERVAL, now=time.time() + 700)
    assert any("newer digests may have been deleted" in p for p in stale.problems)


def test_swapped_digests_are_caught(delivered: Delivered, tmp_path: Path) -> None:
    folder = copy(delivered, tmp_path)
    first, second = digests(folder)[1:3]
    a, b = first.read_bytes(), second.read_bytes()
    first.write_bytes(b)
    second.write_bytes(a)
    problems = check(delivered, folder)
    assert any(first.name in p and "swapped" in p for p in problems)


def test_a_digest_re_signed_with_another_key_is_caught(
    delivered: Delivered, tmp_path: Path
) -> None:
    folder = copy(delivered, tmp_path)
    listed = [p for p in digests(folder) if SignedDigest.from_json(p.read_bytes()).digest["files"]]
    target = listed[0]
    signed = SignedDigest.from_json(target.read_bytes())
    removed = signed.digest["files"].pop()  # hide a file, then sign with the attacker's key
    (folder / removed["path"]).unlink()
    attacker = Ed25519PrivateKey.generate().private_bytes_raw()
    target.write_bytes(SignedDigest(signed.digest, sign(signed.digest, attacker)).to_json())
    problems = check(delivered, folder)
    assert any(target.name in p and "signature does not match" in p for p in problems)


def test_signing_keys_rotate_and_keep_their_windows(tmp_path: Path) -> None:
    settings = Settings.load({"data_dir": tmp_path / "data"}, environ={})
    services = open_services(settings)
    try:
        moment = [1_000_000.0]
        keys = SigningKeys(services.stores.metadata, 3600, clock=lambda: moment[0])
        first = keys.current(REGION)
        assert keys.current(REGION) == first
        moment[0] += 3601
        second = keys.current(REGION)
        assert second.key_id != first.key_id
        published = {k.key_id: k for k in keys.public_keys(REGION)}
        assert published[first.key_id].valid_to == int(moment[0])
        assert published[second.key_id].valid_to == 0
        assert len(base64.b64decode(second.public_key)) == 32
    finally:
        services.close()


def test_the_documented_string_to_sign_is_what_is_signed(delivered: Delivered) -> None:
    """docs/integrity.md tells third parties to sign json.dumps(sort_keys, compact): check it."""
    import json

    from trailhouse.integrity.digest import canonical, signature_valid

    for path in digests(delivered.table_dir):
        signed = SignedDigest.from_json(path.read_bytes())
        documented = json.dumps(
            signed.digest, sort_keys=True, separators=(",", ":"), ensure_ascii=False
        ).encode()
        assert documented == canonical(signed.digest)
        key = delivered.keys[signed.digest["keyId"]]
        assert signature_valid(signed.digest, signed.signature, key.public_key)


def test_row_counts_read_through_sql_are_checked_against_the_digests(
    delivered: Delivered,
) -> None:
    from trailhouse.integrity.verify import verify_rows

    signed = [SignedDigest.from_json(p.read_bytes()) for p in digests(delivered.table_dir)]
    counts: dict[str, int] = {}
    for digest in signed:
        for entry in digest.digest["files"]:
            day = entry["path"].split("/")[0].removeprefix("ds=")
            counts[day] = counts.get(day, 0) + entry["rows"]
    assert verify_rows(signed, delivered.keys, counts, expect_latest=delivered.latest).ok
    day = sorted(counts)[0]
    fewer = verify_rows(signed, delivered.keys, {**counts, day: counts[day] - 1})
    assert fewer.problems == [
        f"ds={day}: {counts[day] - 1} rows through SQL, the digests list {counts[day]} "
        "(rows were deleted)"
    ]
    gap = verify_rows(signed[:2] + signed[3:], delivered.keys, counts)
    assert any("the chain has a gap" in p for p in gap.problems)


def test_by_default_the_newest_digest_may_be_two_intervals_old(delivered: Delivered) -> None:
    from trailhouse.integrity.verify import DEFAULT_AGE

    newest = SignedDigest.from_json(digests(delivered.table_dir)[-1].read_bytes()).digest
    end = newest["intervalEnd"]
    fresh = verify_folder(
        delivered.table_dir, delivered.keys, max_age_seconds=DEFAULT_AGE, now=end + 2 * INTERVAL
    )
    assert fresh.ok, fresh.problems
    stale = verify_folder(
        delivered.table_dir,
        delivered.keys,
        max_age_seconds=DEFAULT_AGE,
        now=end + 2 * INTERVAL + 61,
    )
    assert any("newer digests may have been deleted" in p for p in stale.problems)
    unchecked = verify_folder(
        delivered.table_dir, delivered.keys, max_age_seconds=0, now=end + 10**6
    )
    assert unchecked.ok
