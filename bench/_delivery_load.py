"""The delivery benchmark's load: forked processes whose threads keep one schedule of
PutEvents calls, and what each phase of load achieved."""

from __future__ import annotations

import itertools
import math
import multiprocessing
import operator
import queue
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from _events import TimeWindow, make_generator, owned
from _servers import Credentials
from trailhouse.client import RpcClient
from trailhouse.errors import RequestFailed

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
