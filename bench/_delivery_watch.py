"""What the delivery benchmark watches while it loads: GetTrailStatus and the server's CPU,
and SQL jobs that confirm what the watermark promises."""

from __future__ import annotations

import bisect
import calendar
import itertools
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _delivery_load import TRAIL, LoadRun, Sent
from trailhouse.client import RpcClient
from trailhouse.errors import RequestFailed
from trailhouse.warehouse.model import table_name

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
