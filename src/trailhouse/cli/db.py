"""`trailhouse db upgrade`: bring the store's schema to this trailhouse's version."""

from __future__ import annotations

import argparse
from typing import Any

from trailhouse.admin_services import upgrade_stores
from trailhouse.cli.common import add_store_options, load_settings


def register(commands: Any) -> None:
    """Add the db commands."""
    db = commands.add_parser("db", help="the store's schema")
    actions = db.add_subparsers(dest="action", required=True, metavar="ACTION")
    upgrade = actions.add_parser(
        "upgrade", help="apply the schema migrations this trailhouse has and the store lacks"
    )
    add_store_options(upgrade)
    upgrade.set_defaults(run=_upgrade)


def _upgrade(arguments: argparse.Namespace) -> int:
    result = upgrade_stores(load_settings(arguments))
    print(f"{result.store}: schema version {result.current} of {result.latest}, up to date")
    return 0
