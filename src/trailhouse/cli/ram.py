"""RAM and organization commands: `role ...` and `user attach-policy` (client, root key) and
`org create|add-account|show` (administration on the server host)."""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from trailhouse.admin_services import open_admin_services
from trailhouse.cli.common import (
    add_client_options,
    add_output_option,
    add_store_options,
    load_settings,
    print_confirmation,
    print_json,
    print_table,
)
from trailhouse.cli.trails import call, print_fields
from trailhouse.errors import NotFoundError
from trailhouse.iam.accounts import AccountService
from trailhouse.iam.organizations import Organization, OrganizationService
from trailhouse.iam.roles import delivery_principal, trust_policy_for_services

SYSTEM_POLICY_TYPE = "System"


def register(commands: Any, user_commands: Any) -> None:
    """Add the role and org sub-commands, and `attach-policy` to the `user` group."""
    role = commands.add_parser("role", help="manage RAM roles (root key)").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    create = role.add_parser("create", help="create a role with a trust policy (CreateRole)")
    create.add_argument("--role-name", required=True)
    trust = create.add_mutually_exclusive_group(required=True)
    trust.add_argument(
        "--trust-policy", metavar="JSON_OR_@FILE", help="the trust policy, or @path to read it"
    )
    trust.add_argument(
        "--trusted-account",
        nargs="+",
        action="extend",
        metavar="ACCOUNT_ID",
        help="let ActionTrail deliver as these source accounts (<id>@actiontrail.aliyuncs.com)",
    )
    create.add_argument("--description", default="")
    _client_command(create, _role_create, "table", "json")

    update = role.add_parser(
        "update", help="replace a role's trust policy or description (UpdateRole)"
    )
    update.add_argument("--role-name", required=True)
    new_trust = update.add_mutually_exclusive_group()
    new_trust.add_argument(
        "--trust-policy", metavar="JSON_OR_@FILE", help="the new trust policy, or @path to read it"
    )
    new_trust.add_argument(
        "--trusted-account",
        nargs="+",
        action="extend",
        metavar="ACCOUNT_ID",
        help="trust ActionTrail delivering as these source accounts (replaces the policy)",
    )
    update.add_argument("--description", default=None)
    _client_command(update, _role_update, "table", "json")

    delete = role.add_parser("delete", help="delete a role without policies (DeleteRole)")
    delete.add_argument("--role-name", required=True)
    _client_command(delete, _role_delete, "table", "json")

    for name, action, run, text in (
        ("attach-policy", "AttachPolicyToRole", _role_attach, "attach a system policy"),
        ("detach-policy", "DetachPolicyFromRole", _role_detach, "detach a system policy"),
    ):
        parser = role.add_parser(name, help=f"{text} ({action})")
        parser.add_argument("--role-name", required=True)
        parser.add_argument("--policy-name", required=True)
        _client_command(parser, run, "table", "json")

    listing = role.add_parser("list", help="list the account's roles (ListRoles)")
    _client_command(listing, _role_list, "table", "json")

    get = role.add_parser("get", help="show one role (GetRole)")
    get.add_argument("--role-name", required=True)
    _client_command(get, _role_get, "table", "json")

    attach = user_commands.add_parser(
        "attach-policy", help="attach a system policy to a RAM user (AttachPolicyToUser)"
    )
    attach.add_argument("--user-name", required=True)
    attach.add_argument("--policy-name", required=True)
    _client_command(attach, _user_attach, "table", "json")

    org = commands.add_parser(
        "org", help="organizations (resource directories) for multi-account trails"
    ).add_subparsers(dest="action", required=True, metavar="ACTION")
    create = org.add_parser("create", help="create an organization managed by an account")
    create.add_argument("--management-account-id", required=True)
    add_store_options(create)
    create.set_defaults(run=_org_create)
    add = org.add_parser("add-account", help="add an account to an organization")
    add.add_argument("--organization-id", required=True, metavar="rd-…")
    add.add_argument("--account-id", required=True)
    add_store_options(add)
    add.set_defaults(run=_org_add)
    show = org.add_parser("show", help="show the organization an account belongs to")
    show.add_argument("--account-id", required=True)
    add_store_options(show)
    show.set_defaults(run=_org_show)


def _client_command(parser: argparse.ArgumentParser, run: Any, *outputs: str) -> None:
    add_output_option(parser, *outputs)
    add_client_options(parser)
    parser.set_defaults(run=run)


def trust_policy(arguments: argparse.Namespace) -> str:
    """The trust policy a `role create` asks for: given (inline or @file) or built."""
    if arguments.trusted_account:
        return trust_policy_for_services(
            *(delivery_principal(account) for account in arguments.trusted_account)
        )
    text: str = arguments.trust_policy
    if text.startswith("@"):
        return Path(text[1:]).read_text(encoding="utf-8")
    return text


def _role_create(arguments: argparse.Namespace) -> int:
    params = {
        "RoleName": arguments.role_name,
        "AssumeRolePolicyDocument": trust_policy(arguments),
    }
    if arguments.description:
        params["Description"] = arguments.description
    _print_role(call(arguments, "CreateRole", params), arguments.output)
    return 0


def _role_update(arguments: argparse.Namespace) -> int:
    params = {"RoleName": arguments.role_name}
    if arguments.trust_policy or arguments.trusted_account:
        params["NewAssumeRolePolicyDocument"] = trust_policy(arguments)
    if arguments.description is not None:
        params["NewDescription"] = arguments.description
    _print_role(call(arguments, "UpdateRole", params), arguments.output)
    return 0


def _role_delete(arguments: argparse.Namespace) -> int:
    answer = call(arguments, "DeleteRole", {"RoleName": arguments.role_name})
    print_confirmation(answer, arguments.output, f"deleted role {arguments.role_name}")
    return 0


def _role_attach(arguments: argparse.Namespace) -> int:
    answer = call(arguments, "AttachPolicyToRole", _role_policy(arguments))
    print_confirmation(
        answer,
        arguments.output,
        f"attached {arguments.policy_name} to role {arguments.role_name}",
    )
    return 0


def _role_detach(arguments: argparse.Namespace) -> int:
    answer = call(arguments, "DetachPolicyFromRole", _role_policy(arguments))
    print_confirmation(
        answer,
        arguments.output,
        f"detached {arguments.policy_name} from role {arguments.role_name}",
    )
    return 0


def _role_policy(arguments: argparse.Namespace) -> dict[str, str]:
    return {
        "RoleName": arguments.role_name,
        "PolicyName": arguments.policy_name,
        "PolicyType": SYSTEM_POLICY_TYPE,
    }


def _role_list(arguments: argparse.Namespace) -> int:
    answer = call(arguments, "ListRoles")
    if arguments.output == "json":
        print_json(answer)
        return 0
    roles = (answer.get("Roles") or {}).get("Role", [])
    rows = [
        (
            role.get("RoleName"),
            role.get("Arn"),
            ", ".join(role.get("AttachedPolicies") or []),
            role.get("CreateDate"),
        )
        for role in roles
    ]
    print_table(("RoleName", "Arn", "AttachedPolicies", "CreateDate"), rows)
    return 0


def _role_get(arguments: argparse.Namespace) -> int:
    answer = call(arguments, "GetRole", {"RoleName": arguments.role_name})
    _print_role(answer, arguments.output)
    return 0


def _user_attach(arguments: argparse.Namespace) -> int:
    answer = call(
        arguments,
        "AttachPolicyToUser",
        {
            "UserName": arguments.user_name,
            "PolicyName": arguments.policy_name,
            "PolicyType": SYSTEM_POLICY_TYPE,
        },
    )
    print_confirmation(
        answer,
        arguments.output,
        f"attached {arguments.policy_name} to user {arguments.user_name}",
    )
    return 0


def _print_role(answer: Mapping[str, Any], output: str) -> None:
    if output == "json":
        print_json(answer)
    else:
        print_fields(answer.get("Role") or {})


@contextlib.contextmanager
def _services(
    arguments: argparse.Namespace,
) -> Iterator[tuple[AccountService, OrganizationService]]:
    """Accounts and organizations over the metadata store alone, which a running server shares."""
    with open_admin_services(load_settings(arguments)) as admin:
        yield admin.accounts, admin.organizations


def _org_create(arguments: argparse.Namespace) -> int:
    with _services(arguments) as (accounts, organizations):
        accounts.require_account(arguments.management_account_id)
        print_json(organization_document(organizations.create(arguments.management_account_id)))
    return 0


def _org_add(arguments: argparse.Namespace) -> int:
    with _services(arguments) as (accounts, organizations):
        accounts.require_account(arguments.account_id)
        organization = organizations.add_account(arguments.organization_id, arguments.account_id)
        print_json(organization_document(organization))
    return 0


def _org_show(arguments: argparse.Namespace) -> int:
    with _services(arguments) as (_, organizations):
        organization = organizations.of_account(arguments.account_id)
    if organization is None:
        raise NotFoundError(f"account {arguments.account_id} belongs to no organization")
    print_json(organization_document(organization))
    return 0


def organization_document(organization: Organization) -> dict[str, Any]:
    """The JSON shape the org commands print."""
    return {
        "OrganizationId": organization.organization_id,
        "ManagementAccountId": organization.management_account_id,
        "Members": list(organization.members),
    }
