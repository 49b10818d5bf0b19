"""What `ingest_lookup.py --trail` and `--profile` add: a trail logging into the warehouse while
PutEvents runs, the sampled server, and the server's memory."""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _servers import BENCH_DIR, python
from trailhouse.client import RpcClient
from trailhouse.errors import RequestFailed
from trailhouse.warehouse.model import project_name

TRAIL = "bench-ingest"
REGION = "cn-hangzhou"  # the server's default region
_SETTLED = 5.0  # seconds without a delivery after StopLogging: delivered


def sampled_server(data_dir: Path, port: int, out: Path) -> list[str]:
    """`trailhouse serve` with the stack sampler inside (`_sampled_server.py`)."""
    script = str(BENCH_DIR / "_sampled_server.py")
    serve = ["serve", "--data-dir", str(data_dir), "--port", str(port)]
    return [python(), script, str(out), *serve]


def profile_window(process: subprocess.Popen[Any] | None, start: bool) -> None:
    """Open (or close and write) a sampling window in a sampled server."""
    if process is not None:
        process.send_signal(signal.SIGUSR1 if start else signal.SIGUSR2)
        time.sleep(0.5)  # the report is written by the server's main thread


def start_trail(client: RpcClient, account_id: str) -> None:
    """A trail of every event of the account into its project, logging (made once)."""
    arn = f"acs:odps:{REGION}:{account_id}:project/{project_name(account_id)}"
    try:
        client.call("CreateTrail", {"Name": TRAIL, "EventRW": "All", "MaxComputeProjectArn": arn})
    except RequestFailed as failed:
        if "AlreadyExists" not in failed.code:  # a --reuse run made it before
            raise
    client.call("StartLogging", {"Name": TRAIL})


def stop_trail(client: RpcClient, timeout: float) -> tuple[int, float | None]:
    """StopLogging, then wait until the trail delivered what it logged: its checkpoint has not
    moved for `_SETTLED` seconds. Returns the backlog when stopped and the seconds until the
    checkpoint last moved (None: still moving after `timeout`). Neither the backlog (a stopped
    trail counts what was accepted after it stopped: trailhouse's own audit events) nor the
    watermark (it stays at the last batch's read) says when it is done."""
    client.call("StopLogging", {"Name": TRAIL})
    status = client.call("GetTrailStatus", {"Name": TRAIL})
    first = int(status.get("DeliveryBacklog", 0))
    begun = moved = time.monotonic()
    checkpoint = status.get("DeliveryCheckpoint")
    while time.monotonic() - begun < timeout:
        time.sleep(0.5)
        status = client.call("GetTrailStatus", {"Name": TRAIL})
        if status.get("DeliveryCheckpoint") != checkpoint:
            checkpoint, moved = status.get("DeliveryCheckpoint"), time.monotonic()
        elif time.monotonic() - moved >= _SETTLED:
            return first, moved - begun
    return first, None


def memory_mb(pid: int) -> tuple[float, float, float, float]:
    """The process's resident memory now, at its peak, and now split into anonymous memory (its
    own) and mapped file pages (SQLite's mmap of the day files: page cache, shared with the
    kernel and reclaimable), in MB: VmRSS, VmHWM, RssAnon, RssFile."""
    found = {"VmRSS:": 0.0, "VmHWM:": 0.0, "RssAnon:": 0.0, "RssFile:": 0.0}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key = line.split(maxsplit=1)[0] if line else ""
        if key in found:
            found[key] = int(line.split()[1]) / 1024
    return found["VmRSS:"], found["VmHWM:"], found["RssAnon:"], found["RssFile:"]


def pss_mb(pid: int) -> float:
    """The process's proportional set size in MB (`Pss:` of /proc/<pid>/smaps_rollup): its
    resident pages, each page shared with other processes counted as its share. Summed over
    processes it counts the libraries' code they all map once, where resident memory counts it
    in each."""
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) / 1024
    return 0.0


def children(pid: int) -> list[int]:
    """The process's children (the file encoder's and the evaluator's helper processes)."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            found += [int(child) for child in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


@dataclass(frozen=True, slots=True)
class Sample:
    """The memory of a server and its helper processes at one moment, in MB."""

    at: float  # time.time()
    rss: float  # the server's resident memory
    anonymous: float  # of which its own (not file pages)
    helpers: float  # the helpers' resident memory, summed
    helpers_anonymous: float  # of which their own (not the library files the server maps too)
    pss: float  # server and helpers' proportional set sizes, summed

    @property
    def together(self) -> float:
        """Resident memory of the server and its helpers, summed."""
        return self.rss + self.helpers

    @property
    def tree(self) -> float:
        """The server's resident memory and its helpers' anonymous memory: each page of the
        process tree once (a helper's file pages are the libraries the server maps), whatever
        else runs on the machine."""
        return self.rss + self.helpers_anonymous


@dataclass(frozen=True, slots=True)
class Peaks:
    """The highest of each figure over some samples (each alone: they need not coincide)."""

    rss: float
    anonymous: float
    helpers: float
    together: float
    tree: float
    pss: float

    @classmethod
    def of(cls, samples: list[Sample]) -> Peaks:
        """The peaks of these samples (not empty)."""
        return cls(
            rss=max(s.rss for s in samples),
            anonymous=max(s.anonymous for s in samples),
            helpers=max(s.helpers for s in samples),
            together=max(s.together for s in samples),
            tree=max(s.tree for s in samples),
            pss=max(s.pss for s in samples),
        )


class MemoryWatch:
    """The server's memory sampled every `every` seconds on a thread, to tell which phase of a
    benchmark reached the peak; its helper processes' beside it, and the proportional set size
    of them all (`pss_mb`). A PSS is lower when processes outside the tree map the same
    libraries (other servers, tests): `Sample.tree` does not depend on them."""

    def __init__(self, pid: int, every: float = 0.1) -> None:
        self.samples: list[Sample] = []
        self._pid = pid
        self._every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._every):
            try:
                rss, _, anonymous, _ = memory_mb(self._pid)
                pss = pss_mb(self._pid)
            except OSError:  # the server ended
                return
            helpers = helpers_anonymous = 0.0
            for child in children(self._pid):
                try:
                    child_rss, _, child_anonymous, _ = memory_mb(child)
                    child_pss = pss_mb(child)
                except OSError:  # ended meanwhile
                    continue
                helpers += child_rss
                helpers_anonymous += child_anonymous
                pss += child_pss
            sample = Sample(time.time(), rss, anonymous, helpers, helpers_anonymous, pss)
            self.samples.append(sample)

    def stop(self) -> None:
        """Stop sampling."""
        self._stop.set()
        self._thread.join()

    def peaks(self, marks: list[tuple[float, str]]) -> list[tuple[str, Peaks]]:
        """Between each mark (time, name) and the next: the peaks of the samples."""
        found = []
        for (start, name), (end, _) in zip(marks, [*marks[1:], (float("inf"), "")], strict=True):
            inside = [sample for sample in self.samples if start <= sample.at < end]
            if inside:
                found.append((name, Peaks.of(inside)))
        return found

    def overall(self) -> Peaks | None:
        """The peaks over the whole run (None without samples)."""
        return Peaks.of(self.samples) if self.samples else None
