"""Client commands for trails: `trail create|update|delete|list|status|start|stop`.

Each command calls one ActionTrail action on a server, with flags named like the action's
parameters; `--output json` prints the server's answer as it came (RequestId included).
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any

from trailhouse.cli.common import add_client_options, add_output_option, print_json, print_table
from trailhouse.cli.numbers import count, duration
from trailhouse.client import RpcClient
from trailhouse.profiles import resolve

# Flag destination → wire parameter, for the settings CreateTrail and UpdateTrail share.
_SETTING_PARAMETERS = {
    "event_rw": "EventRW",
    "trail_region": "TrailRegion",
    "max_compute_project_arn": "MaxComputeProjectArn",
    "max_compute_write_role_arn": "MaxComputeWriteRoleArn",
    "oss_bucket_name": "OssBucketName",
    "oss_key_prefix": "OssKeyPrefix",
    "oss_write_role_arn": "OssWriteRoleArn",
    "sls_project_arn": "SlsProjectArn",
    "sls_write_role_arn": "SlsWriteRoleArn",
}


def register(commands: Any) -> None:
    """Add the trail sub-commands."""
    trail = commands.add_parser("trail", help="create and manage trails").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    create = trail.add_parser("create", help="create a trail in a region (CreateTrail)")
    _add_settings(create)
    create.add_argument(
        "--is-organization-trail",
        action="store_true",
        help="a multi-account trail of the caller's organization",
    )
    client_command(create, _create, "table", "json")

    update = trail.add_parser(
        "update", help="change a trail's settings; settings not given are kept (UpdateTrail)"
    )
    _add_settings(update)
    client_command(update, _update, "table", "json")

    delete = trail.add_parser("delete", help="delete a trail (DeleteTrail)")
    _add_trail_name(delete)
    client_command(delete, _delete, "table", "json")

    listing = trail.add_parser("list", help="list the trails a region shows (DescribeTrails)")
    listing.add_argument("--name-list", help="only these trails, comma-separated")
    listing.add_argument(
        "--include-shadow-trails",
        action="store_true",
        help="also trails of other home regions that cover this region",
    )
    listing.add_argument(
        "--include-organization-trail",
        action="store_true",
        help="also the organization's multi-account trail",
    )
    client_command(listing, _list, "table", "json")

    status = trail.add_parser("status", help="whether a trail logs (GetTrailStatus)")
    _add_trail_name(status)
    status.add_argument(
        "--is-organization-trail",
        action="store_true",
        help="the trail is the organization's multi-account trail",
    )
    client_command(status, _status, "table", "json")

    start = trail.add_parser("start", help="start logging (StartLogging)")
    _add_trail_name(start)
    client_command(start, _start, "table", "json")

    stop = trail.add_parser("stop", help="stop logging (StopLogging)")
    _add_trail_name(stop)
    client_command(stop, _stop, "table", "json")


def add_region_option(parser: argparse.ArgumentParser) -> None:
    """The --region option, sent as the RegionId parameter."""
    parser.add_argument(
        "--region", help="region of the call, sent as RegionId (default: the endpoint's region)"
    )


def open_client(arguments: argparse.Namespace) -> RpcClient:
    """A client for the server and credentials the command's options and environment name."""
    profile = resolve(arguments.profile, arguments.endpoint)
    return RpcClient(profile.endpoint, profile.access_key_id, profile.access_key_secret)


def call(
    arguments: argparse.Namespace,
    action: str,
    params: Mapping[str, str] | None = None,
    method: str = "POST",
) -> dict[str, Any]:
    """Call one action with the command's client (and its --region, when it has one)."""
    sent = dict(params or {})
    region = getattr(arguments, "region", None)
    if region:
        sent["RegionId"] = region
    with open_client(arguments) as client:
        return client.call(action, sent, method=method)


def print_fields(answer: Mapping[str, Any]) -> None:
    """Print one object's fields as Field/Value rows (RequestId left out)."""
    print_table(
        ("Field", "Value"),
        [(key, _cell(value)) for key, value in answer.items() if key != "RequestId"],
    )


def client_command(parser: argparse.ArgumentParser, run: Any, *outputs: str) -> None:
    """Give a command the --region, --output (when it has outputs) and client options."""
    add_region_option(parser)
    if outputs:
        add_output_option(parser, *outputs)
    add_client_options(parser)
    parser.set_defaults(run=run)


def _add_trail_name(parser: argparse.ArgumentParser) -> None:
    """The trail's name, as a plain argument (`trail status audit-mc`) or as --name."""
    parser.add_argument("trail", nargs="?", metavar="NAME", help="the trail's name")
    parser.add_argument("--name", help="the trail's name (instead of NAME)")


def _trail_name(arguments: argparse.Namespace) -> str:
    name: str | None = arguments.name or arguments.trail
    if not name:
        raise ValueError("name the trail: trailhouse trail ACTION NAME (or --name NAME)")
    return name


def _add_settings(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--name", required=True, help="trail name, 6-36 characters")
    parser.add_argument("--event-rw", choices=("All", "Read", "Write"), help="events to deliver")
    parser.add_argument(
        "--trail-region", help="region whose events the trail covers, or All (default All)"
    )
    parser.add_argument("--max-compute-project-arn", metavar="ARN")
    parser.add_argument("--max-compute-write-role-arn", metavar="ARN")
    parser.add_argument("--oss-bucket-name", metavar="BUCKET")
    parser.add_argument("--oss-key-prefix", metavar="PREFIX")
    parser.add_argument("--oss-write-role-arn", metavar="ARN")
    parser.add_argument("--sls-project-arn", metavar="ARN")
    parser.add_argument("--sls-write-role-arn", metavar="ARN")


def _settings(arguments: argparse.Namespace) -> dict[str, str]:
    """Name and the settings given; an empty value is sent, so update can clear a destination."""
    params = {"Name": arguments.name}
    for attribute, parameter in _SETTING_PARAMETERS.items():
        value = getattr(arguments, attribute)
        if value is not None:
            params[parameter] = value
    return params


def _create(arguments: argparse.Namespace) -> int:
    params = _settings(arguments)
    if arguments.is_organization_trail:
        params["IsOrganizationTrail"] = "true"
    _print_object(call(arguments, "CreateTrail", params), arguments.output)
    return 0


def _update(arguments: argparse.Namespace) -> int:
    _print_object(call(arguments, "UpdateTrail", _settings(arguments)), arguments.output)
    return 0


def _delete(arguments: argparse.Namespace) -> int:
    name = _trail_name(arguments)
    answer = call(arguments, "DeleteTrail", {"Name": name})
    _confirm(answer, arguments.output, f"deleted trail {name}")
    return 0


def _start(arguments: argparse.Namespace) -> int:
    name = _trail_name(arguments)
    answer = call(arguments, "StartLogging", {"Name": name})
    _confirm(answer, arguments.output, f"trail {name} is logging")
    return 0


def _stop(arguments: argparse.Namespace) -> int:
    # The SDK sends StopLogging as GET; so does this command.
    name = _trail_name(arguments)
    answer = call(arguments, "StopLogging", {"Name": name}, method="GET")
    _confirm(answer, arguments.output, f"trail {name} stopped logging")
    return 0


def _list(arguments: argparse.Namespace) -> int:
    params: dict[str, str] = {}
    if arguments.name_list:
        params["NameList"] = arguments.name_list
    if arguments.include_shadow_trails:
        params["IncludeShadowTrails"] = "true"
    if arguments.include_organization_trail:
        params["IncludeOrganizationTrail"] = "true"
    answer = call(arguments, "DescribeTrails", params)
    if arguments.output == "json":
        print_json(answer)
        return 0
    rows = [
        (
            trail.get("Name"),
            trail.get("Status"),
            trail.get("HomeRegion"),
            trail.get("Region"),
            trail.get("TrailRegion"),
            trail.get("EventRW"),
            trail.get("OrganizationId", "") if trail.get("IsOrganizationTrail") else "",
            _destinations(trail),
        )
        for trail in answer.get("TrailList", [])
    ]
    print_table(
        (
            "Name",
            "Status",
            "HomeRegion",
            "Region",
            "TrailRegion",
            "EventRW",
            "Organization",
            "Destinations",
        ),
        rows,
    )
    return 0


def _status(arguments: argparse.Namespace) -> int:
    params = {"Name": _trail_name(arguments)}
    if arguments.is_organization_trail:
        params["IsOrganizationTrail"] = "true"
    answer = call(arguments, "GetTrailStatus", params)
    _print_object(
        answer if arguments.output == "json" else readable_status(answer), arguments.output
    )
    return 0


# GetTrailStatus fields that count events, and those that are milliseconds.
_EVENT_COUNTS = ("DeliveryBacklog", "DeliveredEvents", "DeliveryLostEvents")
_MILLISECONDS = ("DeliveryLagP50Ms", "DeliveryLagP99Ms", "DeliveryLagMaxMs")


def readable_status(answer: Mapping[str, Any]) -> dict[str, Any]:
    """GetTrailStatus for reading: counts as "1 event"/"2 events", lags as durations
    (`--output json` keeps the numbers as the server sent them)."""
    shown = dict(answer)
    for field in _EVENT_COUNTS:
        if isinstance(shown.get(field), int):
            shown[field] = count(shown[field], "event")
    for field in _MILLISECONDS:
        if isinstance(shown.get(field), int | float):
            shown[field] = duration(shown[field] / 1000)
    return shown


def _destinations(trail: Mapping[str, Any]) -> str:
    """Where a trail delivers, in one short cell."""
    parts = []
    if trail.get("OssBucketName"):
        parts.append(f"oss:{trail['OssBucketName']}/{trail.get('OssKeyPrefix') or ''}")
    if trail.get("SlsProjectArn"):
        parts.append(f"sls:{trail['SlsProjectArn']}")
    if trail.get("MaxComputeProjectArn"):
        parts.append(f"maxcompute:{trail['MaxComputeProjectArn']}")
    return " ".join(parts)


def _print_object(answer: Mapping[str, Any], output: str) -> None:
    if output == "json":
        print_json(answer)
    else:
        print_fields(answer)


def _confirm(answer: Mapping[str, Any], output: str, message: str) -> None:
    if output == "json":
        print_json(answer)
    else:
        print(message)


def _cell(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ", ".join(str(item) for item in value)
    return "" if value is None else str(value)
