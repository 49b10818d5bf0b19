"""Administration on the server host: accounts, RAM users, service keys, purge, settings.

These commands open the store named by the settings directly, so they work before any server
runs. A created secret is printed once, to stdout, and nowhere else.
"""

from __future__ import annotations

import argparse
import contextlib
import time
from collections.abc import Iterator
from typing import Any

from trailhouse.admin_services import open_admin_services
from trailhouse.cli.common import add_store_options, load_settings, print_json, print_table
from trailhouse.iam.accounts import AccountService, Credentials


def register(commands: Any) -> Any:
    """Add the administration sub-commands; return the `user` group for client commands."""
    account = commands.add_parser("account", help="create accounts").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    create = account.add_parser("create", help="create an account and print its root AccessKey")
    create.add_argument("--account-id", help="16-digit account id (random when omitted)")
    add_store_options(create)
    create.set_defaults(run=_account_create)
    listing = account.add_parser("list", help="list accounts")
    add_store_options(listing)
    listing.set_defaults(run=_account_list)

    user = commands.add_parser("user", help="RAM users and their policies").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    create = user.add_parser("create", help="create a RAM user and print its AccessKey")
    create.add_argument("--account-id", required=True)
    create.add_argument("--user-name", required=True)
    add_store_options(create)
    create.set_defaults(run=_user_create)

    service = commands.add_parser("service", help="create service keys").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    create = service.add_parser(
        "create", help="create a service key that may record events for any account"
    )
    create.add_argument("name")
    add_store_options(create)
    create.set_defaults(run=_service_create)

    settings = commands.add_parser("settings", help="print every setting, its value and help")
    add_store_options(settings)
    settings.set_defaults(run=_settings)
    return user


def _account_create(arguments: argparse.Namespace) -> int:
    with _accounts(arguments) as accounts:
        print_credentials(accounts.create_account(arguments.account_id))
    return 0


def _account_list(arguments: argparse.Namespace) -> int:
    with _accounts(arguments) as accounts:
        rows = [
            (
                account.account_id,
                time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(account.created_at)),
            )
            for account in accounts.list_accounts()
        ]
    print_table(("AccountId", "CreatedAt"), rows)
    return 0


def _user_create(arguments: argparse.Namespace) -> int:
    with _accounts(arguments) as accounts:
        print_credentials(accounts.create_user(arguments.account_id, arguments.user_name))
    return 0


def _service_create(arguments: argparse.Namespace) -> int:
    with _accounts(arguments) as accounts:
        print_credentials(accounts.create_service(arguments.name))
    return 0


@contextlib.contextmanager
def _accounts(arguments: argparse.Namespace) -> Iterator[AccountService]:
    """The account service over the metadata store alone, which a running server shares."""
    with open_admin_services(load_settings(arguments)) as admin:
        yield admin.accounts


def _settings(arguments: argparse.Namespace) -> int:
    settings = load_settings(arguments)
    print_table(("Setting", "Value", "Help"), settings.describe())
    return 0


def credentials_document(credentials: Credentials) -> dict[str, str]:
    """The JSON shape the account/user/service commands print."""
    document = {
        "AccountId": credentials.account_id,
        "AccessKeyId": credentials.access_key_id,
        "AccessKeySecret": credentials.access_key_secret,
    }
    if credentials.user_name:
        document["UserName"] = credentials.user_name
    if credentials.service_name:
        document["ServiceName"] = credentials.service_name
    return document


def print_credentials(credentials: Credentials) -> None:
    """Print new credentials as JSON, once, to stdout."""
    print_json(credentials_document(credentials))
