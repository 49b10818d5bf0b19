"""The delivery benchmark: a steady PutEvents stream into a logging trail, and how long an
accepted event takes to be visible to SQL.

Starts `trailhouse serve` on a fresh data directory (default delivery settings), creates an
account and a trail (EventRW All, a MaxCompute destination) and starts it, then sends PutEvents
at `--rate` events/s for `--seconds`. Lag is "accepted → visible to SQL", measured for every
batch with the trail's DeliveredUpTo watermark ("every event accepted before T is in the table")
and confirmed for a few batches by SQL jobs; the backlog is printed second by second, and the
table is checked by SQL to hold every accepted event exactly once. Baselines in the same run:
unpaced ceilings with the trail logging and stopped, the same paced load with the trail
stopped, and a delivery history job that backfills what the trail missed (delivery alone),
after which every phase's events are checked exactly once. See bench/README.md.
"""

from __future__ import annotations

import argparse
import bisect
import calendar
import itertools
import math
import multiprocessing
import operator
import os
import queue
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from _events import DEFAULT_GEN_DIR, TimeWindow, load_generator_class, make_generator, owned
from _report import Row, lt, number, summary, table
from _servers import Credentials, real_server, start_server, stop
from _trail_phase import MemoryWatch
from trailhouse.client import RpcClient
from trailhouse.errors import RequestFailed
from trailhouse.settings import Settings
from trailhouse.warehouse.model import project_name, table_name

REGION = "cn-hangzhou"  # the server's default region: the trail's and the project's
TRAIL = "bench-delivery"
TARGET_LAG_P99_SECONDS = 5.0
# The load keeps the rate when it sends at least this share of it.
RATE_TOLERANCE = 0.99
MAIN, CEILING_ON, BASELINE, CEILING_OFF = "d", "c", "b", "n"  # event id letters of the phases


# When each step began (time.time(), the progress line), to tell where memory peaked.
MARKS: list[tuple[float, str]] = []


def say(message: str) -> None:
    """Progress on stderr, so stdout holds only the figures."""
    MARKS.append((time.time(), message))
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def arguments() -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=float, default=5000.0, help="events/s sent while logging")
    parser.add_argument("--seconds", type=float, default=60.0, help="seconds of paced load")
    parser.add_argument("--batch", type=int, default=100, help="events per PutEvents call")
    parser.add_argument("--procs", type=int, default=1, help="load processes")
    parser.add_argument("--threads", type=int, default=4, help="sending threads per process")
    parser.add_argument("--pool", type=int, default=100, help="distinct batches per process")
    parser.add_argument(
        "--baseline-seconds", type=float, default=20.0, help="paced load with the trail stopped"
    )
    parser.add_argument(
        "--ceiling-seconds", type=float, default=10.0, help="unpaced load, each way (0: none)"
    )
    parser.add_argument("--poll", type=float, default=0.1, help="GetTrailStatus every N s")
    parser.add_argument("--sql-every", type=float, default=10.0, help="one SQL-checked batch per")
    parser.add_argument("--drain-timeout", type=float, default=300.0)
    parser.add_argument("--quick", action="store_true", help="15 s of load, short baselines")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/trailhouse-bench-delivery"))
    parser.add_argument("--keep", action="store_true", help="keep the data directory")
    parser.add_argument("--port", type=int, default=18787)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--gen-dir", type=Path, default=DEFAULT_GEN_DIR)
    parsed = parser.parse_args()
    if parsed.quick:
        parsed.seconds = min(parsed.seconds, 15.0)
        parsed.baseline_seconds = min(parsed.baseline_seconds, 8.0)
        parsed.ceiling_seconds = min(parsed.ceiling_seconds, 4.0)
        parsed.sql_every = min(parsed.sql_every, 4.0)
    return parsed


# --- The load: forked processes, each with threads that keep a shared schedule --------------


@dataclass(frozen=True, slots=True)
class LoadPlan:
    """One phase of load: what to send, how fast, from how many senders."""

    endpoint: str
    credentials: Credentials
    run: str  # this benchmark run's event id prefix
    phase: str  # one letter; batch n's event ids start with f"{run}-{phase}{n}-"
    rate: float  # events/s over all processes; 0 sends as fast as the senders can
    seconds: float
    batch: int
    procs: int
    threads: int
    pool: int
    gen_dir: Path
    seed: int

    def interval(self) -> float:
        """Seconds between two batches' due times (0 when unpaced)."""
        return self.batch / self.rate if self.rate else 0.0

    def prefix(self, number: int) -> str:
        """The event id prefix of batch `number` (unique in the run; a LIKE pattern's stem)."""
        return f"{self.run}-{self.phase}{number}-"


@dataclass(frozen=True, slots=True)
class Sent:
    """One PutEvents call: its batch, when it returned (wall clock), and what it answered."""

    number: int
    prefix: str
    sent_at: float
    acked_at: float
    accepted: int
    failed: int
    error: str = ""

    @property
    def latency(self) -> float:
        """Seconds the call took."""
        return self.acked_at - self.sent_at


def build_pool(plan: LoadPlan, process: int) -> list[bytes]:
    """`plan.pool` serialised `{"Events": [...]}` bodies of recent events of the account."""
    window = TimeWindow.last_days(int(time.time()), 1.0)
    generator = make_generator(plan.gen_dir, plan.seed, window, stream=process + 1)
    events = owned(generator.batch(plan.pool * plan.batch), plan.credentials.account_id)
    return [
        orjson.dumps({"Events": events[start : start + plan.batch]})
        for start in range(0, len(events), plan.batch)
    ]


def send_batches(
    plan: LoadPlan,
    process: int,
    client: RpcClient,
    pool: list[bytes],
    start: float,
    counter: itertools.count[int],
    out: Any,
) -> None:
    """Send this process's batches as they fall due (batch n at start + n × interval).

    A sender that falls behind sends at once, so the schedule catches up; batches are numbered
    across processes (process p sends p, p + procs, ...), so their ids never collide.
    """
    interval, end = plan.interval(), start + plan.seconds
    for turn in counter:
        number = process + plan.procs * turn
        due = start + number * interval
        if (due if interval else time.time()) >= end:
            return
        if (wait := due - time.time()) > 0:
            time.sleep(wait)
        prefix = plan.prefix(number)
        body = pool[turn % len(pool)].replace(b'"eventId":"', f'"eventId":"{prefix}'.encode())
        sent_at = time.time()
        try:
            answer = client.call("PutEvents", body=orjson.Fragment(body))
        except RequestFailed as failure:
            out.put(("sent", Sent(number, prefix, sent_at, time.time(), 0, 0, str(failure)[:200])))
            continue
        failed = answer.get("Failed") or []
        error = str(failed[0])[:200] if failed else ""
        accepted = int(answer.get("Accepted", 0))
        out.put(("sent", Sent(number, prefix, sent_at, time.time(), accepted, len(failed), error)))


def load_process(plan: LoadPlan, process: int, out: Any, go: Any, start_at: Any) -> None:
    """A load process: build batches, say ready, wait for go, send with `plan.threads` threads."""
    pool = build_pool(plan, process)
    credentials = plan.credentials
    clients = [
        RpcClient(plan.endpoint, credentials.key_id, credentials.secret, timeout=120.0)
        for _ in range(plan.threads)
    ]
    out.put(("ready", process))
    go.wait()
    counter = itertools.count()  # next() on it is atomic: each turn goes to one thread
    threads = [
        threading.Thread(
            target=send_batches,
            args=(plan, process, client, pool, start_at.value, counter, out),
        )
        for client in clients
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for client in clients:
        client.close()
    out.put(("done", process))


class LoadRun:
    """One phase's load processes, with their calls collected (and visible) as they return."""

    def __init__(self, plan: LoadPlan) -> None:
        context = multiprocessing.get_context("fork")
        self.plan = plan
        self._out = context.Queue()
        self._go = context.Event()
        self._start_at = context.Value("d", 0.0)
        self._processes = [
            context.Process(
                target=load_process,
                args=(plan, number, self._out, self._go, self._start_at),
                daemon=True,
            )
            for number in range(plan.procs)
        ]
        self._lock = threading.Lock()
        self._sent: list[Sent] = []
        self._collector = threading.Thread(target=self._collect, daemon=True)
        self.start = 0.0

    def fork(self) -> None:
        """Start the processes (before the parent starts threads of its own)."""
        for process in self._processes:
            process.start()

    def go(self) -> float:
        """Wait until every process is ready, start them together; the schedule's start."""
        ready = 0
        while ready < len(self._processes):
            kind, _ = self._out.get(timeout=600)
            ready += kind == "ready"
        self.start = time.time() + 0.05
        self._start_at.value = self.start
        self._go.set()
        self._collector.start()
        return self.start

    def _collect(self) -> None:
        done = 0
        while done < len(self._processes):
            try:
                kind, item = self._out.get(timeout=1.0)
            except queue.Empty:
                if not any(process.is_alive() for process in self._processes):
                    return  # a process died without saying done: join() reports it
                continue
            if kind == "done":
                done += 1
            elif kind == "sent":
                with self._lock:
                    self._sent.append(item)

    def latest(self) -> Sent | None:
        """The most recently acknowledged successful call so far."""
        with self._lock:
            for sent in reversed(self._sent):
                if sent.accepted and not sent.error:
                    return sent
        return None

    def join(self) -> list[Sent]:
        """Wait for the end of the phase; every call, in ack order."""
        self._collector.join()
        for process in self._processes:
            process.join(timeout=60)
            if process.exitcode != 0:
                raise RuntimeError(f"a load process exited with {process.exitcode}")
        return sorted(self._sent, key=operator.attrgetter("acked_at"))


@dataclass(frozen=True, slots=True)
class LoadFigures:
    """What a phase's load achieved."""

    accepted: int
    failed: int
    errors: int
    unknown: int  # events of the calls that got no answer (maybe stored, maybe not)
    seconds: float
    p50_ms: float
    p99_ms: float
    error_samples: tuple[str, ...]

    @property
    def rate(self) -> float:
        """Accepted events per second."""
        return self.accepted / self.seconds if self.seconds else 0.0


def load_figures(sent: Sequence[Sent], start: float, plan: LoadPlan) -> LoadFigures:
    """A phase's figures: the rate is over the planned time, or longer if the sending was late."""
    latencies = sorted(call.latency for call in sent if not call.error or call.accepted)
    last = max((call.acked_at for call in sent), default=start)
    errors = sum(1 for call in sent if call.error and not call.accepted and not call.failed)
    return LoadFigures(
        accepted=sum(call.accepted for call in sent),
        failed=sum(call.failed for call in sent),
        errors=errors,
        unknown=errors * plan.batch,
        seconds=max(plan.seconds, last - start),
        p50_ms=percentile(latencies, 0.5) * 1000,
        p99_ms=percentile(latencies, 0.99) * 1000,
        error_samples=tuple(dict.fromkeys(call.error for call in sent if call.error))[:3],
    )


def percentile(values: Sequence[float], share: float) -> float:
    """The `share` quantile of sorted `values` (nearest rank; 0 for none)."""
    if not values:
        return 0.0
    return values[min(len(values) - 1, math.ceil(share * len(values)) - 1)]


# --- Watching the server: GetTrailStatus and its CPU time -------------------------------------


@dataclass(frozen=True, slots=True)
class Observation:
    """One GetTrailStatus answer and the server's CPU seconds, at `at` (after it returned)."""

    at: float
    watermark_ms: int
    backlog: int
    delivered: int
    p50_ms: int
    p99_ms: int
    max_ms: int
    cpu_seconds: float


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process (all its threads) has used."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def parse_millis(text: str) -> int:
    """DeliveredUpTo (`2025-01-02T03:04:05.678Z`) as epoch milliseconds; 0 when empty."""
    if not text:
        return 0
    seconds, _, millis = text.rstrip("Z").partition(".")
    epoch = calendar.timegm(time.strptime(seconds, "%Y-%m-%dT%H:%M:%S"))
    return epoch * 1000 + int(millis.ljust(3, "0")[:3] or 0)


class Monitor:
    """Polls GetTrailStatus every `every` seconds in a thread and keeps every answer."""

    def __init__(self, client: RpcClient, pid: int, every: float) -> None:
        self._client = client
        self._pid = pid
        self._every = every
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.observations: list[Observation] = []
        self.errors = 0
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        """Begin polling."""
        self._thread.start()

    def stop(self) -> list[Observation]:
        """Stop polling; every observation, in time order."""
        self._stop.set()
        self._thread.join()
        return list(self.observations)

    def watermark_ms(self) -> int:
        """The latest DeliveredUpTo seen so far."""
        with self._lock:
            return self.observations[-1].watermark_ms if self.observations else 0

    def wait_for(self, check: Callable[[Observation], bool], timeout: float) -> bool:
        """Wait until an observation passes `check`; False on timeout."""
        give_up = time.time() + timeout
        while time.time() < give_up:
            with self._lock:
                latest = self.observations[-1] if self.observations else None
            if latest is not None and check(latest):
                return True
            time.sleep(self._every)
        return False

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                status = self._client.call("GetTrailStatus", {"Name": TRAIL})
            except RequestFailed:
                self.errors += 1
            else:
                observation = Observation(
                    at=time.time(),
                    watermark_ms=parse_millis(str(status.get("DeliveredUpTo") or "")),
                    backlog=int(status.get("DeliveryBacklog", 0)),
                    delivered=int(status.get("DeliveredEvents", 0)),
                    p50_ms=int(status.get("DeliveryLagP50Ms", 0)),
                    p99_ms=int(status.get("DeliveryLagP99Ms", 0)),
                    max_ms=int(status.get("DeliveryLagMaxMs", 0)),
                    cpu_seconds=cpu_seconds(self._pid),
                )
                with self._lock:
                    self.observations.append(observation)
            self._stop.wait(self._every)


def watermark_lags(sent: Sequence[Sent], observations: Sequence[Observation]) -> list[float]:
    """For each accepted batch: seconds from its ack to the first observation whose watermark
    had passed the ack (an upper bound, late by at most one poll). Batches never passed are
    left out (see `undelivered`)."""
    times = [o.at for o in observations]
    reached = list(itertools.accumulate((o.watermark_ms for o in observations), max))
    lags = []
    for call in sent:
        if not call.accepted:
            continue
        index = bisect.bisect_left(reached, int(call.acked_at * 1000))
        if index < len(reached):
            lags.append(times[index] - call.acked_at)
    return sorted(lags)


def watermark_went_back(observations: Sequence[Observation]) -> int:
    """How many times DeliveredUpTo was seen lower than before (it should only grow)."""
    return sum(1 for a, b in itertools.pairwise(observations) if b.watermark_ms < a.watermark_ms)


# --- SQL --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SqlAnswer:
    """A SQL job's rows and when it was submitted and answered (wall clock)."""

    rows: list[list[Any]]
    submitted_at: float
    answered_at: float


def run_sql(client: RpcClient, project: str, sql: str, timeout: float = 300.0) -> SqlAnswer:
    """Run one SQL job through SubmitSqlJob / GetSqlJob / GetSqlJobResult."""
    submitted_at = time.time()
    job_id = client.call("SubmitSqlJob", {"Project": project, "Sql": sql})["JobId"]
    give_up = submitted_at + timeout
    while True:
        job = client.call("GetSqlJob", {"JobId": job_id})["Job"]
        if job["Status"] in {"Terminated", "Failed", "Cancelled"}:
            break
        if time.time() > give_up:
            raise RuntimeError(f"SQL job {job_id} still {job['Status']} after {timeout:.0f} s")
        time.sleep(0.02)
    if job["Status"] != "Terminated":
        raise RuntimeError(f"SQL job {job_id} {job['Status']}: {job.get('ErrorMessage')}")
    rows: list[list[Any]] = []
    offset: int | None = 0
    while offset is not None:
        page = client.call(
            "GetSqlJobResult", {"JobId": job_id, "Offset": str(offset), "MaxResults": "10000"}
        )
        rows.extend(page["Rows"])
        offset = page["NextOffset"]
    return SqlAnswer(rows, submitted_at, time.time())


def count_sql(table_ref: str, prefix: str) -> str:
    """Rows and distinct event ids whose id starts with `prefix` (letters, digits, '-')."""
    return (
        f"SELECT COUNT(*), COUNT(DISTINCT event_id) FROM {table_ref} "
        f"WHERE event_id LIKE '{prefix}%'"
    )


@dataclass
class SqlProbe:
    """One batch followed by SQL until all its events show."""

    prefix: str
    acked_at: float
    expected: int
    queries: int = 0
    query_seconds: list[float] = field(default_factory=list)
    submitted_at: float | None = None  # the first job that saw every event
    answered_at: float | None = None
    broken_promises: int = 0  # jobs that missed events the watermark said were in


class SqlProber:
    """Every `every` seconds during the load, follows the latest acknowledged batch by SQL."""

    def __init__(
        self, client: RpcClient, project: str, load: LoadRun, monitor: Monitor, every: float
    ) -> None:
        self._client = client
        self._project = project
        self._load = load
        self._monitor = monitor
        self._every = every
        self._stop = threading.Event()
        self.probes: list[SqlProbe] = []
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        """Begin probing."""
        self._thread.start()

    def finish(self) -> list[SqlProbe]:
        """Take no new batch; let the one being followed show; every probe."""
        self._stop.set()
        self._thread.join()
        return self.probes

    def _run(self) -> None:
        while not self._stop.wait(self._every):
            latest = self._load.latest()
            if latest is not None:
                probe = SqlProbe(latest.prefix, latest.acked_at, latest.accepted)
                self.probes.append(probe)
                self._follow(probe)

    def _follow(self, probe: SqlProbe, timeout: float = 300.0) -> None:
        sql = count_sql(f"{self._project}.{table_name(TRAIL)}", probe.prefix)
        give_up = time.time() + timeout
        while time.time() < give_up:
            promised = self._monitor.watermark_ms() >= int(probe.acked_at * 1000)
            answer = run_sql(self._client, self._project, sql)
            probe.queries += 1
            probe.query_seconds.append(answer.answered_at - answer.submitted_at)
            if answer.rows[0][0] >= probe.expected:
                probe.submitted_at, probe.answered_at = answer.submitted_at, answer.answered_at
                return
            probe.broken_promises += promised
            time.sleep(0.1)


class SqlLoad:
    """`count` SQL jobs spread evenly over `seconds` (the baseline's share of the probes' cost)."""

    def __init__(
        self, client: RpcClient, project: str, prefix: str, count: int, seconds: float
    ) -> None:
        self._client = client
        self._sql = count_sql(f"{project}.{table_name(TRAIL)}", prefix)
        self._project = project
        self._gap = seconds / count if count else 0.0
        self._count = count
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        """Begin the queries."""
        self._thread.start()

    def join(self) -> None:
        """Wait for the last query."""
        self._thread.join()

    def _run(self) -> None:
        begun = time.time()
        for turn in range(self._count):
            if (wait := begun + turn * self._gap - time.time()) > 0:
                time.sleep(wait)
            run_sql(self._client, self._project, self._sql)


# --- Setting up ---------------------------------------------------------------------------


def create_account(data_dir: Path) -> Credentials:
    """A new account, made with `trailhouse account create` (before the server starts)."""
    done = subprocess.run(
        [sys.executable, "-m", "trailhouse", "account", "create", "--data-dir", str(data_dir)],
        capture_output=True,
        check=True,
        timeout=120,
    )
    made = orjson.loads(done.stdout)
    return Credentials(made["AccountId"], made["AccessKeyId"], made["AccessKeySecret"])


def create_trail(client: RpcClient, account_id: str) -> None:
    """The benchmark's trail: every event of the account, into the account's project."""
    arn = f"acs:odps:{REGION}:{account_id}:project/{project_name(account_id)}"
    client.call("CreateTrail", {"Name": TRAIL, "EventRW": "All", "MaxComputeProjectArn": arn})


def table_files(data_dir: Path) -> tuple[int, int]:
    """Parquet files and their bytes in the warehouse (the trail's table is the only one)."""
    root = Settings.load({"data_dir": data_dir}, environ={}).warehouse_path
    sizes = [
        path.stat().st_size for path in root.rglob("*.parquet") if "_staging" not in path.parts
    ]
    return len(sizes), sum(sizes)


# --- Phases -----------------------------------------------------------------------------------


@dataclass
class Phase:
    """A finished phase: its calls, figures, and the server CPU it cost."""

    name: str
    sent: list[Sent]
    figures: LoadFigures
    start: float
    cpu_seconds: float

    @property
    def cpu_ms_per_thousand(self) -> float:
        """Server CPU milliseconds per 1,000 accepted events."""
        if not self.figures.accepted:
            return 0.0
        return self.cpu_seconds * 1e6 / self.figures.accepted


def plan_for(args: argparse.Namespace, credentials: Credentials, run: str, phase: str) -> LoadPlan:
    """The load plan of one phase (`rate` 0 for the unpaced ceilings)."""
    paced = phase in {MAIN, BASELINE}
    seconds = {MAIN: args.seconds, BASELINE: args.baseline_seconds}.get(phase, args.ceiling_seconds)
    return LoadPlan(
        endpoint=f"http://127.0.0.1:{args.port}",
        credentials=credentials,
        run=run,
        phase=phase,
        rate=args.rate if paced else 0.0,
        seconds=seconds,
        batch=args.batch,
        procs=args.procs,
        threads=args.threads,
        pool=args.pool,
        gen_dir=args.gen_dir,
        seed=args.seed,
    )


def describe(phase: Phase) -> None:
    """Print one phase's load figures."""
    figures = phase.figures
    print(
        f"{phase.name}: {figures.rate:,.0f} events/s accepted ({figures.accepted:,} events in "
        f"{figures.seconds:.1f} s, {figures.failed} failed, {figures.errors} request errors), "
        f"PutEvents p50 {figures.p50_ms:.1f} ms, p99 {figures.p99_ms:.1f} ms, server CPU "
        f"{phase.cpu_seconds:.1f} s = {phase.cpu_ms_per_thousand:.1f} ms per 1,000 events"
    )
    for sample in figures.error_samples:
        print(f"  error: {sample}")


def unpaced_phase(name: str, plan: LoadPlan, pid: int) -> Phase:
    """A ceiling: the same senders as fast as they go; nothing else runs meanwhile."""
    load = LoadRun(plan)
    load.fork()
    start = load.go()
    cpu_before = cpu_seconds(pid)
    sent = load.join()
    cpu = cpu_seconds(pid) - cpu_before
    return Phase(name, sent, load_figures(sent, start, plan), start, cpu)


# --- The report ---------------------------------------------------------------------------


def series_table(
    sent: Sequence[Sent], observations: Sequence[Observation], start: float, end: float
) -> str:
    """Second by second: events acknowledged, backlog and watermark age (at the second's end
    and the most seen within it: delivery flushes about once a second, so the end alone
    aliases), the server's own lag figures, and the server's CPU."""
    times = [o.at for o in observations]
    acked = [call.acked_at for call in sent if call.accepted]
    counts = list(itertools.accumulate(call.accepted for call in sent if call.accepted))
    rows = []
    previous: Observation | None = None
    for second in range(math.ceil(end - start)):
        edge = start + second + 1
        within = observations[bisect.bisect_left(times, edge - 1) : bisect.bisect_left(times, edge)]
        if not within:
            continue
        seen = within[-1]
        low, high = bisect.bisect_left(acked, edge - 1), bisect.bisect_left(acked, edge)
        acked_events = (counts[high - 1] if high else 0) - (counts[low - 1] if low else 0)
        ages = [o.at - o.watermark_ms / 1000 for o in within if o.watermark_ms]
        cpu = "-"
        if previous is not None and seen.at > previous.at:
            cpu = f"{(seen.cpu_seconds - previous.cpu_seconds) / (seen.at - previous.at):.0%}"
        rows.append(
            [
                str(second + 1),
                f"{acked_events:,}",
                f"{seen.backlog:,}",
                f"{max(o.backlog for o in within):,}",
                f"{ages[-1]:.2f}" if ages else "-",
                f"{max(ages):.2f}" if ages else "-",
                f"{seen.p50_ms:,}",
                f"{seen.p99_ms:,}",
                cpu,
            ]
        )
        previous = seen
    headers = (
        "t s",
        "acked",
        "backlog",
        "max",
        "watermark age s",
        "max",
        "srv p50 ms",
        "srv p99 ms",
        "CPU",
    )
    return table(headers, rows)


def probe_table(probes: Sequence[SqlProbe], lags_by_prefix: dict[str, float]) -> str:
    """The SQL-followed batches: when SQL first saw them all, beside the watermark's answer."""
    rows = []
    for probe in probes:
        submitted = since(probe.submitted_at, probe.acked_at)
        answered = since(probe.answered_at, probe.acked_at)
        watermark = lags_by_prefix.get(probe.prefix)
        rows.append(
            [
                probe.prefix,
                str(probe.expected),
                "never" if submitted is None else f"{submitted:.2f}",
                "never" if answered is None else f"{answered:.2f}",
                "-" if watermark is None else f"{watermark:.2f}",
                str(probe.queries),
                f"{statistics.median(probe.query_seconds) * 1000:.0f}" if probe.queries else "-",
                str(probe.broken_promises),
            ]
        )
    headers = (
        "batch",
        "events",
        "SQL saw all: job submitted s",
        "answered s",
        "watermark s",
        "jobs",
        "job ms",
        "missed after watermark",
    )
    return table(headers, rows)


def since(moment: float | None, origin: float) -> float | None:
    """`moment - origin`, or None when there is no moment."""
    return None if moment is None else moment - origin


def lag_by_prefix(sent: Sequence[Sent], observations: Sequence[Observation]) -> dict[str, float]:
    """Each accepted batch's watermark lag, by its id prefix."""
    out = {}
    for call in sent:
        lags = watermark_lags([call], observations)
        if lags:
            out[call.prefix] = lags[0]
    return out


# --- Main ---------------------------------------------------------------------------------


@dataclass
class MainResult:
    """The logging phase and everything seen while it ran and drained."""

    phase: Phase
    observations: list[Observation]
    probes: list[SqlProbe]
    drained: bool
    drained_at: float
    sql_queries: int


def main_phase(
    args: argparse.Namespace, plan: LoadPlan, client: RpcClient, pid: int, project: str
) -> MainResult:
    """The paced load into the logging trail, watched by GetTrailStatus and SQL, then drained."""
    load = LoadRun(plan)
    load.fork()
    monitor = Monitor(client, pid, args.poll)
    sql_client = RpcClient(plan.endpoint, plan.credentials.key_id, plan.credentials.secret)
    prober = SqlProber(sql_client, project, load, monitor, args.sql_every)
    monitor.start()
    start = load.go()
    cpu_before = cpu_seconds(pid)
    prober.start()
    say(f"paced load: {args.rate:,.0f} events/s for {args.seconds:.0f} s")
    sent = load.join()
    last_ack = max((call.acked_at for call in sent if call.accepted), default=start)
    say("load done; waiting until DeliveredUpTo passes the last accepted batch")
    drained = monitor.wait_for(
        lambda seen: seen.watermark_ms >= int(last_ack * 1000), args.drain_timeout
    )
    drained_at = time.time()
    cpu = cpu_seconds(pid) - cpu_before
    probes = prober.finish()
    time.sleep(1.0)  # a second of the quiet after, for the series
    observations = monitor.stop()
    sql_client.close()
    phase = Phase(
        "PutEvents, trail logging (paced)",
        sent,
        load_figures(sent, start, plan),
        start,
        cpu,
    )
    queries = sum(probe.queries for probe in probes)
    return MainResult(phase, observations, probes, drained, drained_at, queries)


def baseline_phase(
    args: argparse.Namespace,
    plan: LoadPlan,
    client: RpcClient,
    pid: int,
    project: str,
    sql: tuple[str, int],
) -> Phase:
    """The same paced load with the trail stopped, with the same polling and SQL jobs beside."""
    load = LoadRun(plan)
    load.fork()
    monitor = Monitor(client, pid, args.poll)
    sql_client = RpcClient(plan.endpoint, plan.credentials.key_id, plan.credentials.secret)
    prefix, count = sql
    queries = SqlLoad(sql_client, project, prefix, count, plan.seconds)
    monitor.start()
    start = load.go()
    cpu_before = cpu_seconds(pid)
    queries.start()
    sent = load.join()
    queries.join()
    cpu = cpu_seconds(pid) - cpu_before
    monitor.stop()
    sql_client.close()
    figures = load_figures(sent, start, plan)
    return Phase("PutEvents, trail stopped (paced baseline)", sent, figures, start, cpu)


@dataclass(frozen=True, slots=True)
class Backfill:
    """A delivery history job over what the trail missed while stopped, run with no load."""

    status: int
    delivered: int
    seconds: float
    error: str

    @property
    def rate(self) -> float:
        """Events delivered per second."""
        return self.delivered / self.seconds if self.seconds else 0.0


def backfill_phase(client: RpcClient, timeout: float) -> Backfill:
    """StartLogging again (a new session, from the log's end), then CreateDeliveryHistoryJob,
    polled until it completes: delivery's own pace, the API otherwise idle.

    The job covers the log up to where the new session began and skips what the trail has
    covered, so it delivers the stopped phases' events (and the tail of the logging ceiling
    that StopLogging cut off) and nothing twice.
    """
    client.call("StartLogging", {"Name": TRAIL})
    started = time.time()
    job_id = client.call("CreateDeliveryHistoryJob", {"TrailName": TRAIL})["JobId"]
    give_up = started + timeout
    while True:
        job = client.call("GetDeliveryHistoryJob", {"JobId": str(job_id)})
        if job["JobStatus"] in {2, 3} or time.time() > give_up:
            break
        time.sleep(0.1)
    return Backfill(
        status=int(job["JobStatus"]),
        delivered=int(job.get("DeliveredEvents", 0)),
        seconds=time.time() - started,
        error=str(job.get("ErrorMessage") or ""),
    )


def peak_memory_mb(pid: int) -> float:
    """The process's peak resident memory (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


@dataclass(frozen=True, slots=True)
class OnceCheck:
    """One phase's events in the table, counted by SQL, against what PutEvents accepted."""

    name: str
    accepted: int
    unknown: int  # events of calls that failed without an answer: stored or not
    rows: int
    distinct: int
    seconds: float

    @property
    def held(self) -> bool:
        """Every accepted event is in the table exactly once (and nothing else is)."""
        return (
            self.rows == self.distinct
            and self.accepted <= self.rows <= self.accepted + self.unknown
        )


def exactly_once(
    client: RpcClient, project: str, run: str, phase: str, name: str, load: Phase
) -> OnceCheck:
    """COUNT(*) and COUNT(DISTINCT event_id) of one phase's events (their ids name the run and
    the phase), against the number PutEvents accepted."""
    stem = f"{run}-{phase}"
    answer = run_sql(client, project, count_sql(f"{project}.{table_name(TRAIL)}", stem))
    rows, distinct = int(answer.rows[0][0]), int(answer.rows[0][1])
    took = answer.answered_at - answer.submitted_at
    figures = load.figures
    return OnceCheck(name, figures.accepted, figures.unknown, rows, distinct, took)


def once_table(checks: Sequence[OnceCheck]) -> str:
    """The exactly-once checks as a table."""
    rows = [
        [
            check.name,
            f"{check.accepted:,}",
            f"{check.unknown:,}",
            f"{check.rows:,}",
            f"{check.distinct:,}",
            f"{check.seconds:.2f}",
            "yes" if check.held else "NO",
        ]
        for check in checks
    ]
    headers = ("events of", "accepted", "unknown", "rows", "distinct ids", "SQL s", "exactly once")
    return table(headers, rows)


def report_main(result: MainResult, args: argparse.Namespace) -> dict[str, float | None]:
    """Print the logging phase's detail: the series, the SQL probes, the lag figures."""
    phase, seen = result.phase, result.observations
    lags = watermark_lags(phase.sent, seen)
    accepted_batches = sum(1 for call in phase.sent if call.accepted)
    print()
    print("Every second of the logging phase (as GetTrailStatus said at the end of that second):")
    end = result.drained_at + 1.0
    print(series_table(phase.sent, seen, phase.start, end))
    print()
    print(f"SQL-followed batches (one every {args.sql_every:g} s; times from the PutEvents ack):")
    print(probe_table(result.probes, lag_by_prefix(phase.sent, seen)))
    final = seen[-1] if seen else None
    figures: dict[str, float | None] = {
        "lag_p50": percentile(lags, 0.5) if lags else None,
        "lag_p99": percentile(lags, 0.99) if lags else None,
        "lag_max": lags[-1] if lags else None,
        "server_p50": final.p50_ms / 1000 if final else None,
        "server_p99": final.p99_ms / 1000 if final else None,
        "server_max": final.max_ms / 1000 if final else None,
        "backlog_max": float(max((o.backlog for o in seen), default=0)),
        "sql_max": max(
            (p.answered_at - p.acked_at for p in result.probes if p.answered_at is not None),
            default=None,
        ),
    }
    print()
    print(
        f"accepted → visible (DeliveredUpTo polled every {args.poll:g} s, {len(lags):,} of "
        f"{accepted_batches:,} batches): p50 {number(figures['lag_p50'], 's')}, "
        f"p99 {number(figures['lag_p99'], 's')}, max {number(figures['lag_max'], 's')}"
    )
    print(
        f"the server's own figures at the end (last 5 min, commit time − accept time): "
        f"p50 {number(figures['server_p50'], 's')}, p99 {number(figures['server_p99'], 's')}, "
        f"max {number(figures['server_max'], 's')}"
    )
    intervals = [b.at - a.at for a, b in itertools.pairwise(seen)]
    print(
        f"{len(seen):,} GetTrailStatus answers, every {statistics.median(intervals):.3f} s "
        f"(median); the largest gap {max(intervals, default=0):.2f} s; "
        f"DeliveredUpTo went back {watermark_went_back(seen)} times"
        if intervals
        else "no GetTrailStatus answers"
    )
    if not result.drained:
        print(f"NOT DRAINED: DeliveredUpTo missed the last batch for {args.drain_timeout:g} s")
    broken = sum(probe.broken_promises for probe in result.probes)
    if broken:
        print(f"WATERMARK BROKEN: {broken} SQL jobs missed events accepted before DeliveredUpTo")
    return figures


@dataclass
class Results:
    """Every phase's outcome, for the report."""

    main: MainResult
    checks: list[OnceCheck]
    files: tuple[int, int]
    baseline: Phase
    ceiling_on: Phase | None = None
    ceiling_off: Phase | None = None
    backfill: Backfill | None = None
    peak_mb: float = 0.0


def run(args: argparse.Namespace) -> int:
    """Every phase in order, then the report; 0 when every exactly-once check held."""
    workdir: Path = args.workdir
    data_dir = workdir / "data"
    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True)
    load_generator_class(args.gen_dir)  # imported before any fork
    credentials = create_account(data_dir)
    endpoint = f"http://127.0.0.1:{args.port}"
    say(f"starting trailhouse serve on {endpoint} ({data_dir})")
    server = start_server(real_server(data_dir, args.port), args.port, workdir / "server.log")
    client = RpcClient(endpoint, credentials.key_id, credentials.secret, timeout=120.0)
    watch = MemoryWatch(server.pid)
    try:
        results = run_phases(args, client, credentials, server.pid, data_dir)
    finally:
        watch.stop()
        client.close()
        stop(server)
    report(args, results)
    print("server memory, highest sample (every 0.1 s) in each step: resident, anonymous")
    for name, rss, anonymous in watch.peaks(MARKS):
        print(f"  {rss:7,.0f} MB {anonymous:7,.0f} MB  {name}")
    if not args.keep:
        shutil.rmtree(data_dir, ignore_errors=True)
    return 0 if all(check.held for check in results.checks) else 1


def run_phases(
    args: argparse.Namespace, client: RpcClient, credentials: Credentials, pid: int, data_dir: Path
) -> Results:
    """The logging phase and its exactly-once check, the baselines, then the backfill and the
    exactly-once check of every phase."""
    project = project_name(credentials.account_id)
    run_id = format(time.time_ns() // 1_000_000, "x")
    create_trail(client, credentials.account_id)
    client.call("StartLogging", {"Name": TRAIL})
    main = main_phase(args, plan_for(args, credentials, run_id, MAIN), client, pid, project)
    say("exactly-once check by SQL")
    main_name = "logging phase, drained"
    checks = [exactly_once(client, project, run_id, MAIN, main_name, main.phase)]
    files = table_files(data_dir)
    ceiling_on = ceiling_off = None
    if args.ceiling_seconds > 0:
        say(f"unpaced ceiling, trail logging: {args.ceiling_seconds:g} s")
        plan = plan_for(args, credentials, run_id, CEILING_ON)
        ceiling_on = unpaced_phase("PutEvents, trail logging (unpaced)", plan, pid)
    client.call("StopLogging", {"Name": TRAIL})
    time.sleep(2.0)  # the batch in progress, if any, commits
    say(f"paced baseline, trail stopped: {args.baseline_seconds:g} s")
    sql_share = round(main.sql_queries * args.baseline_seconds / args.seconds)
    probe_prefix = main.probes[0].prefix if main.probes else f"{run_id}-{MAIN}0-"
    baseline_plan = plan_for(args, credentials, run_id, BASELINE)
    baseline = baseline_phase(args, baseline_plan, client, pid, project, (probe_prefix, sql_share))
    if args.ceiling_seconds > 0:
        say(f"unpaced ceiling, trail stopped: {args.ceiling_seconds:g} s")
        plan = plan_for(args, credentials, run_id, CEILING_OFF)
        ceiling_off = unpaced_phase("PutEvents, trail stopped (unpaced)", plan, pid)
    say("StartLogging again and a delivery history job over what the trail missed")
    backfill = backfill_phase(client, args.drain_timeout)
    if backfill.status == 2:
        say("exactly-once check of every phase by SQL")
        phases = [
            (MAIN, "logging phase, after the backfill", main.phase),
            (BASELINE, "baseline (backfilled)", baseline),
        ]
        if ceiling_on is not None and ceiling_off is not None:
            phases += [
                (CEILING_ON, "logging ceiling (tail backfilled)", ceiling_on),
                (CEILING_OFF, "stopped ceiling (backfilled)", ceiling_off),
            ]
        checks += [
            exactly_once(client, project, run_id, letter, name, phase)
            for letter, name, phase in phases
        ]
    return Results(
        main, checks, files, baseline, ceiling_on, ceiling_off, backfill, peak_memory_mb(pid)
    )


def report(args: argparse.Namespace, results: Results) -> None:
    """Print every phase's figures, the logging phase's detail, and the summary."""
    print(
        f"Delivery benchmark: {args.rate:,.0f} events/s for {args.seconds:g} s in batches of "
        f"{args.batch} ({args.procs} process(es) × {args.threads} threads), trail {TRAIL}, "
        "default delivery settings"
    )
    print()
    phases = (results.main.phase, results.baseline, results.ceiling_on, results.ceiling_off)
    for phase in phases:
        if phase is not None:
            describe(phase)
    figures = report_main(results.main, args)
    files, stored = results.files
    print(
        f"table after the logging phase: {files:,} Parquet files, {stored / 1e6:.1f} MB "
        f"({stored / max(1, files) / 1e3:.0f} kB per file)"
    )
    backfill = results.backfill
    if backfill is not None:
        print(
            f"delivery history job after the stopped phases: status {backfill.status}, "
            f"{backfill.delivered:,} events in {backfill.seconds:.1f} s = "
            f"{backfill.rate:,.0f} events/s {backfill.error}"
        )
    print(f"server peak resident memory: {results.peak_mb:,.0f} MB")
    print()
    print(once_table(results.checks))
    print()
    print(summary(summary_rows(args, results, figures)))


def summary_rows(
    args: argparse.Namespace, results: Results, figures: dict[str, float | None]
) -> list[Row]:
    """The summary: each figure beside its same-run baseline and target."""
    main, baseline = results.main, results.baseline
    paced, base = main.phase.figures, baseline.figures
    rows = [
        Row("PutEvents events/s, paced, logging", paced.rate, "/s", base.rate, "trail stopped",
            args.rate * RATE_TOLERANCE),
        Row("PutEvents p50, paced, logging", paced.p50_ms, "ms", base.p50_ms, "trail stopped"),
        Row("PutEvents p99, paced, logging", paced.p99_ms, "ms", base.p99_ms, "trail stopped"),
        Row("server CPU per 1,000 events", main.phase.cpu_ms_per_thousand, "ms",
            baseline.cpu_ms_per_thousand, "trail stopped"),
        Row("accepted → visible p50", figures["lag_p50"], "s", figures["server_p50"],
            "server's"),
        Row("accepted → visible p99", figures["lag_p99"], "s", figures["server_p99"],
            "server's", TARGET_LAG_P99_SECONDS, lt),
        Row("accepted → visible max", figures["lag_max"], "s", figures["server_max"],
            "server's"),
        Row("accepted → SQL saw it, worst probe", figures["sql_max"], "s"),
        Row("DeliveryBacklog, largest seen", figures["backlog_max"], "events"),
    ]  # fmt: skip
    if results.ceiling_on is not None and results.ceiling_off is not None:
        rows.append(
            Row(
                "PutEvents events/s, unpaced, logging",
                results.ceiling_on.figures.rate,
                "/s",
                results.ceiling_off.figures.rate,
                "trail stopped",
            )
        )
    if results.backfill is not None:
        rows.append(
            Row(
                "delivery alone (history job), events/s",
                results.backfill.rate,
                "/s",
                args.rate,
                "--rate",
            )
        )
    return rows


def main() -> int:
    """Run the benchmark."""
    return run(arguments())


if __name__ == "__main__":
    raise SystemExit(main())
