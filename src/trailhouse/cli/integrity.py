"""`trailhouse keys export`, `keys anchor` and `verify`: prove offline that a table is whole.

`keys export` fetches the digest signing keys' public halves from a server (ListPublicKeys), and
`keys anchor` a trail's signed anchor (GetDigestAnchor). `verify` needs no server: it checks a
copy of a table's folder against its signed digests, the exported keys and the anchors, prints
a report, and exits 1 when anything is wrong.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import orjson

from trailhouse.cli.common import print_json
from trailhouse.cli.numbers import count, size
from trailhouse.cli.trails import call, client_command
from trailhouse.cli.warehouse import all_rows, wait_for_job
from trailhouse.integrity.anchor import SignedAnchor, load_anchors
from trailhouse.integrity.digest import SignedDigest
from trailhouse.integrity.verify import (
    DEFAULT_AGE,
    Report,
    load_public_keys,
    verify_folder,
    verify_rows,
)


def register(commands: Any) -> None:
    """Add the keys and verify commands."""
    keys = commands.add_parser("keys", help="digest signing keys")
    actions = keys.add_subparsers(dest="action", required=True, metavar="ACTION")
    export = actions.add_parser("export", help="print the public keys as JSON (ListPublicKeys)")
    client_command(export, _export)
    anchor = actions.add_parser(
        "anchor", help="print a trail's signed anchor (GetDigestAnchor), for verify --anchor"
    )
    anchor.add_argument("name", help="the trail's name")
    client_command(anchor, _anchor)

    verify = commands.add_parser(
        "verify", help="check a copy of a table against its signed digests, offline"
    )
    verify.add_argument(
        "folder", type=Path, nargs="?", help="the table's folder (ds=… and _digests)"
    )
    verify.add_argument(
        "--sql",
        metavar="PROJECT.TABLE",
        help="instead of a folder, read the digests and the rows through a server's SQL",
    )
    verify.add_argument(
        "--keys",
        type=Path,
        help="public keys from `trailhouse keys export` (with --sql: fetched when not given)",
    )
    verify.add_argument(
        "--max-age",
        type=float,
        help="seconds the newest digest's interval may have ended ago (default: two of its "
        "intervals and a minute; 0 turns the check off, e.g. for an old copy)",
    )
    verify.add_argument(
        "--expect-latest",
        metavar="SEQUENCE:SHA256",
        help="the newest digest the trail's status names (LatestDigestSequence and "
        "LatestDigestSha256): catches deleted digests",
    )
    verify.add_argument(
        "--anchor",
        type=Path,
        action="append",
        default=[],
        help="a signed anchor from `trailhouse keys anchor` or the server's _anchors folder "
        "(repeat for each trail of the table): catches deleted digests",
    )
    verify.add_argument(
        "--no-anchor",
        action="store_true",
        help="verify without an anchor: a deleted tail of digests is then not detected",
    )
    client_command(verify, _verify)


def _anchors(arguments: argparse.Namespace) -> list[SignedAnchor] | None:
    """The anchors given, or None with --no-anchor; an error when neither an anchor nor
    --expect-latest nor --no-anchor says how to catch a deleted tail."""
    if arguments.no_anchor:
        if arguments.anchor:
            raise ValueError("give --anchor or --no-anchor, not both")
        print(
            "WARNING: verifying without an anchor: if the newest digests were deleted with the "
            "files they list, this is not detected (only their age is checked)",
            file=sys.stderr,
        )
        return None
    if not arguments.anchor:
        if arguments.expect_latest:
            return None  # the newest digest the status names: an anchor, unsigned
        raise ValueError(
            "give --anchor FILE (from `trailhouse keys anchor TRAIL`) so that deleted digests "
            "are caught, or --no-anchor to verify without"
        )
    return [a for path in arguments.anchor for a in load_anchors(path.read_bytes())]


def _anchor(arguments: argparse.Namespace) -> int:
    print_json(call(arguments, "GetDigestAnchor", {"Name": arguments.name})["Anchor"])
    return 0


def _verify_sql(
    arguments: argparse.Namespace,
    expect: tuple[int, str] | None,
    anchors: list[SignedAnchor] | None,
) -> Report:
    """Read the digest table and the table's per-day row counts through the server's SQL."""
    project, _, table = arguments.sql.partition(".")
    if not project or not table:
        raise ValueError("--sql takes PROJECT.TABLE")
    if arguments.keys is not None:
        keys = load_public_keys(arguments.keys.read_bytes())
    else:
        keys = load_public_keys(orjson.dumps(call(arguments, "ListPublicKeys")["PublicKeys"]))
    digests = [
        SignedDigest(document["digest"], document["signature"])
        for (text,) in _sql(arguments, project, f"SELECT event FROM {table}_digest")
        for document in [orjson.loads(text)]
    ]
    counts = {
        str(day): int(rows)
        for day, rows in _sql(arguments, project, f"SELECT ds, COUNT(*) FROM {table} GROUP BY ds")
    }
    max_age = arguments.max_age if arguments.max_age is not None else DEFAULT_AGE
    return verify_rows(
        digests, keys, counts, max_age_seconds=max_age, expect_latest=expect, anchors=anchors
    )


def _sql(arguments: argparse.Namespace, project: str, sql: str) -> list[list[Any]]:
    job_id = call(arguments, "SubmitSqlJob", {"Project": project, "Sql": sql})["JobId"]
    job = wait_for_job(arguments, job_id)
    if job["Status"] != "Terminated":
        raise ValueError(f"{sql}: {job['ErrorCode']}: {job['ErrorMessage']}")
    if job["Truncated"]:
        raise ValueError(f"{sql}: more rows than the server keeps per job (sql_result_rows)")
    return all_rows(arguments, job_id)[1]


def _export(arguments: argparse.Namespace) -> int:
    print_json(call(arguments, "ListPublicKeys")["PublicKeys"])
    return 0


def _verify(arguments: argparse.Namespace) -> int:
    expect = None
    if arguments.expect_latest:
        sequence, _, sha256 = arguments.expect_latest.partition(":")
        expect = (int(sequence), sha256)
    anchors = _anchors(arguments)
    if arguments.sql:
        report = _verify_sql(arguments, expect, anchors)
    else:
        if arguments.folder is None or arguments.keys is None:
            raise ValueError("give the table's folder and --keys, or --sql PROJECT.TABLE")
        report = verify_folder(
            arguments.folder,
            load_public_keys(arguments.keys.read_bytes()),
            max_age_seconds=arguments.max_age if arguments.max_age is not None else DEFAULT_AGE,
            expect_latest=expect,
            anchors=anchors,
        )
    print(
        f"{count(report.digests, 'digest')}, {count(report.files, 'file')}, "
        f"{count(report.rows, 'row')}, {size(report.bytes)} checked"
    )
    for problem in report.problems:
        print(f"FAIL {problem}")
    print(
        "OK: the table is whole" if report.ok else f"{count(len(report.problems), 'problem')} found"
    )
    sys.stdout.flush()
    return 0 if report.ok else 1
