"""A real `trailhouse serve` process for the producer tests, and a helper to read events back."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest

from server_process import free_port, start_serving
from trailhouse.client import RpcClient
from trailhouse.errors import RequestFailed
from trailhouse.events.validation import format_event_time

START_TIMEOUT = 30.0


def _command() -> list[str]:
    """The venv's `trailhouse` script, else the same CLI through this interpreter."""
    script = Path(sys.executable).parent / "trailhouse"
    if script.exists():
        return [str(script)]
    found = shutil.which("trailhouse")
    if found:
        return [found]
    return [sys.executable, "-c", "import sys; from trailhouse.cli import main; sys.exit(main())"]


@dataclass
class Server:
    """A `trailhouse serve` process on 127.0.0.1 with one account's root key."""

    data_dir: Path
    port: int
    access_key_id: str = ""
    access_key_secret: str = ""
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _environment(self) -> dict[str, str]:
        return {k: v for k, v in os.environ.items() if not k.startswith("TRAILHOUSE_")} | {
            "TRAILHOUSE_LOG_LEVEL": "warning"
        }

    def create_account(self) -> None:
        done = subprocess.run(
            [*_command(), "account", "create", "--data-dir", str(self.data_dir)],
            capture_output=True,
            timeout=60,
            env=self._environment(),
            check=False,
        )
        if done.returncode != 0:
            pytest.fail(f"trailhouse account create failed: {done.stderr.decode()[-2000:]}")
        credentials = orjson.loads(done.stdout)
        self.access_key_id = credentials["AccessKeyId"]
        self.access_key_secret = credentials["AccessKeySecret"]

    def start(self) -> None:
        command = [*_command(), "serve", "--data-dir", str(self.data_dir), "--port", str(self.port)]
        try:
            self.process = start_serving(
                command, self.port, self.data_dir / "serve.log", self._environment()
            )
        except RuntimeError as failure:
            pytest.fail(str(failure))

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
        self.process = None

    def client(self) -> RpcClient:
        return RpcClient(self.endpoint, self.access_key_id, self.access_key_secret)


ServerFactory = Callable[[], Server]


@pytest.fixture
def server_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerFactory]:
    """Starts servers (each with a fresh data directory and account) and stops them after."""
    started: list[Server] = []

    def start() -> Server:
        server = Server(tmp_path_factory.mktemp("trailhouse"), free_port())
        server.create_account()
        started.append(server)
        server.start()
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server shared by a test module; tests keep apart by unique names and ids."""
    running = Server(tmp_path_factory.mktemp("trailhouse"), free_port())
    running.create_account()
    running.start()
    try:
        yield running
    finally:
        running.stop()


def lookup_all(client: RpcClient, key: str, value: str) -> list[dict[str, Any]]:
    """Every event of the last hour whose attribute `key` is `value`, all pages."""
    now = int(time.time())
    params = {
        "StartTime": format_event_time(now - 3600),
        "EndTime": format_event_time(now + 60),
        "LookupAttribute.1.Key": key,
        "LookupAttribute.1.Value": value,
        "MaxResults": "50",
    }
    events: list[dict[str, Any]] = []
    while True:
        try:
            page = client.call("LookupEvents", params)
        except RequestFailed as failed:
            if not failed.retryable:
                raise
            time.sleep(0.2)
            continue
        events.extend(page.get("Events", []))
        token = page.get("NextToken")
        if not token:
            return events
        params["NextToken"] = token


def wait_for_events(
    server: Server, key: str, value: str, count: int, timeout: float = 10.0
) -> list[dict[str, Any]]:
    """Poll until at least `count` matching events are searchable (the index trails the log)."""
    client = server.client()
    try:
        deadline = time.monotonic() + timeout
        while True:
            events = lookup_all(client, key, value)
            if len(events) >= count or time.monotonic() > deadline:
                return events
            time.sleep(0.2)
    finally:
        client.close()


FindEvents = Callable[..., list[dict[str, Any]]]


@pytest.fixture
def find_events() -> FindEvents:
    """`find_events(server, key, value, count, timeout=10)`: poll until `count` events match."""
    return wait_for_events


@pytest.fixture
def dead_endpoint() -> str:
    """The URL of a local port nothing listens on: every connection is refused."""
    return f"http://127.0.0.1:{free_port()}"
