"""The scale benchmark's failover phase: three delivery workers, one killed with SIGKILL.

One `trailhouse serve --no-delivery` and three `trailhouse deliver` workers on a fresh schema;
six trails (three in each of two accounts) with MaxCompute destinations, logging. Once the
leases are spread two per worker and a steady PutEvents stream runs, the first worker is killed
(`kill -9`) and reaped. Then, polling every `watch_every` seconds:

- **takeover**: kill → GET /metrics shows each of its trails' lease held by a survivor (late by
  at most one poll), and, exactly, kill → the `taken_ms` the survivor wrote into the lease;
- **delivery gap**: kill → the trail's `DeliveredUpTo` (GetTrailStatus) passes the kill time,
  i.e. everything accepted before the kill is in the table. The survivors' own trails, which
  never changed hands, pass it after the usual delivery lag: that is the baseline.

After the stream stops and every trail's watermark passes the last acknowledged call, SQL jobs
check that each table holds every accepted event of its account exactly once.

`hosts="separate"` runs each worker in a UTS namespace of its own (another hostname), so the
survivors cannot see that the killed process is gone and must wait for its leases to expire, as
on separate machines; `hosts="same"` is one host, where a dead worker is noticed at the next
lease renewal.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from _events import TimeWindow, make_generator, owned
from _scale_procs import Cluster, say
from _servers import Credentials
from delivery import count_sql, parse_millis, run_sql
from trailhouse.client import RpcClient
from trailhouse.delivery.leases import Lease, read_leases
from trailhouse.errors import RequestFailed
from trailhouse.settings import Settings
from trailhouse.store.postgres import open_metadata
from trailhouse.warehouse.model import project_name, table_name

REGION = "cn-hangzhou"  # the server's default region
TRAILS_PER_ACCOUNT = 3
WORKERS = 3
BATCH = 100
_LEASE_LINE = re.compile(
    r'^trailhouse_delivery_lease\{account="(\d+)",trail="([^"]+)",worker="([^"]*-(\d+)-\w+)"\} 1',
    re.MULTILINE,
)

TrailKey = tuple[str, str]  # (account id, trail name)


@dataclass(frozen=True, slots=True)
class FailoverPlan:
    """How the failover phase runs."""

    hosts: str  # "same" or "separate"
    lease_seconds: float
    rate: float  # events/s of the stream, over both accounts
    before_kill: float  # seconds of stream before the kill
    after_takeover: float  # seconds of stream once the taken-over trails caught up
    watch_every: float
    drain_timeout: float
    port: int
    gen_dir: Path
    seed: int


@dataclass(frozen=True, slots=True)
class Holder:
    """A lease holder as GET /metrics names it."""

    worker: str
    pid: int


@dataclass(frozen=True, slots=True)
class TrailCheck:
    """One table after the run: rows and distinct ids of the stream, against accepted."""

    trail: TrailKey
    rows: int
    distinct: int
    accepted: int

    @property
    def ok(self) -> bool:
        """Every accepted event exactly once."""
        return self.rows == self.distinct == self.accepted


@dataclass
class FailoverResult:
    """What the phase measured (seconds are from the kill unless named otherwise)."""

    hosts: str
    lease_seconds: float
    poll_seconds: float
    spread_seconds: float = 0.0  # workers started → two trails each
    victim_trails: list[TrailKey] = field(default_factory=list)
    expired: dict[TrailKey, float] = field(default_factory=dict)  # the victim's lease expiry
    taken: dict[TrailKey, float] = field(default_factory=dict)  # the survivor's taken_ms
    takeover_seen: float | None = None  # /metrics showed all of them held by survivors
    gaps: dict[TrailKey, float] = field(default_factory=dict)  # DeliveredUpTo passed the kill
    accepted: int = 0
    unknown: int = 0  # events of calls without an answer
    stream_rate: float = 0.0
    checks: list[TrailCheck] = field(default_factory=list)
    drained: bool = False
    survivor_exits: list[int] = field(default_factory=list)

    @property
    def bound(self) -> float:
        """What the docs promise for a takeover: the lease plus one delivery poll."""
        return self.lease_seconds + self.poll_seconds


class Stream:
    """PutEvents at a steady rate into each account, from one paced thread per account."""

    def __init__(
        self, endpoint: str, accounts: list[Credentials], plan: FailoverPlan, run: str
    ) -> None:
        self.run = run
        self._interval = BATCH * len(accounts) / plan.rate
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.accepted: dict[str, int] = {a.account_id: 0 for a in accounts}
        self.unknown = 0
        self.last_ack = 0.0
        self.started = 0.0
        self.stopped = 0.0
        window = TimeWindow.last_days(int(time.time()), 1.0)
        self._threads = []
        for number, account in enumerate(accounts):
            generator = make_generator(plan.gen_dir, plan.seed, window, stream=number + 1)
            events = owned(generator.batch(20 * BATCH), account.account_id)
            pool = [orjson.dumps({"Events": events[s : s + BATCH]}) for s in range(0, 2000, BATCH)]
            client = RpcClient(endpoint, account.key_id, account.secret, timeout=60.0)
            self._threads.append(
                threading.Thread(target=self._send, args=(number, account, client, pool))
            )

    def start(self) -> None:
        """Begin sending."""
        self.started = time.time()
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        """Stop sending and wait for the calls in flight."""
        self._stop.set()
        for thread in self._threads:
            thread.join()
        self.stopped = time.time()

    def rate(self) -> float:
        """Accepted events per second while it ran."""
        seconds = (self.stopped or time.time()) - self.started
        return sum(self.accepted.values()) / seconds if seconds > 0 else 0.0

    def _send(
        self, number: int, account: Credentials, client: RpcClient, pool: list[bytes]
    ) -> None:
        turn = 0
        while not self._stop.is_set():
            due = self.started + turn * self._interval
            if (wait := due - time.time()) > 0 and self._stop.wait(wait):
                break
            prefix = f"{self.run}-a{number}b{turn}-".encode()
            body = pool[turn % len(pool)].replace(b'"eventId":"', b'"eventId":"' + prefix)
            turn += 1
            try:
                answer = client.call("PutEvents", body=orjson.Fragment(body))
            except RequestFailed:
                with self._lock:
                    self.unknown += BATCH
                continue
            with self._lock:
                self.accepted[account.account_id] += int(answer.get("Accepted", 0))
                self.last_ack = time.time()
        client.close()


def placement(hosts: str) -> str:
    """Where the workers run, in words."""
    return "workers on one host" if hosts == "same" else "workers on separate hosts"


def lease_holders(endpoint: str) -> dict[TrailKey, Holder]:
    """Who holds each trail's lease now, from GET /metrics."""
    with urllib.request.urlopen(f"{endpoint}/metrics", timeout=10) as answer:  # noqa: S310
        text = answer.read().decode()
    return {
        (account, trail): Holder(worker, int(pid))
        for account, trail, worker, pid in _LEASE_LINE.findall(text)
    }


def watermark_ms(client: RpcClient, trail: str) -> int:
    """The trail's DeliveredUpTo, epoch ms (0 before the first delivery)."""
    status = client.call("GetTrailStatus", {"Name": trail})
    return parse_millis(str(status.get("DeliveredUpTo") or ""))


def wait_until(check: Any, timeout: float, every: float) -> float | None:
    """Poll `check()` until true; the seconds it took, or None on timeout."""
    begun = time.monotonic()
    while time.monotonic() - begun < timeout:
        if check():
            return time.monotonic() - begun
        time.sleep(every)
    return None


def run_failover(cluster: Cluster, plan: FailoverPlan, data_dir: Path) -> FailoverResult:
    """One failover phase on a fresh schema; everything it started is stopped, and the schema
    and data directory removed, before it returns."""
    url = cluster.new_schema(f"fo_{plan.hosts}")
    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True)
    extra = {"TRAILHOUSE_DELIVERY_LEASE_SECONDS": str(plan.lease_seconds)}
    settings = Settings.load({"data_dir": data_dir}, environ=cluster.env(url, extra))
    result = FailoverResult(plan.hosts, plan.lease_seconds, settings.delivery_poll_seconds)
    processes: list[subprocess.Popen[Any]] = []
    clients: dict[str, RpcClient] = {}
    stream: Stream | None = None
    metadata = None
    try:
        cluster.cli(url, data_dir, "db", "upgrade")
        accounts = [cluster.create_account(url, data_dir) for _ in range(2)]
        processes.append(cluster.serve(url, data_dir, plan.port, extra))
        endpoint = f"http://127.0.0.1:{plan.port}"
        clients = {a.account_id: RpcClient(endpoint, a.key_id, a.secret) for a in accounts}
        metadata = open_metadata(settings)
        trails = [
            (a.account_id, f"failover-{n}") for a in accounts for n in range(TRAILS_PER_ACCOUNT)
        ]
        for account_id, name in trails:
            arn = f"acs:odps:{REGION}:{account_id}:project/{project_name(account_id)}"
            client = clients[account_id]
            client.call(
                "CreateTrail", {"Name": name, "EventRW": "All", "MaxComputeProjectArn": arn}
            )
            client.call("StartLogging", {"Name": name})
        say(
            f"failover, {placement(plan.hosts)}: {WORKERS} delivery workers, {len(trails)} "
            f"trails, lease {plan.lease_seconds:g} s"
        )
        workers = [
            cluster.deliver(
                url,
                data_dir,
                extra,
                f"{plan.hosts}-{n}",
                f"scalehost{n}" if plan.hosts == "separate" else "",
            )
            for n in range(WORKERS)
        ]
        processes += workers
        pids = {w.pid for w in workers}

        def spread() -> bool:
            holders = lease_holders(endpoint)
            per_worker = [sum(1 for h in holders.values() if h.pid == pid) for pid in pids]
            return len(holders) == len(trails) and per_worker == [2] * WORKERS

        spread_seconds = wait_until(spread, 12 * plan.lease_seconds + 30, 0.2)
        if spread_seconds is None:
            raise RuntimeError(
                f"the leases did not spread two per worker: {lease_holders(endpoint)}"
            )
        result.spread_seconds = spread_seconds
        say(f"leases spread two per worker after {spread_seconds:.1f} s; stream at {plan.rate:g}/s")

        stream = Stream(endpoint, accounts, plan, f"fo{time.time_ns() // 1_000_000:x}")
        stream.start()
        time.sleep(plan.before_kill)
        victim = workers[0]
        holders = lease_holders(endpoint)
        victim_trails = sorted(k for k, h in holders.items() if h.pid == victim.pid)
        victim_id = next(h.worker for h in holders.values() if h.pid == victim.pid)
        result.victim_trails = victim_trails
        kill_at = time.time()
        os.kill(victim.pid, signal.SIGKILL)
        victim.wait()  # reaped: its pid is gone, as a supervisor would leave it
        held = ", ".join(f"{trail} of {account}" for account, trail in victim_trails)
        say(f"killed worker {victim_id} (it held {held})")
        leases = read_leases(metadata)
        for key in victim_trails:
            lease = leases.get(key)
            if lease is not None and lease.owner == victim_id:
                result.expired[key] = lease.expires_ms / 1000 - kill_at
        _watch(result, plan, endpoint, clients, trails, victim_trails, victim.pid, kill_at)
        _note_taken(result, read_leases(metadata), victim_trails, victim_id, kill_at)
        time.sleep(plan.after_takeover)
        stream.stop()
        say(
            f"stream stopped: {sum(stream.accepted.values()):,} events accepted at "
            f"{stream.rate():,.0f}/s; waiting until every trail has delivered them"
        )
        last_ms = int(stream.last_ack * 1000) + 1
        result.drained = (
            wait_until(
                lambda: all(watermark_ms(clients[a], t) >= last_ms for a, t in trails),
                plan.drain_timeout,
                0.2,
            )
            is not None
        )
        result.accepted = sum(stream.accepted.values())
        result.unknown = stream.unknown
        result.stream_rate = stream.rate()
        for account_id, name in trails:
            project = project_name(account_id)
            sql = count_sql(f"{project}.{table_name(name)}", f"{stream.run}-")
            rows = run_sql(clients[account_id], project, sql).rows
            result.checks.append(
                TrailCheck(
                    (account_id, name),
                    int(rows[0][0]),
                    int(rows[0][1]),
                    stream.accepted[account_id],
                )
            )
        survivors = workers[1:]
        cluster.stop(survivors)
        result.survivor_exits = [w.returncode for w in survivors]
    finally:
        if stream is not None and not stream.stopped:
            stream.stop()
        for client in clients.values():
            client.close()
        if metadata is not None:
            metadata.close()
        cluster.stop(processes)
        cluster.drop_schema(url)
        shutil.rmtree(data_dir, ignore_errors=True)
    return result


def _watch(
    result: FailoverResult,
    plan: FailoverPlan,
    endpoint: str,
    clients: dict[str, RpcClient],
    trails: list[TrailKey],
    victim_trails: list[TrailKey],
    victim_pid: int,
    kill_at: float,
) -> None:
    """Poll /metrics and GetTrailStatus until the victim's trails are held by survivors and
    every trail's watermark has passed the kill."""
    kill_ms = int(kill_at * 1000)
    give_up = kill_at + 4 * plan.lease_seconds + 120
    pending = list(trails)
    while time.time() < give_up and (pending or result.takeover_seen is None):
        turn = time.time()
        if result.takeover_seen is None:
            holders = lease_holders(endpoint)
            held = [holders.get(key) for key in victim_trails]
            if all(h is not None and h.pid != victim_pid for h in held):
                result.takeover_seen = time.time() - kill_at
                say(f"taken over: seen in /metrics {result.takeover_seen:.2f} s after the kill")
        for key in list(pending):
            if watermark_ms(clients[key[0]], key[1]) >= kill_ms:
                result.gaps[key] = time.time() - kill_at
                pending.remove(key)
        if (wait := turn + plan.watch_every - time.time()) > 0:
            time.sleep(wait)
    if pending or result.takeover_seen is None:
        say("gave up waiting for the takeover or the watermarks")


def _note_taken(
    result: FailoverResult,
    leases: dict[TrailKey, Lease],
    victim_trails: list[TrailKey],
    victim_id: str,
    kill_at: float,
) -> None:
    """The moment each survivor took a victim's trail, from the lease it wrote."""
    for key in victim_trails:
        lease = leases.get(key)
        if lease is not None and lease.owner and lease.owner != victim_id and lease.taken_ms:
            result.taken[key] = lease.taken_ms / 1000 - kill_at
