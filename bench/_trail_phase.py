"""What `ingest_lookup.py --trail` and `--profile` add: a trail logging into the warehouse while
PutEvents runs, the sampled server, and the server's memory."""

from __future__ import annotations

import datetime
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
    """StopLogging, then wait until the trail delivered everything accepted while it logged
    (DeliveredUpTo at or past StopLoggingTime): the backlog when stopped, and the seconds the
    rest took (None: not within `timeout`). The backlog of a stopped trail also counts what was
    accepted after it stopped (trailhouse's own audit events), so it is not waited on."""
    client.call("StopLogging", {"Name": TRAIL})
    status = client.call("GetTrailStatus", {"Name": TRAIL})
    first = int(status.get("DeliveryBacklog", 0))
    stopped = _moment(status.get("StopLoggingTime"))
    begun = time.monotonic()
    while time.monotonic() - begun < timeout:
        status = client.call("GetTrailStatus", {"Name": TRAIL})
        delivered = _moment(status.get("DeliveredUpTo"))
        if stopped is not None and delivered is not None and delivered >= stopped:
            return first, time.monotonic() - begun
        time.sleep(0.5)
    return first, None


def _moment(value: object) -> datetime.datetime | None:
    """An ISO 8601 time of GetTrailStatus, or None when it is empty."""
    text = str(value or "")
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


def memory_mb(pid: int) -> tuple[float, float]:
    """The process's resident memory now and at its peak (VmRSS, VmHWM), in MB."""
    found = {"VmRSS:": 0.0, "VmHWM:": 0.0}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key = line.split(maxsplit=1)[0] if line else ""
        if key in found:
            found[key] = int(line.split()[1]) / 1024
    return found["VmRSS:"], found["VmHWM:"]


class MemoryWatch:
    """The server's resident memory sampled every `every` seconds on a thread, to tell which
    phase of a benchmark reached the peak."""

    def __init__(self, pid: int, every: float = 0.1) -> None:
        self.samples: list[tuple[float, float]] = []  # (time.time(), MB)
        self._pid = pid
        self._every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._every):
            try:
                self.samples.append((time.time(), memory_mb(self._pid)[0]))
            except OSError:  # the server ended
                return

    def stop(self) -> None:
        """Stop sampling."""
        self._stop.set()
        self._thread.join()

    def peaks(self, marks: list[tuple[float, str]]) -> list[tuple[str, float]]:
        """The highest sample between each mark (time, name) and the next."""
        found = []
        for (start, name), (end, _) in zip(marks, [*marks[1:], (float("inf"), "")], strict=True):
            inside = [mb for at, mb in self.samples if start <= at < end]
            if inside:
                found.append((name, max(inside)))
        return found
