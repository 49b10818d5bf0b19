"""`trailhouse serve`: run the server in the foreground, optionally on demo data."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

import orjson

from trailhouse.api.server import run_server
from trailhouse.cli.admin import credentials_document
from trailhouse.cli.common import add_store_options, load_settings
from trailhouse.demo import DemoEvents, recent_window
from trailhouse.iam.principals import Caller
from trailhouse.iam.roles import service_linked_role_arn
from trailhouse.logs import configure_logging
from trailhouse.runtime import Services, open_services
from trailhouse.warehouse.model import project_name

DEMO_ACCOUNT_ID = "1234567890123456"
DEMO_DAYS = 3
DEMO_EVENTS_PER_DAY = 6000
DEMO_CREDENTIALS_FILE = "demo-credentials.json"
DEMO_TABLE = "actiontrail_demo"


def register(commands: Any) -> None:
    """Add the serve sub-command."""
    parser = commands.add_parser("serve", help="run the trailhouse server in the foreground")
    add_store_options(parser)
    parser.add_argument("--host", help="listen address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="listen port (default 8080)")
    parser.add_argument(
        "--demo",
        action="store_true",
        help="fill an empty data directory with a demo account and a few days of events, "
        "and print the demo credentials",
    )
    parser.add_argument(
        "--no-delivery",
        action="store_true",
        help="do not deliver trails in this process (run `trailhouse deliver` instead)",
    )
    parser.set_defaults(run=_serve)

    worker = commands.add_parser(
        "deliver",
        help="deliver enabled trails in the foreground, without serving the API (for a store "
        "that is not held by a server: PostgreSQL, or SQLite with no server running)",
    )
    add_store_options(worker)
    worker.set_defaults(run=_deliver)


def _serve(arguments: argparse.Namespace) -> int:
    overrides: dict[str, Any] = {"host": arguments.host, "port": arguments.port}
    if arguments.no_delivery:
        overrides["delivery_enabled"] = False
    settings = load_settings(arguments, **overrides)
    configure_logging(settings)
    services = open_services(settings)
    try:
        demo = _prepare_demo(services) if arguments.demo else None
    except BaseException:
        services.close()
        raise
    url = f"http://{settings.host}:{settings.port}"

    def announce() -> None:
        print(f"trailhouse is serving {url} (data in {settings.data_dir})", flush=True)
        if demo is not None:
            _print_demo(demo, url)

    run_server(services, on_started=announce)
    return 0


def _deliver(arguments: argparse.Namespace) -> int:
    """Run only the delivery engine until SIGTERM or SIGINT; a batch in flight commits whole."""
    settings = load_settings(arguments)
    configure_logging(settings)
    services = open_services(settings)
    work = services.background_work(serving=False)
    stop = threading.Event()
    previous = {
        sig: signal.signal(sig, lambda signum, frame: stop.set())
        for sig in (signal.SIGTERM, signal.SIGINT)
    }
    try:
        for loop in work:
            loop.start()
        print(f"trailhouse is delivering trails (data in {settings.data_dir})", flush=True)
        stop.wait()
    finally:
        for loop in reversed(work):
            loop.stop()
        services.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


def _prepare_demo(services: Services) -> dict[str, dict[str, str]]:
    """Demo credentials, creating the demo account and events on first use."""
    path = services.settings.data_dir / DEMO_CREDENTIALS_FILE
    if path.exists():
        stored: dict[str, dict[str, str]] = orjson.loads(path.read_bytes())
        return stored
    if services.accounts.list_accounts():
        raise ValueError(
            f"--demo needs an empty data directory, and {services.settings.data_dir} already "
            "holds accounts; choose another --data-dir"
        )
    root = services.accounts.create_account(DEMO_ACCOUNT_ID)
    user = services.accounts.create_user(DEMO_ACCOUNT_ID, "alice")
    caller = services.accounts.caller_for(root.access_key_id)
    print(f"creating {DEMO_DAYS} days of demo events ...", file=sys.stderr, flush=True)
    _record_demo_events(services, caller)
    _load_demo_table(services)
    document = {
        "root": credentials_document(root),
        "alice": credentials_document(user),
    }
    _write_private(path, orjson.dumps(document, option=orjson.OPT_INDENT_2))
    return document


def _record_demo_events(services: Services, caller: Caller) -> None:
    start, end = recent_window(DEMO_DAYS)
    generator = DemoEvents(DEMO_ACCOUNT_ID)
    batch: list[bytes] = []
    for event in generator.between(start, end, DEMO_DAYS * DEMO_EVENTS_PER_DAY):
        batch.append(orjson.dumps(event))
        if len(batch) == 1000:
            services.ingest.put_events(caller, batch)
            batch = []
    if batch:
        services.ingest.put_events(caller, batch)
    services.lookup.wait_searchable(timeout=60)


def _load_demo_table(services: Services) -> None:
    """Copy the demo events into the demo project's table, so that SQL has data at once.

    This is a one-off load, not a trail: the table is `actiontrail_demo`, which no trail name
    maps to, so a trail created later delivers into a table of its own.
    """
    services.roles.ensure_service_linked_role(DEMO_ACCOUNT_ID)
    warehouse = services.warehouse
    project = warehouse.catalog.ensure_project(
        DEMO_ACCOUNT_ID, services.settings.region, project_name(DEMO_ACCOUNT_ID)
    )
    table = warehouse.catalog.ensure_table(project, DEMO_TABLE)
    seq = 0
    while batch := services.lookup.events_after(seq, 20_000):
        warehouse.writer.append(
            project,
            table,
            batch,
            writer_role_arn=service_linked_role_arn(DEMO_ACCOUNT_ID),
            source_account=DEMO_ACCOUNT_ID,
            source="demo",
        )
        seq = batch[-1].seq


def _write_private(path: Path, content: bytes) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(content)


def _print_demo(document: dict[str, dict[str, str]], url: str) -> None:
    root, user = document["root"], document["alice"]
    print(
        "\nDemo account (credentials also in the data directory, demo-credentials.json):\n"
        f"  AccountId       {root['AccountId']}\n"
        f"  AccessKeyId     {root['AccessKeyId']}\n"
        f"  AccessKeySecret {root['AccessKeySecret']}\n"
        f"RAM user alice: {user['AccessKeyId']} / {user['AccessKeySecret']}\n\n"
        "Try:\n"
        f"  export ALIBABA_CLOUD_ACCESS_KEY_ID={root['AccessKeyId']}\n"
        f"  export ALIBABA_CLOUD_ACCESS_KEY_SECRET={root['AccessKeySecret']}\n"
        f"  trailhouse events lookup --endpoint {url} --attribute EventName=ConsoleSignin\n"
        f"  trailhouse sql --endpoint {url} -p {project_name(root['AccountId'])} \\\n"
        f'    "SELECT event_name, COUNT(*) n FROM {DEMO_TABLE} GROUP BY event_name '
        'ORDER BY n DESC LIMIT 10"\n',
        flush=True,
    )
