"""Offline verification of a copy of a trail's table against its signed digests.

Given the table's folder (its `ds=…` partitions and `_digests` folder) and the published public
keys, `verify_folder` checks:

- every digest's signature, with the key its keyId names, valid when it was signed;
- the chain: sequences 1, 2, 3… without gaps, each digest linking to the previous one's SHA-256
  and signature, intervals that follow one another;
- every listed file: present, its SHA-256, its byte size and its row count;
- that no file a reader would read (`readers.py`: DuckDB, Spark, pyarrow) is left unlisted,
  whatever its folder, name or case;
- that the newest digest is recent enough (`max_age_seconds`), and, when given, that it is the
  one the trail's status names (`expect_latest`), so that deleting the newest digests is seen.

Every problem is reported naming the digest or file and what is wrong.
"""

from __future__ import annotations

import base64
import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pyarrow.parquet as pq

from trailhouse.integrity.digest import SignedDigest, digest_file_name, signature_valid
from trailhouse.integrity.readers import readers_of, table_files

_CHUNK = 1 << 20
# Passed as max_age_seconds: "two of the newest digest's intervals and a minute".
DEFAULT_AGE = -1.0


@dataclass(frozen=True, slots=True)
class PublicKey:
    """A published key: its id, region, raw bytes and validity window (valid_to 0: current)."""

    key_id: str
    public_key: bytes
    valid_from: int
    valid_to: int


@dataclass(slots=True)
class Report:
    """What a verification found."""

    digests: int = 0
    files: int = 0
    bytes: int = 0
    rows: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when nothing is wrong."""
        return not self.problems

    def fail(self, message: str) -> None:
        """Record a problem."""
        self.problems.append(message)


def load_public_keys(data: bytes) -> dict[str, PublicKey]:
    """Public keys from `trailhouse keys export` (or ListPublicKeys' `PublicKeys`)."""
    document: Any = orjson.loads(data)
    entries = document.get("PublicKeys", document) if isinstance(document, dict) else document
    return {
        entry["KeyId"]: PublicKey(
            entry["KeyId"],
            base64.b64decode(entry["PublicKey"]),
            int(entry["ValidFrom"]),
            int(entry["ValidTo"]),
        )
        for entry in entries
    }


def verify_folder(
    table_dir: Path,
    keys: dict[str, PublicKey],
    *,
    max_age_seconds: float | None = None,
    expect_latest: tuple[int, str] | None = None,
    now: float | None = None,
) -> Report:
    """Verify a table folder; the report lists every problem found."""
    report = Report()
    digests = _load_digests(table_dir / "_digests", report)
    chain = _check_chain(digests, keys, report)
    replaced = _replaced(chain)
    listed = _check_files(table_dir, chain, replaced, report)
    for relative, path in table_files(table_dir, report.fail):
        readers = readers_of(relative)
        if relative in listed or not readers:
            continue
        if relative in replaced and path.is_file() and _hash(path)[1] == replaced[relative]:
            continue  # compacted away, not yet swept
        report.fail(
            f"{relative}: no digest lists this file, which {' and '.join(readers)} would read "
            "(added or forged)"
        )
    _check_newest(chain, report, max_age_seconds, expect_latest, now)
    return report


def verify_rows(
    digests: list[SignedDigest],
    keys: dict[str, PublicKey],
    rows_by_day: dict[str, int],
    *,
    max_age_seconds: float | None = None,
    expect_latest: tuple[int, str] | None = None,
    now: float | None = None,
) -> Report:
    """Verify digests read through SQL against the table's row counts per `ds` read through SQL.

    The signatures and the chain are checked as for a folder; then each day's row count must be
    what the digests' files of that day add up to.
    """
    report = Report()
    ordered = sorted(digests, key=lambda d: int(d.digest.get("sequence", 0)))
    named = [(digest_file_name(int(d.digest.get("sequence", 0))), d) for d in ordered]
    if not named:
        report.fail("no digest found in the digest table")
    chain = _check_chain(named, keys, report)
    replaced = _replaced(chain)
    listed: dict[str, int] = {}
    for _, signed in chain:
        for entry in signed.digest.get("files", []):
            if str(entry["path"]) in replaced:
                continue  # its rows are counted in the compacted file that replaced it
            day = str(entry["path"]).split("/", 1)[0].removeprefix("ds=")
            listed[day] = listed.get(day, 0) + int(entry["rows"])
            report.files += 1
    for day in sorted(set(listed) | set(rows_by_day)):
        found, expected = rows_by_day.get(day, 0), listed.get(day, 0)
        report.rows += found
        if found != expected:
            change = "rows were deleted" if found < expected else "rows were added"
            report.fail(
                f"ds={day}: {found} rows through SQL, the digests list {expected} ({change})"
            )
    _check_newest(chain, report, max_age_seconds, expect_latest, now)
    return report


def _load_digests(folder: Path, report: Report) -> list[tuple[str, SignedDigest]]:
    found = []
    for path in sorted(folder.glob("*.json")):
        try:
            found.append((path.name, SignedDigest.from_json(path.read_bytes())))
        except ValueError as exc:
            report.fail(f"_digests/{path.name}: {exc}")
    if not found:
        report.fail("_digests: no digest found")
    found.sort(key=lambda item: int(item[1].digest.get("sequence", 0)))
    return found


def _check_chain(
    digests: list[tuple[str, SignedDigest]], keys: dict[str, PublicKey], report: Report
) -> list[tuple[str, SignedDigest]]:
    previous: SignedDigest | None = None
    for name, signed in digests:
        digest = signed.digest
        label = f"digest {digest.get('sequence')} (_digests/{name})"
        report.digests += 1
        if name != digest_file_name(int(digest.get("sequence", 0))):
            report.fail(f"{label}: the file's name does not match the digest it holds (swapped)")
        key = keys.get(str(digest.get("keyId")))
        signed_at = int(digest.get("signedAt", 0))
        if key is None:
            report.fail(f"{label}: signed with unknown key {digest.get('keyId')}")
        elif not signature_valid(digest, signed.signature, key.public_key):
            report.fail(f"{label}: the signature does not match its content (changed or forged)")
        elif signed_at < key.valid_from or (key.valid_to and signed_at > key.valid_to):
            report.fail(f"{label}: signed at {signed_at}, outside key {key.key_id}'s validity")
        expected = 1 if previous is None else int(previous.digest["sequence"]) + 1
        if int(digest.get("sequence", 0)) != expected:
            report.fail(f"{label}: expected digest {expected} here: the chain has a gap")
        if previous is None:
            if digest.get("previousDigestSha256"):
                report.fail(f"{label}: links to a previous digest that is missing")
        else:
            if digest.get("previousDigestSha256") != previous.sha256:
                report.fail(f"{label}: does not link to digest {previous.digest['sequence']}")
            if digest.get("previousDigestSignature") != previous.signature:
                report.fail(f"{label}: names another signature for the previous digest")
            if digest.get("intervalStart") != previous.digest.get("intervalEnd"):
                report.fail(f"{label}: its interval does not follow the previous digest's")
        previous = signed
    return digests


def _check_files(
    table_dir: Path,
    chain: list[tuple[str, SignedDigest]],
    replaced: dict[str, str],
    report: Report,
) -> set[str]:
    listed: set[str] = set()
    for _, signed in chain:
        label = f"digest {signed.digest.get('sequence')}"
        for entry in signed.digest.get("files", []):
            relative = str(entry["path"])
            listed.add(relative)
            path = table_dir / relative
            if not path.is_file():
                if replaced.get(relative) == entry["sha256"]:
                    continue  # compacted into a file a later digest lists
                report.fail(f"{relative}: listed by {label} but missing (deleted)")
                continue
            size, sha256 = _hash(path)
            report.files += 1
            report.bytes += size
            if sha256 != entry["sha256"]:
                report.fail(f"{relative}: SHA-256 differs from {label} (changed)")
                continue
            rows = pq.ParquetFile(path).metadata.num_rows
            report.rows += rows if relative not in replaced else 0
            if rows != entry["rows"] or size != entry["bytes"]:
                report.fail(f"{relative}: {rows} rows, {label} says {entry['rows']}")
            merged = entry.get("replaces") or []
            if merged and sum(int(r[2]) for r in merged) != rows:
                report.fail(f"{relative}: compacted from files holding other row counts")
    return listed


def _replaced(chain: list[tuple[str, SignedDigest]]) -> dict[str, str]:
    """Files a compacted file replaced: their path (relative to the table) → SHA-256."""
    return {
        str(path): str(sha256)
        for _, signed in chain
        for entry in signed.digest.get("files", [])
        for path, sha256, _rows in entry.get("replaces") or []
    }


def _check_newest(
    chain: list[tuple[str, SignedDigest]],
    report: Report,
    max_age_seconds: float | None,
    expect_latest: tuple[int, str] | None,
    now: float | None,
) -> None:
    if not chain:
        return
    newest = chain[-1][1]
    sequence = int(newest.digest.get("sequence", 0))
    if expect_latest is not None and (sequence, newest.sha256) != expect_latest:
        report.fail(
            f"the newest digest is {sequence} ({newest.sha256[:12]}…), but the trail's status "
            f"names digest {expect_latest[0]} ({expect_latest[1][:12]}…): digests were deleted "
            "or replaced"
        )
    if max_age_seconds == DEFAULT_AGE:
        interval = int(newest.digest["intervalEnd"]) - int(newest.digest["intervalStart"])
        max_age_seconds = 2 * interval + 60
    if max_age_seconds:
        age = (now if now is not None else time.time()) - int(newest.digest["intervalEnd"])
        if age > max_age_seconds:
            report.fail(
                f"the newest digest ({sequence}) ended {int(age)} s ago, more than the "
                f"{int(max_age_seconds)} s allowed: newer digests may have been deleted"
            )


def _hash(path: Path) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()
