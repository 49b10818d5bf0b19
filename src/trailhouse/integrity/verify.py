"""Offline verification of a copy of a trail's table against its signed digests.

Given the table's folder (its `ds=…` partitions and `_digests` folder) and the published public
keys, `verify_folder` checks:

- every digest's signature, with the key its keyId names, valid when it was signed;
- each trail's chain (trails of several accounts may deliver into one table, each with its own
  chain under `_digests/<account id>/<trail name>/`, or in `_digests/` itself as releases before
  that wrote them): sequences 1, 2, 3… without gaps, each digest linking to the previous one's
  SHA-256 and signature, intervals that follow one another, each digest in its place;
- every listed file: present, its SHA-256, its byte size and its row count;
- that no file a reader would read (`readers.py`: DuckDB, Spark, pyarrow) is left unlisted,
  whatever its folder, name or case;
- that each trail's newest digest is recent enough (`max_age_seconds`); when given, that one is
  the digest the trail's status names (`expect_latest`); and, given signed anchors (`anchor.py`),
  that each trail's chain reaches the digest its newest anchor names, with that SHA-256, and
  that the anchor is recent: so that deleting the newest digests is seen.

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

from trailhouse.integrity.anchor import SignedAnchor
from trailhouse.integrity.digest import (
    DIGESTS_FOLDER,
    SignedDigest,
    digest_path,
    legacy_digest_path,
    signature_valid,
)
from trailhouse.integrity.readers import readers_of, table_files

_CHUNK = 1 << 20
# Passed as max_age_seconds: "two of the newest digest's intervals and a minute".
DEFAULT_AGE = -1.0
# One trail's digests by sequence, each with where it was read.
Chain = list[tuple[str, SignedDigest]]


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
    anchors: list[SignedAnchor] | None = None,
    now: float | None = None,
) -> Report:
    """Verify a table folder; the report lists every problem found."""
    report = Report()
    chains = _load_digests(table_dir, report)
    for chain in chains.values():
        _check_chain(chain, keys, report, placed=True)
    every = [item for chain in chains.values() for item in chain]
    replaced = _replaced(every)
    listed = _check_files(table_dir, every, replaced, report)
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
    _check_newest(chains, report, max_age_seconds, expect_latest, now)
    if anchors is not None:
        moment = now if now is not None else time.time()
        _check_anchors(chains, anchors, keys, report, max_age_seconds, moment)
    return report


def verify_rows(
    digests: list[SignedDigest],
    keys: dict[str, PublicKey],
    rows_by_day: dict[str, int],
    *,
    max_age_seconds: float | None = None,
    expect_latest: tuple[int, str] | None = None,
    anchors: list[SignedAnchor] | None = None,
    now: float | None = None,
) -> Report:
    """Verify digests read through SQL against the table's row counts per `ds` read through SQL.

    The signatures and each trail's chain are checked as for a folder; then each day's row count
    must be what the files the digests list for that day add up to.
    """
    report = Report()
    chains: dict[str, Chain] = {}
    for signed in digests:
        chains.setdefault(_trail(signed), []).append(("the digest table", signed))
    if not chains:
        report.fail("no digest found in the digest table")
    for chain in chains.values():
        chain.sort(key=lambda item: _sequence(item[1]))
        _check_chain(chain, keys, report, placed=False)
    every = [item for chain in chains.values() for item in chain]
    replaced = _replaced(every)
    rows_of: dict[str, int] = {}  # every listed file once, though several trails list it
    for _, signed in every:
        for entry in signed.digest.get("files", []):
            if str(entry["path"]) not in replaced:  # else counted in the compacted file
                rows_of[str(entry["path"])] = int(entry["rows"])
    listed: dict[str, int] = {}
    for path, rows in rows_of.items():
        day = path.split("/", 1)[0].removeprefix("ds=")
        listed[day] = listed.get(day, 0) + rows
    report.files = len(rows_of)
    for day in sorted(set(listed) | set(rows_by_day)):
        found, expected = rows_by_day.get(day, 0), listed.get(day, 0)
        report.rows += found
        if found != expected:
            change = "rows were deleted" if found < expected else "rows were added"
            report.fail(
                f"ds={day}: {found} rows through SQL, the digests list {expected} ({change})"
            )
    _check_newest(chains, report, max_age_seconds, expect_latest, now)
    if anchors is not None:
        moment = now if now is not None else time.time()
        _check_anchors(chains, anchors, keys, report, max_age_seconds, moment)
    return report


def _load_digests(table_dir: Path, report: Report) -> dict[str, Chain]:
    """Every digest under `_digests`, in either layout, as one chain per trail by sequence."""
    chains: dict[str, Chain] = {}
    for path in sorted((table_dir / DIGESTS_FOLDER).rglob("*.json")):
        name = path.relative_to(table_dir).as_posix()
        try:
            signed = SignedDigest.from_json(path.read_bytes())
        except ValueError as exc:
            report.fail(f"{name}: {exc}")
            continue
        chains.setdefault(_trail(signed), []).append((name, signed))
    if not chains:
        report.fail(f"{DIGESTS_FOLDER}: no digest found")
    for chain in chains.values():
        chain.sort(key=lambda item: _sequence(item[1]))
    return chains


def _check_chain(chain: Chain, keys: dict[str, PublicKey], report: Report, *, placed: bool) -> None:
    """One trail's digests: signatures, places (`placed`: read from files), links, intervals."""
    previous: SignedDigest | None = None
    for name, signed in chain:
        digest = signed.digest
        sequence = _sequence(signed)
        label = f"digest {digest.get('sequence')} ({name})"
        report.digests += 1
        if placed and name not in _places(_trail(signed), sequence):
            report.fail(f"{label}: the file's name does not match the digest it holds (swapped)")
        problem = _signature_problem(digest, signed.signature, keys)
        if problem:
            report.fail(f"{label}: {problem}")
        expected = 1 if previous is None else _sequence(previous) + 1
        if sequence != expected:
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


def _signature_problem(content: dict[str, Any], signature: str, keys: dict[str, PublicKey]) -> str:
    """What is wrong with a digest's or an anchor's signature ("" when nothing is)."""
    key = keys.get(str(content.get("keyId")))
    signed_at = int(content.get("signedAt", 0))
    if key is None:
        return f"signed with unknown key {content.get('keyId')}"
    if not signature_valid(content, signature, key.public_key):
        return "the signature does not match its content (changed or forged)"
    if signed_at < key.valid_from or (key.valid_to and signed_at > key.valid_to):
        return f"signed at {signed_at}, outside key {key.key_id}'s validity"
    return ""


def _check_anchors(
    chains: dict[str, Chain],
    anchors: list[SignedAnchor],
    keys: dict[str, PublicKey],
    report: Report,
    max_age_seconds: float | None,
    now: float,
) -> None:
    """Each trail's newest digest is at least the one its newest valid anchor names, and that
    anchor is recent; a trail with digests but no anchor is a failure, since its deleted tail
    would go unseen."""
    newest: dict[str, SignedAnchor] = {}
    for signed in anchors:
        anchor = signed.anchor
        trail = str(anchor.get("trailArn", ""))
        problem = _signature_problem(anchor, signed.signature, keys)
        if problem:
            report.fail(f"the anchor of {trail} signed at {_when(anchor)}: {problem}")
        elif trail not in newest or _number(anchor, "sequence") > _number(
            newest[trail].anchor, "sequence"
        ):
            newest[trail] = signed
    for trail in chains:
        if trail not in newest:
            report.fail(
                f"{trail}: no anchor names this trail, so a deleted tail of its digests would "
                "not be seen (give its anchor, or verify with --no-anchor)"
            )
    for trail, signed in sorted(newest.items()):
        anchor, chain = signed.anchor, chains.get(trail, [])
        sequence = _number(anchor, "sequence")
        held = {_sequence(d): d for _, d in chain}
        if sequence and sequence not in held:
            found = _sequence(chain[-1][1]) if chain else 0
            report.fail(
                f"{trail}: the newest digest is {found}, but the anchor signed at "
                f"{_when(anchor)} names digest {sequence}: digests were deleted"
            )
        elif sequence and held[sequence].sha256 != anchor.get("digestSha256"):
            report.fail(
                f"{trail}: digest {sequence} is not the one the anchor signed at "
                f"{_when(anchor)} names: digests were replaced"
            )
        limit = max_age_seconds
        if limit == DEFAULT_AGE:
            limit = 2 * _interval(chain[-1][1]) + 60 if chain else 0
        age = now - _number(anchor, "signedAt")
        if limit and age > limit:
            report.fail(
                f"{trail}: the anchor was signed {int(age)} s ago, more than the {int(limit)} s "
                "allowed: a newer one may name digests deleted since (fetch a fresh anchor)"
            )


def _places(trail_arn: str, sequence: int) -> set[str]:
    """Where digest `sequence` of the trail may be: its trail's folder, or the old shared one."""
    try:
        return {digest_path(trail_arn, sequence), legacy_digest_path(sequence)}
    except ValueError:
        return {legacy_digest_path(sequence)}


def _check_files(
    table_dir: Path,
    listings: Chain,
    replaced: dict[str, str],
    report: Report,
) -> set[str]:
    listed: dict[str, str] = {}
    for _, signed in listings:
        label = f"digest {signed.digest.get('sequence')} of {_trail(signed)}"
        for entry in signed.digest.get("files", []):
            relative = str(entry["path"])
            if relative in listed:  # several trails deliver into this table
                if listed[relative] != entry["sha256"]:
                    report.fail(f"{relative}: {label} lists another SHA-256 than other digests")
                continue
            listed[relative] = str(entry["sha256"])
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
    return set(listed)


def _replaced(listings: Chain) -> dict[str, str]:
    """Files a compacted file replaced: their path (relative to the table) → SHA-256."""
    return {
        str(path): str(sha256)
        for _, signed in listings
        for entry in signed.digest.get("files", [])
        for path, sha256, _rows in entry.get("replaces") or []
    }


def _check_newest(
    chains: dict[str, Chain],
    report: Report,
    max_age_seconds: float | None,
    expect_latest: tuple[int, str] | None,
    now: float | None,
) -> None:
    newest = {trail: chain[-1][1] for trail, chain in chains.items() if chain}
    if not newest:
        return
    if expect_latest is not None and expect_latest not in {
        (_sequence(d), d.sha256) for d in newest.values()
    }:
        found = ", ".join(f"{_sequence(d)} ({d.sha256[:12]}…)" for d in newest.values())
        report.fail(
            f"the newest digest is {found}, but the trail's status names digest "
            f"{expect_latest[0]} ({expect_latest[1][:12]}…): digests were deleted or replaced"
        )
    for trail, signed in newest.items():
        limit = max_age_seconds
        if limit == DEFAULT_AGE:
            limit = 2 * _interval(signed) + 60
        age = (now if now is not None else time.time()) - int(signed.digest["intervalEnd"])
        if limit and age > limit:
            report.fail(
                f"the newest digest of {trail} ({_sequence(signed)}) ended {int(age)} s ago, "
                f"more than the {int(limit)} s allowed: newer digests may have been deleted"
            )


def _when(content: dict[str, Any]) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(_number(content, "signedAt")))


def _number(content: dict[str, Any], name: str) -> int:
    try:
        return int(content.get(name, 0))
    except (TypeError, ValueError):
        return 0


def _trail(signed: SignedDigest) -> str:
    """The trail whose chain a digest belongs to (its ARN)."""
    return str(signed.digest.get("trailArn", ""))


def _sequence(signed: SignedDigest) -> int:
    return _number(signed.digest, "sequence")


def _interval(signed: SignedDigest) -> int:
    return int(signed.digest["intervalEnd"]) - int(signed.digest["intervalStart"])


def _hash(path: Path) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()
