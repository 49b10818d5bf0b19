"""The `trailhouse` command: serve, administer accounts and keys, record and search events.

Each sub-command lives in a small module that adds its parser and a function to run it.
Errors trailhouse raises on purpose are printed as one line to stderr with exit status 1;
an error answer from a server also prints its code and request id.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from trailhouse import __version__
from trailhouse.cli import (
    admin,
    db,
    events,
    integrity,
    keys,
    ram,
    rules,
    serve,
    trails,
    warehouse,
)
from trailhouse.cli.common import CREDENTIAL_ERRORS, credentials_source
from trailhouse.errors import RequestFailed, TrailhouseError


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser of the `trailhouse` command."""
    parser = argparse.ArgumentParser(
        prog="trailhouse",
        description="A self-hosted audit trail compatible with Alibaba Cloud ActionTrail.",
    )
    parser.add_argument("--version", action="version", version=f"trailhouse {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve.register(commands)
    user_commands = admin.register(commands)
    events.register(commands)
    trails.register(commands)
    rules.register(commands)
    ram.register(commands, user_commands)
    keys.register(commands)
    warehouse.register(commands)
    integrity.register(commands)
    db.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the process exit status."""
    parser = build_parser()
    arguments = parser.parse_args(argv)
    try:
        status: int = arguments.run(arguments)
    except RequestFailed as failed:
        print(f"trailhouse: {failed}", file=sys.stderr)
        if failed.code in CREDENTIAL_ERRORS and hasattr(arguments, "profile"):
            print(f"trailhouse: {credentials_source(arguments)}", file=sys.stderr)
        return 1
    except (TrailhouseError, ValueError, OSError) as error:
        print(f"trailhouse: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return status
