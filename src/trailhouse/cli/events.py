"""Client commands: `configure`, `events put`, `events lookup`, and `events purge` (host side)."""

from __future__ import annotations

import argparse
import getpass
import sys
import time
from collections.abc import Iterator
from typing import IO, Any

import orjson

from trailhouse.cli.common import (
    add_client_options,
    add_output_option,
    add_store_options,
    load_settings,
    print_json,
    print_table,
)
from trailhouse.cli.numbers import count
from trailhouse.client import RpcClient
from trailhouse.profiles import DEFAULT_PROFILE, Profile, config_path, resolve, save_profile

PUT_BATCH_EVENTS = 500
PUT_BATCH_BYTES = 4 * 1024 * 1024


def register(commands: Any) -> None:
    """Add configure and the events sub-commands."""
    configure = commands.add_parser("configure", help="store credentials in a named profile")
    configure.add_argument("--profile", default=DEFAULT_PROFILE)
    configure.add_argument("--access-key-id")
    configure.add_argument("--access-key-secret")
    configure.add_argument("--endpoint", default="")
    configure.set_defaults(run=_configure)

    events = commands.add_parser("events", help="record, search and purge events").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    put = events.add_parser("put", help="record events from a JSON-lines file (- for stdin)")
    put.add_argument("file", help="JSON lines, one event per line, or - for stdin")
    add_client_options(put)
    put.set_defaults(run=_put)

    lookup = events.add_parser("lookup", help="search the last 90 days (LookupEvents)")
    lookup.add_argument("--start-time", help="UTC, YYYY-MM-DDThh:mm:ssZ (default 7 days ago)")
    lookup.add_argument("--end-time", help="UTC, YYYY-MM-DDThh:mm:ssZ (default now)")
    lookup.add_argument("--direction", choices=("BACKWARD", "FORWARD"))
    lookup.add_argument("--max-results", type=int, help="events per page, 1-50 (default 20)")
    lookup.add_argument(
        "--attribute",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a LookupAttribute (ServiceName, EventName, User, EventId, ResourceType, "
        "ResourceName, EventRW, EventAccessKeyId, SensitiveAction, SourceIpAddress, EventType, "
        "RoleName); repeat to AND several keys (a key given twice searches its later value)",
    )
    lookup.add_argument("--next-token", help="continue from a previous page")
    lookup.add_argument("--pages", type=int, default=1, help="follow NextToken for N pages")
    add_output_option(lookup, "table", "json", "jsonl")
    add_client_options(lookup)
    lookup.set_defaults(run=_lookup)

    purge = events.add_parser("purge", help="delete events older than the retention window")
    purge.add_argument("--retention-days", type=int, help="keep this many days (default 90)")
    add_store_options(purge)
    purge.set_defaults(run=_purge)


def _configure(arguments: argparse.Namespace) -> int:
    key_id = arguments.access_key_id or input("AccessKey Id: ").strip()
    secret = arguments.access_key_secret or getpass.getpass("AccessKey Secret: ").strip()
    path = config_path()
    save_profile(Profile(arguments.profile, key_id, secret, arguments.endpoint), path)
    print(f"saved profile {arguments.profile} in {path}")
    return 0


def _client(arguments: argparse.Namespace) -> RpcClient:
    profile = resolve(arguments.profile, arguments.endpoint)
    return RpcClient(profile.endpoint, profile.access_key_id, profile.access_key_secret)


def _put(arguments: argparse.Namespace) -> int:
    client = _client(arguments)
    progress = sys.stderr.isatty()
    sent = accepted = failed = 0
    started = time.monotonic()
    source: IO[bytes] = sys.stdin.buffer if arguments.file == "-" else open(arguments.file, "rb")  # noqa: SIM115
    try:
        for first_line, batch in _batches(source):
            answer = client.call("PutEvents", body={"Events": batch})
            sent += len(batch)
            accepted += int(answer.get("Accepted", 0))
            for failure in answer.get("Failed", []):
                failed += 1
                line = first_line + int(failure["Index"])
                print(f"line {line}: {failure['Code']}: {failure['Message']}", file=sys.stderr)
            if progress:
                rate = sent / max(time.monotonic() - started, 1e-9)
                print(
                    f"\rsent {count(sent, 'event')} ({rate:,.0f}/s), {failed:,} failed",
                    end="",
                    file=sys.stderr,
                )
    finally:
        if source is not sys.stdin.buffer:
            source.close()
        client.close()
    if progress:
        print(file=sys.stderr)
    print_json({"Sent": sent, "Accepted": accepted, "Failed": failed})
    return 1 if failed else 0


JSON_LINES_HINT = (
    "; events put reads JSON lines, one event object per line "
    "(turn a JSON array into them with: jq -c '.[]' events.json; "
    "pretty-printed events with: jq -c . events.json)"
)


def _json_lines_hint(line: bytes) -> str:
    """The JSON-lines hint when a line looks like part of a JSON array or pretty-printed JSON."""
    text = line.strip()
    if text[:1] in (b"[", b"{", b"]", b"}") or text.startswith(b'"') or text.endswith(b","):
        return JSON_LINES_HINT
    return ""


def _batches(source: IO[bytes]) -> Iterator[tuple[int, list[Any]]]:
    """Events in batches under the PutEvents limits, with the line number of each first event."""
    batch: list[Any] = []
    size = 0
    first_line = 1
    for number, line in enumerate(source, 1):
        if not line.strip():
            continue
        try:
            event = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            hint = _json_lines_hint(line)
            raise ValueError(f"line {number} is not valid JSON: {exc}{hint}") from None
        if isinstance(event, list):
            raise ValueError(f"line {number} is a JSON array, not an event{JSON_LINES_HINT}")
        if batch and (len(batch) >= PUT_BATCH_EVENTS or size + len(line) > PUT_BATCH_BYTES):
            yield first_line, batch
            batch, size = [], 0
        if not batch:
            first_line = number
        batch.append(event)
        size += len(line)
    if batch:
        yield first_line, batch


def _lookup(arguments: argparse.Namespace) -> int:
    params: dict[str, str] = {}
    for name, value in (
        ("StartTime", arguments.start_time),
        ("EndTime", arguments.end_time),
        ("Direction", arguments.direction),
        ("MaxResults", arguments.max_results),
        ("NextToken", arguments.next_token),
    ):
        if value is not None:
            params[name] = str(value)
    for number, attribute in enumerate(arguments.attribute, 1):
        key, separator, value = attribute.partition("=")
        if not separator:
            raise ValueError(f"--attribute {attribute!r} must look like KEY=VALUE")
        params[f"LookupAttribute.{number}.Key"] = key
        params[f"LookupAttribute.{number}.Value"] = value
    client = _client(arguments)
    events: list[dict[str, Any]] = []
    token: str | None = None
    try:
        for _ in range(max(arguments.pages, 1)):
            answer = client.call("LookupEvents", params)
            events.extend(answer.get("Events", []))
            token = answer.get("NextToken")
            if not token:
                break
            params["NextToken"] = token
    finally:
        client.close()
    _print_events(events, token, arguments.output)
    return 0


def _print_events(events: list[dict[str, Any]], token: str | None, output: str) -> None:
    if output == "json":
        print_json({"Events": events, "NextToken": token})
        return
    if output == "jsonl":
        sys.stdout.write("".join(orjson.dumps(event).decode() + "\n" for event in events))
        return
    rows = [
        (
            event.get("eventTime"),
            event.get("serviceName"),
            event.get("eventName"),
            event.get("eventRW"),
            (event.get("userIdentity") or {}).get("userName", "root"),
            event.get("sourceIpAddress"),
            event.get("errorCode") or "",
            event.get("eventId"),
        )
        for event in events
    ]
    print_table(
        ("EventTime", "Service", "Event", "RW", "User", "SourceIp", "Error", "EventId"), rows
    )
    more = f"; more: --next-token {token}" if token else ""
    print(f"{count(len(events), 'event')}{more}", file=sys.stderr)


def _purge(arguments: argparse.Namespace) -> int:
    from trailhouse.runtime import open_services  # loaded by the commands that use it

    settings = load_settings(arguments, retention_days=arguments.retention_days)
    services = open_services(settings)
    try:
        removed = services.purge_expired()
    finally:
        services.close()
    print_json({"Purged": removed, "RetentionDays": settings.retention_days})
    return 0
