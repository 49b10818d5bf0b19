"""`trailhouse keys export` and `trailhouse verify`: prove offline that a table is whole.

`keys export` fetches the digest signing keys' public halves from a server (ListPublicKeys).
`verify` needs no server: it checks a copy of a table's folder against its signed digests and
the exported keys, prints a report, and exits 1 when anything is wrong.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from trailhouse.cli.common import print_json
from trailhouse.cli.trails import call, client_command
from trailhouse.integrity.verify import load_public_keys, verify_folder


def register(commands: Any) -> None:
    """Add the keys and verify commands."""
    keys = commands.add_parser("keys", help="digest signing keys")
    actions = keys.add_subparsers(dest="action", required=True, metavar="ACTION")
    export = actions.add_parser("export", help="print the public keys as JSON (ListPublicKeys)")
    client_command(export, _export)

    verify = commands.add_parser(
        "verify", help="check a copy of a table against its signed digests, offline"
    )
    verify.add_argument("folder", type=Path, help="the table's folder (ds=… and _digests)")
    verify.add_argument(
        "--keys", type=Path, required=True, help="public keys from `trailhouse keys export`"
    )
    verify.add_argument(
        "--max-age",
        type=float,
        help="seconds the newest digest's interval may have ended ago (e.g. 2 intervals)",
    )
    verify.add_argument(
        "--expect-latest",
        metavar="SEQUENCE:SHA256",
        help="the newest digest the trail's status names (LatestDigestSequence and "
        "LatestDigestSha256): catches deleted digests",
    )
    verify.set_defaults(run=_verify)


def _export(arguments: argparse.Namespace) -> int:
    print_json(call(arguments, "ListPublicKeys")["PublicKeys"])
    return 0


def _verify(arguments: argparse.Namespace) -> int:
    expect = None
    if arguments.expect_latest:
        sequence, _, sha256 = arguments.expect_latest.partition(":")
        expect = (int(sequence), sha256)
    report = verify_folder(
        arguments.folder,
        load_public_keys(arguments.keys.read_bytes()),
        max_age_seconds=arguments.max_age,
        expect_latest=expect,
    )
    mb = report.bytes / 1e6
    print(
        f"{report.digests} digests, {report.files} files, {report.rows} rows, {mb:.1f} MB checked"
    )
    for problem in report.problems:
        print(f"FAIL {problem}")
    print("OK: the table is whole" if report.ok else f"{len(report.problems)} problems found")
    sys.stdout.flush()
    return 0 if report.ok else 1
