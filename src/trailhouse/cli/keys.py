"""Access key commands: `key list|enable|disable|delete` call the API with the caller's key (the
root, or a RAM user allowed `ram:<Action>`); `key-admin …` works on the server host, on any key by
id (service keys too), and `key-admin create` gives an account whose keys are gone a new one."""

from __future__ import annotations

import argparse
import contextlib
import time
from collections.abc import Iterator
from typing import Any

from trailhouse.admin_services import open_admin_services
from trailhouse.cli.admin import print_credentials
from trailhouse.cli.common import (
    add_client_options,
    add_output_option,
    add_store_options,
    load_settings,
    print_confirmation,
    print_json,
    print_table,
)
from trailhouse.cli.trails import call
from trailhouse.iam.access_keys import AccessKeyService, KeyStatus
from trailhouse.iam.accounts import AccountService
from trailhouse.iam.principals import PrincipalKind

_CHANGES = (
    ("enable", KeyStatus.ACTIVE, "make a disabled key sign requests again"),
    ("disable", KeyStatus.INACTIVE, "refuse the key's requests at once (it can be enabled again)"),
)


def register(commands: Any) -> None:
    """Add the `key` (client) and `key-admin` (server host) command groups."""
    key = commands.add_parser(
        "key", help="list, disable, enable and delete access keys (through the API)"
    ).add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = key.add_parser("list", help="list keys (ListAccessKeys): yours, or a user's")
    _owner_option(listing)
    _client_command(listing, _list)
    for name, status, text in _CHANGES:
        change = key.add_parser(name, help=f"{text} (UpdateAccessKey Status={status})")
        change.add_argument("access_key_id", metavar="ACCESS_KEY_ID")
        _owner_option(change)
        _client_command(change, _update, status=status)
    delete = key.add_parser("delete", help="delete a key for good (DeleteAccessKey)")
    delete.add_argument("access_key_id", metavar="ACCESS_KEY_ID")
    _owner_option(delete)
    _client_command(delete, _delete)

    admin = commands.add_parser(
        "key-admin", help="access keys on the server host: any account's, and service keys"
    ).add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = admin.add_parser("list", help="list an account's keys, root's and users'")
    listing.add_argument("--account-id", required=True)
    _host_command(listing, _admin_list)
    for name, status, text in _CHANGES:
        change = admin.add_parser(name, help=text)
        change.add_argument("access_key_id", metavar="ACCESS_KEY_ID")
        _host_command(change, _admin_update, status=status)
    delete = admin.add_parser("delete", help="delete a key for good")
    delete.add_argument("access_key_id", metavar="ACCESS_KEY_ID")
    _host_command(delete, _admin_delete)
    create = admin.add_parser(
        "create", help="create a new key for an account's root (or a user) and print it once"
    )
    create.add_argument("--account-id", required=True)
    create.add_argument("--user-name", help="a RAM user of the account (default: the root)")
    _host_command(create, _admin_create)


def _owner_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--user-name", help="a RAM user of your account (default: your own keys)")


def _client_command(parser: argparse.ArgumentParser, run: Any, **defaults: Any) -> None:
    add_output_option(parser, "table", "json")
    add_client_options(parser)
    parser.set_defaults(run=run, **defaults)


def _host_command(parser: argparse.ArgumentParser, run: Any, **defaults: Any) -> None:
    add_store_options(parser)
    parser.set_defaults(run=run, **defaults)


def _owner(arguments: argparse.Namespace) -> dict[str, str]:
    return {"UserName": arguments.user_name} if arguments.user_name else {}


def _list(arguments: argparse.Namespace) -> int:
    answer = call(arguments, "ListAccessKeys", _owner(arguments))
    if arguments.output == "json":
        print_json(answer)
        return 0
    keys = (answer.get("AccessKeys") or {}).get("AccessKey", [])
    rows = [(k.get("AccessKeyId"), k.get("Status"), k.get("CreateDate")) for k in keys]
    print_table(("AccessKeyId", "Status", "CreateDate"), rows)
    return 0


def _update(arguments: argparse.Namespace) -> int:
    params = {"UserAccessKeyId": arguments.access_key_id, "Status": arguments.status}
    answer = call(arguments, "UpdateAccessKey", {**params, **_owner(arguments)})
    print_confirmation(
        answer, arguments.output, f"{arguments.access_key_id} is now {arguments.status}"
    )
    return 0


def _delete(arguments: argparse.Namespace) -> int:
    params = {"UserAccessKeyId": arguments.access_key_id, **_owner(arguments)}
    answer = call(arguments, "DeleteAccessKey", params)
    print_confirmation(answer, arguments.output, f"deleted {arguments.access_key_id}")
    return 0


@contextlib.contextmanager
def _services(arguments: argparse.Namespace) -> Iterator[tuple[AccountService, AccessKeyService]]:
    """Accounts and keys over the metadata store alone, which a running server shares: what
    is changed here holds for the server's next request."""
    with open_admin_services(load_settings(arguments)) as admin:
        yield admin.accounts, admin.access_keys


def _admin_list(arguments: argparse.Namespace) -> int:
    with _services(arguments) as (accounts, keys):
        accounts.require_account(arguments.account_id)
        found = keys.list_account_keys(arguments.account_id)
    rows = [
        (
            k.access_key_id,
            k.status,
            "root" if k.kind == PrincipalKind.ROOT else f"user {k.name}",
            time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(k.created_at)),
        )
        for k in found
    ]
    print_table(("AccessKeyId", "Status", "Owner", "CreateDate"), rows)
    return 0


def _admin_update(arguments: argparse.Namespace) -> int:
    with _services(arguments) as (_, keys):
        key = keys.set_status(arguments.access_key_id, arguments.status)
    print(f"{key.access_key_id} is now {key.status}")
    return 0


def _admin_delete(arguments: argparse.Namespace) -> int:
    with _services(arguments) as (_, keys):
        key = keys.delete(arguments.access_key_id)
    print(f"deleted {key.access_key_id}")
    return 0


def _admin_create(arguments: argparse.Namespace) -> int:
    with _services(arguments) as (accounts, _):
        print_credentials(accounts.create_key(arguments.account_id, arguments.user_name))
    return 0
