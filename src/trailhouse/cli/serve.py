"""`trailhouse serve`: run the server in the foreground, optionally on demo data."""

from __future__ import annotations

import argparse
import shlex
import shutil
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from trailhouse.cli.common import add_store_options, load_settings
from trailhouse.logs import configure_logging


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
    # The server's modules load here and in `_deliver`, not with the module: every other
    # command of the CLI starts without them.
    from trailhouse.api.server import run_server
    from trailhouse.demo.setup import prepare_demo
    from trailhouse.memory import arrow_without_pandas, limit_arenas
    from trailhouse.runtime import apply_switch_interval, open_services

    overrides: dict[str, Any] = {"host": arguments.host, "port": arguments.port}
    if arguments.no_delivery:
        overrides["delivery_enabled"] = False
    settings = load_settings(arguments, **overrides)
    configure_logging(settings)
    limit_arenas()  # before the server's threads start
    if settings.sql_engine != "spark":  # pyspark loads pandas and converts through pyarrow's
        arrow_without_pandas()
    apply_switch_interval(settings)
    services = open_services(settings)
    try:
        demo = prepare_demo(services) if arguments.demo else None
    except BaseException:
        services.close()
        raise
    url = f"http://{settings.host}:{settings.port}"

    def announce() -> None:
        print(f"trailhouse is serving {url} (data in {settings.data_dir})", flush=True)
        if demo is not None:
            _print_demo(demo, url, settings.data_dir)

    run_server(services, on_started=announce)
    return 0


def _deliver(arguments: argparse.Namespace) -> int:
    """Run only the delivery engine until SIGTERM or SIGINT; a batch in flight commits whole."""
    from trailhouse.memory import arrow_without_pandas
    from trailhouse.runtime import open_services  # loaded by the commands that use it

    settings = load_settings(arguments)
    configure_logging(settings)
    if settings.sql_engine != "spark":  # as in `_serve`
        arrow_without_pandas()
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


def _print_demo(document: dict[str, dict[str, str]], url: str, data_dir: Path) -> None:
    from trailhouse.demo.setup import DEMO_TABLE, DEMO_TRAIL
    from trailhouse.warehouse.model import project_name

    root, user = document["root"], document["alice"]
    command = trailhouse_command()
    project = project_name(root["AccountId"])
    print(
        "\nDemo account (credentials also in the data directory, demo-credentials.json):\n"
        f"  AccountId       {root['AccountId']}\n"
        f"  AccessKeyId     {root['AccessKeyId']}\n"
        f"  AccessKeySecret {root['AccessKeySecret']}\n"
        f"RAM user alice: {user['AccessKeyId']} / {user['AccessKeySecret']}\n"
        f"Console: {url}/console (sign in with the AccessKey pair above)\n\n"
        "Try, in another terminal (in this directory):\n"
        f"  export ALIBABA_CLOUD_ACCESS_KEY_ID={root['AccessKeyId']}\n"
        f"  export ALIBABA_CLOUD_ACCESS_KEY_SECRET={root['AccessKeySecret']}\n"
        f"  {command} events lookup --endpoint {url} --attribute EventName=ConsoleSignin\n"
        f"  {command} trail status {DEMO_TRAIL} --endpoint {url}\n"
        f"  {command} sql --endpoint {url} -p {project} \\\n"
        f'    "SELECT event_name, COUNT(*) n FROM {DEMO_TABLE} GROUP BY event_name '
        'ORDER BY n DESC LIMIT 10"\n'
        f"  {command} bill --data-dir {shlex.quote(str(data_dir))}\n",
        flush=True,
    )


def trailhouse_command(cwd: Path | None = None) -> str:
    """How to run this trailhouse from a shell, exactly as printed: `trailhouse` when that is
    the one on PATH, else the script beside this interpreter (relative to `cwd` when inside
    it, as `.venv/bin/trailhouse`), else `python -m trailhouse` with this interpreter."""
    here = Path.cwd() if cwd is None else cwd
    script = Path(sys.executable).parent / "trailhouse"
    if not script.exists():
        return f"{shlex.quote(sys.executable)} -m trailhouse"
    on_path = shutil.which("trailhouse")
    if on_path is not None and Path(on_path).resolve() == script.resolve():
        return "trailhouse"
    absolute = script.absolute()
    if absolute.is_relative_to(here.absolute()):
        return shlex.quote(absolute.relative_to(here.absolute()).as_posix())
    return shlex.quote(str(absolute))
