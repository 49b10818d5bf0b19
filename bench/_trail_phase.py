"""What `ingest_lookup.py --trail` and `--profile` add: a trail logging into the warehouse while
PutEvents runs, the sampled server, and the server's memory."""

from __future__ import annotations

import signal
import subprocess
import threading
import time
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


def children_rss_mb(pid: int) -> float:
    """The resident memory of the process's children (the file encoder's helper), in MB."""
    total = 0.0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            children = (task / "children").read_text().split()
        except OSError:
            continue
        for child in children:
            try:
                total += memory_mb(int(child))[0]
            except OSError:  # ended meanwhile
                continue
    return total


class MemoryWatch:
    """The server's resident memory sampled every `every` seconds on a thread, to tell which
    phase of a benchmark reached the peak; its helper processes' memory beside it."""

    def __init__(self, pid: int, every: float = 0.1) -> None:
        # (time.time(), RSS, anonymous, helpers' RSS; MB)
        self.samples: list[tuple[float, float, float, float]] = []
        self._pid = pid
        self._every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._every):
            try:
                rss, _, anonymous, _ = memory_mb(self._pid)
                helpers = children_rss_mb(self._pid)
                self.samples.append((time.time(), rss, anonymous, helpers))
            except OSError:  # the server ended
                return

    def stop(self) -> None:
        """Stop sampling."""
        self._stop.set()
        self._thread.join()

    def peaks(self, marks: list[tuple[float, str]]) -> list[tuple[str, float, float, float, float]]:
        """Between each mark (time, name) and the next: the highest resident and anonymous
        memory of the server, its helpers' highest, and the highest sum of both."""
        found = []
        for (start, name), (end, _) in zip(marks, [*marks[1:], (float("inf"), "")], strict=True):
            inside = [sample for sample in self.samples if start <= sample[0] < end]
            if inside:
                found.append(
                    (
                        name,
                        max(s[1] for s in inside),
                        max(s[2] for s in inside),
                        max(s[3] for s in inside),
                        max(s[1] + s[3] for s in inside),
                    )
                )
        return found
