"""The verify benchmark: MB/s of `trailhouse verify` beside plain `sha256sum` of the same files.

Takes a table folder that `bench/warehouse.py --keep` left (10 million events by default there),
signs a chain of digests over its files with a fresh key (one digest per 50 files, written into
the folder's `_digests`), then alternates timed runs of `verify_folder` and of `sha256sum` over
the same files, with the page cache warmed by an untimed run of each. Target: verify at least
0.8x sha256sum's throughput.

    .venv/bin/python bench/warehouse.py --keep --data-dir /big
    .venv/bin/python bench/verify.py /big/trailhouse-warehouse-bench-XXXX
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
import pyarrow.parquet as pq
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from trailhouse.integrity.digest import SignedDigest, digest_file_name, sign
from trailhouse.integrity.verify import load_public_keys, verify_folder

FILES_PER_DIGEST = 50
TARGET_RATIO = 0.8


def find_table(root: Path) -> Path:
    """The one table folder (holding ds=… partitions) under `root`."""
    tables = sorted({p.parent.parent for p in root.rglob("ds=*/*.parquet")})
    tables = [t for t in tables if not t.name.endswith("_digest")]
    if len(tables) != 1:
        sys.exit(f"expected one table under {root}, found {len(tables)}: pass the table folder")
    return tables[0]


def sign_chain(table: Path, keys_file: Path) -> int:
    """Write a digest chain over every data file of `table`; return the number of digests."""
    private = Ed25519PrivateKey.generate()
    public = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    keys_file.write_bytes(
        orjson.dumps(
            [
                {
                    "KeyId": "bench",
                    "PublicKey": base64.b64encode(public).decode(),
                    "ValidFrom": 0,
                    "ValidTo": 0,
                }
            ]
        )
    )
    folder = table / "_digests"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    files = sorted(table.glob("ds=*/*.parquet"))
    previous: SignedDigest | None = None
    count = 0
    for start in range(0, len(files), FILES_PER_DIGEST):
        count += 1
        listed = [_entry(table, path) for path in files[start : start + FILES_PER_DIGEST]]
        digest: dict[str, Any] = {
            "version": 1,
            "sequence": count,
            "intervalStart": count * 3600,
            "intervalEnd": (count + 1) * 3600,
            "files": listed,
            "previousDigestSha256": previous.sha256 if previous else "",
            "previousDigestSignature": previous.signature if previous else "",
            "keyId": "bench",
            "signedAt": int(time.time()),
        }
        previous = SignedDigest(digest, sign(digest, private.private_bytes_raw()))
        (folder / digest_file_name(count)).write_bytes(previous.to_json())
    return count


def _entry(table: Path, path: Path) -> dict[str, Any]:
    content = path.read_bytes()
    return {
        "path": str(path.relative_to(table)),
        "sha256": hashlib.sha256(content).hexdigest(),
        "rows": pq.ParquetFile(path).metadata.num_rows,
        "bytes": len(content),
    }


def time_verify(table: Path, keys_file: Path) -> tuple[float, int]:
    keys = load_public_keys(keys_file.read_bytes())
    started = time.perf_counter()
    report = verify_folder(table, keys)
    elapsed = time.perf_counter() - started
    if not report.ok:
        sys.exit(f"verify found problems in an untouched table: {report.problems[:3]}")
    return elapsed, report.bytes


def time_sha256sum(files: list[Path]) -> float:
    started = time.perf_counter()
    subprocess.run(["sha256sum", *map(str, files)], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="a table folder, or a kept warehouse bench dir")
    parser.add_argument("--runs", type=int, default=3)
    arguments = parser.parse_args()
    table = (
        arguments.folder if list(arguments.folder.glob("ds=*")) else find_table(arguments.folder)
    )
    files = sorted(table.glob("ds=*/*.parquet"))
    with tempfile.TemporaryDirectory() as scratch:
        keys_file = Path(scratch) / "keys.json"
        digests = sign_chain(table, keys_file)
        size = sum(p.stat().st_size for p in files)
        print(f"{table}: {len(files)} files, {size / 1e6:.0f} MB, {digests} digests")
        time_sha256sum(files)  # warm the page cache for both
        time_verify(table, keys_file)
        verify_times, sum_times = [], []
        for _ in range(arguments.runs):
            verify_times.append(time_verify(table, keys_file)[0])
            sum_times.append(time_sha256sum(files))
    verify_rate = size / 1e6 / statistics.median(verify_times)
    sum_rate = size / 1e6 / statistics.median(sum_times)
    ratio = verify_rate / sum_rate
    print(f"{'figure':<36}{'MB/s':>10}")
    print(f"{'trailhouse verify (whole check)':<36}{verify_rate:>10.0f}")
    print(f"{'sha256sum (baseline)':<36}{sum_rate:>10.0f}")
    met = "yes" if ratio >= TARGET_RATIO else "NO"
    print(f"ratio verify / sha256sum: {ratio:.2f}x (target >= {TARGET_RATIO}x: {met})")


if __name__ == "__main__":
    main()
