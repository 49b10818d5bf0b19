"""The crash-point harness: a real `trailhouse serve` killed at one named durable step, restarted,
and checked against what its clients were told.

A store is prepared once (an account, two trails delivering Write events into MaxCompute, events
of several days, some old enough for a short retention to purge) and copied for each case. The
case's server runs with `TRAILHOUSE_FAULT` armed while producers send PutEvents batches through
the official SDK; a batch is acknowledged when PutEvents answered, and unknown when the server
died under it. After the kill the server must start again; the unknown batches are sent again (as
any client retries); then every acknowledged event must be found exactly once by LookupEvents and
in both trails' tables, and `trailhouse verify` must prove both tables whole.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alibabacloud_actiontrail20200706 import models
from compat_support import (
    Keys,
    Server,
    cli_environment,
    project_arn,
    put_events,
    rpc_client,
    run_cli,
    sdk,
    sql_rows,
    trailhouse,
    wait_delivered,
)
from factory import make_event

from server_process import free_port, wait_up
from trailhouse.events.validation import format_event_time
from trailhouse.runtime import open_services
from trailhouse.settings import Settings
from trailhouse.warehouse.model import project_name

TRAILS = ("crash-a", "crash-b")
EVENT_NAME = "CrashProbe"
DAY = 86400
# Events are recent (under 1.4 days old) or old (3.5 to 4 days): a two-day retention purges the
# old ones, whole day files of them, and no event lies near its cut-off.
RECENT_SECONDS = (60, int(1.4 * DAY))
OLD_SECONDS = (int(3.5 * DAY), 4 * DAY)
# Days no prepared store has a file for (its oldest events are 4 days old).
NEW_DAYS_SECONDS = (5 * DAY, int(5.5 * DAY))
PURGE_RETENTION_DAYS = "2"
REACH_TIMEOUT = 60.0

# Every run: small segments, fast delivery, digests and compaction, no lookup rate limit.
BASE_ENV = {
    "TRAILHOUSE_LOG_SEGMENT_BYTES": "20000",
    "TRAILHOUSE_DELIVERY_FLUSH_SECONDS": "0.1",
    "TRAILHOUSE_DELIVERY_RETRY_SECONDS": "0.5",
    "TRAILHOUSE_DIGEST_INTERVAL_SECONDS": "1",
    "TRAILHOUSE_DIGEST_GRACE_SECONDS": "0.3",
    "TRAILHOUSE_COMPACTION_MIN_FILES": "3",
    "TRAILHOUSE_COMPACTION_AGE_SECONDS": "0",
    "TRAILHOUSE_COMPACTION_INTERVAL_SECONDS": "0.5",
    "TRAILHOUSE_COMPACTION_GRACE_SECONDS": "1",
    "TRAILHOUSE_SQL_RESULT_ROWS": "1000000",
    "TRAILHOUSE_LOOKUP_RATE_PER_SECOND": "0",
}
PURGE_ENV = {
    "TRAILHOUSE_RETENTION_DAYS": PURGE_RETENTION_DAYS,
    "TRAILHOUSE_RETENTION_HOLD_DAYS": "0",
    "TRAILHOUSE_PURGE_INTERVAL_SECONDS": "0.5",
}


@dataclass
class Ledger:
    """What the clients were told: event ids acknowledged, and batches sent when it died."""

    acknowledged: dict[str, int] = field(default_factory=dict)  # event id → eventTime
    unknown: list[list[dict[str, Any]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, batch: list[dict[str, Any]]) -> None:
        with self.lock:
            for event in batch:
                self.acknowledged[event["eventId"]] = _epoch(event["eventTime"])


@dataclass(frozen=True)
class Store:
    """A prepared data directory, its account and what was acknowledged into it."""

    data_dir: Path
    keys: Keys
    ledger: Ledger


def batch_of(
    account_id: str, size: int, seconds: tuple[int, int], seed: int
) -> list[dict[str, Any]]:
    """`size` Write events of `account_id`, of times spread over `seconds` ago."""
    low, high = seconds
    span = max(high - low, 1)
    return [
        make_event(
            account_id,
            low + (seed * 7919 + n * 104729) % span,
            eventName=EVENT_NAME,
            eventRW="Write",
            eventId=str(uuid.uuid4()),
        )
        for n in range(size)
    ]


def prepare(data_dir: Path) -> Store:
    """An account, two logging trails and delivered events of several days, server stopped."""
    created = trailhouse("account", "create", "--data-dir", str(data_dir))
    keys = Keys(created["AccountId"], created["AccessKeyId"], created["AccessKeySecret"])
    ledger = Ledger()
    server = Server(data_dir, free_port())
    server.start(env={**os.environ, **BASE_ENV})
    try:
        client = sdk(server, keys)
        for name in TRAILS:
            client.create_trail(
                models.CreateTrailRequest(
                    name=name,
                    max_compute_project_arn=project_arn(keys.account_id),
                    event_rw="Write",
                )
            )
            client.start_logging(models.StartLoggingRequest(name=name))
        for seed in range(4):
            for seconds in (RECENT_SECONDS, OLD_SECONDS):
                batch = batch_of(keys.account_id, 100, seconds, seed)
                assert put_events(client, batch)["Accepted"] == len(batch)
                ledger.add(batch)
        for name in TRAILS:
            wait_delivered(server, keys, name)
    finally:
        assert server.stop() == 0
    return Store(data_dir, keys, ledger)


def copy_store(store: Store, data_dir: Path) -> Store:
    """A copy of a prepared (stopped) store, its digests brought up to now, with its own
    ledger."""
    catch_up_digests(store.data_dir)
    shutil.copytree(store.data_dir, data_dir)
    ledger = Ledger(acknowledged=dict(store.ledger.acknowledged))
    return Store(data_dir, store.keys, ledger)


def catch_up_digests(data_dir: Path) -> None:
    """Write the digests a stopped store owes for the time since it last ran, as its server
    would on starting.

    The digest chain has one digest per (one-second) interval, empty ones included, so a copy of
    a template prepared minutes ago makes its server write hundreds of digests per trail before
    the chain reaches the present; done here, once per case on the template, each case's server
    starts with a chain as fresh as a store that was just stopped.
    """
    services = open_services(Settings.load({"data_dir": data_dir}, environ=BASE_ENV))
    try:
        digester = services.digester()
        while digester.run_once():
            pass
    finally:
        services.close()


@dataclass
class ArmedRun:
    """A server started with one fault point armed, and producers feeding it until it dies."""

    store: Store
    point: str
    hit: int
    env: Mapping[str, str]
    seconds: tuple[int, int] = RECENT_SECONDS
    log_path: Path = field(init=False)
    process: subprocess.Popen[bytes] | None = None

    def __post_init__(self) -> None:
        self.log_path = self.store.data_dir.parent / "armed.log"

    def run(self) -> str:
        """Start, produce until the kill, and return the server's log. Fails unless the process
        died of SIGKILL at the armed point within REACH_TIMEOUT."""
        port = free_port()
        command = [
            sys.executable,
            "-m",
            "trailhouse",
            "serve",
            "--data-dir",
            str(self.store.data_dir),
            "--port",
            str(port),
        ]
        env = {
            **os.environ,
            **BASE_ENV,
            **self.env,
            "TRAILHOUSE_FAULT": f"{self.point}@{self.hit}",
        }
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
        try:
            if wait_up(self.process, port):
                self._produce(Server(self.store.data_dir, port, self.process))
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass  # not reached: said below
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
        output = self.log_path.read_text(errors="replace")
        assert self.process.returncode == -signal.SIGKILL, (
            f"{self.point}@{self.hit} was not reached (exit {self.process.returncode}):\n"
            + output[-3000:]
        )
        assert f"trailhouse fault: killed at {self.point}" in output, output[-3000:]
        return output

    def _produce(self, server: Server) -> None:
        assert self.process is not None
        deadline = time.monotonic() + REACH_TIMEOUT
        stop = threading.Event()

        def produce(seed: int) -> None:
            client = sdk(server, self.store.keys)
            n = 0
            while not stop.is_set() and time.monotonic() < deadline:
                batch = batch_of(self.store.keys.account_id, 100, self.seconds, seed + n)
                n += 2
                try:
                    answer = put_events(client, batch)
                except Exception:
                    with self.store.ledger.lock:
                        self.store.ledger.unknown.append(batch)
                    return
                assert answer["Accepted"] == len(batch), answer
                self.store.ledger.add(batch)
                time.sleep(0.02)  # leave the server's background work some room

        def look() -> None:  # readers beside the writers, as in production
            while not stop.is_set() and time.monotonic() < deadline:
                try:
                    with rpc_client(server, self.store.keys) as rpc:
                        rpc.call("LookupEvents", {"MaxResults": "20"})
                except Exception:
                    return
                time.sleep(0.1)

        threads = [threading.Thread(target=produce, args=(seed,)) for seed in (0, 1)]
        threads.append(threading.Thread(target=look))
        for thread in threads:
            thread.start()
        while self.process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        stop.set()
        for thread in threads:
            thread.join(timeout=60)


def check_after_crash(
    store: Store,
    tmp_path: Path,
    env: Mapping[str, str],
    also: Callable[[Server, Store], None] | None = None,
) -> float:
    """Restart, retry what was unknown, and check every acknowledged event is found exactly
    once in the history and in both tables, and that verify proves the tables whole (then
    `also`'s checks of the point's own work). Returns the seconds the restart took to answer
    /health."""
    server = Server(store.data_dir, free_port())
    started = time.monotonic()
    server.start(env={**os.environ, **BASE_ENV, **env})
    startup = time.monotonic() - started
    try:
        client = sdk(server, store.keys)
        for batch in store.ledger.unknown:  # a client retries what it got no answer for
            put_events(client, batch)
            store.ledger.add(batch)
        store.ledger.unknown.clear()
        _check_history(server, store, env)
        for name in TRAILS:
            _check_table(server, store, name)
        for name in TRAILS:
            _wait_for_digest(server, store.keys, name)
        _verify_tables(server, store, tmp_path)
        if also is not None:
            also(server, store)
    finally:
        assert server.stop() == 0
    return startup


def _check_history(server: Server, store: Store, env: Mapping[str, str]) -> None:
    """LookupEvents finds every acknowledged event within retention, each once, once the index
    has caught up with the log after the restart: it is asked again while it finds more each
    time (a large unindexed tail takes a while), or for 30 s."""
    deadline = time.monotonic() + 30
    missing_before = None
    while True:
        missing = _check_history_once(server, store, env)
        if not missing:
            return
        progress = missing_before is None or missing < missing_before
        assert progress or time.monotonic() < deadline, (
            f"{missing} acknowledged events are lost (not found by LookupEvents)"
        )
        missing_before = missing
        time.sleep(0.5)


def _check_history_once(server: Server, store: Store, env: Mapping[str, str]) -> int:
    """How many acknowledged events LookupEvents does not find (none doubled, none unknown)."""
    now = time.time()
    retention = float(env.get("TRAILHOUSE_RETENTION_DAYS", 90)) * DAY
    start = int(now - min(7 * DAY, retention - 60))
    wanted = {i for i, t in store.ledger.acknowledged.items() if t >= start}
    found: list[str] = []
    with rpc_client(server, store.keys) as rpc:
        parameters = {
            "StartTime": format_event_time(start),
            "EndTime": format_event_time(int(now + 60)),
            "MaxResults": "50",
            "LookupAttribute.1.Key": "EventName",
            "LookupAttribute.1.Value": EVENT_NAME,
        }
        while True:
            page = rpc.call("LookupEvents", parameters)
            found.extend(event["eventId"] for event in page["Events"])
            if not page.get("NextToken"):
                break
            parameters["NextToken"] = page["NextToken"]
    assert len(found) == len(set(found)), "LookupEvents returned an event twice"
    assert not set(found) - set(store.ledger.acknowledged), "an event nobody sent was found"
    return len(wanted - set(found))


def _check_table(server: Server, store: Store, name: str) -> None:
    """The trail's table holds every acknowledged event exactly once."""
    wait_delivered(server, store.keys, name, timeout=120)
    table = "actiontrail_" + name.replace("-", "_")
    rows = sql_rows(
        server,
        store.keys,
        f"SELECT event_id, COUNT(*) FROM {table} WHERE event_name = '{EVENT_NAME}' "
        "GROUP BY event_id",
    )
    counts = {event_id: int(n) for event_id, n in rows}
    doubled = [event_id for event_id, n in counts.items() if n != 1]
    assert not doubled, f"{len(doubled)} events are in {table} more than once"
    missing = set(store.ledger.acknowledged) - set(counts)
    assert not missing, f"{len(missing)} acknowledged events never reached {table}"


def _wait_for_digest(server: Server, keys: Keys, name: str, timeout: float = 60) -> None:
    """Wait until the trail's digests cover everything it delivered so far."""
    deadline = time.monotonic() + timeout
    with rpc_client(server, keys) as rpc:
        delivered = _epoch(rpc.call("GetTrailStatus", {"Name": name})["DeliveredUpTo"])
        while True:
            status = rpc.call("GetTrailStatus", {"Name": name})
            end = status["LatestDigestEndTime"]
            if end and _epoch(end) > delivered + 1:
                return
            assert time.monotonic() < deadline, status
            time.sleep(0.3)


def _verify_tables(server: Server, store: Store, tmp_path: Path) -> None:
    """`trailhouse verify --sql` proves each table whole. The trails deliver Write events only,
    and nothing writes now, so no row arrives while it reads."""
    cli = cli_environment(server, tmp_path, store.keys)

    def verify(name: str) -> None:
        table = f"{project_name(store.keys.account_id)}.actiontrail_{name.replace('-', '_')}"
        anchor = run_cli("keys", "anchor", name, env=cli)
        assert anchor.returncode == 0, anchor.stderr
        (tmp_path / f"{name}.anchor.json").write_text(anchor.stdout)
        anchored = ["--anchor", str(tmp_path / f"{name}.anchor.json")]
        done = run_cli("verify", "--sql", table, "--max-age", "0", *anchored, env=cli)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "OK: the table is whole" in done.stdout, done.stdout

    # The two trails' commands run side by side: each is mostly the CLI starting.
    with ThreadPoolExecutor(len(TRAILS)) as pool:
        for finished in [pool.submit(verify, name) for name in TRAILS]:
            finished.result()


def kill_cli(data_dir: Path, point: str, *arguments: str) -> str:
    """Run a trailhouse command armed to die at `point`; its stderr."""
    done = subprocess.run(
        [sys.executable, "-m", "trailhouse", *arguments, "--data-dir", str(data_dir)],
        env={**os.environ, "TRAILHOUSE_FAULT": point},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == -signal.SIGKILL, done.stdout + done.stderr
    assert f"trailhouse fault: killed at {point}" in done.stderr
    return done.stderr


def _epoch(text: str) -> int:
    """An ActionTrail time (`2026-12-06T04:29:52Z`, milliseconds allowed) as epoch seconds."""
    moment = time.strptime(text[:19], "%Y-%m-%dT%H:%M:%S")
    return int(time.mktime(moment) - time.timezone)


Prepare = Callable[[Store], None]
