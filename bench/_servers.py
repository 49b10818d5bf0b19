"""Starting and stopping the servers and load processes the benchmark talks to."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

BENCH_DIR = Path(__file__).resolve().parent
# The server under test: no lookup throttle (the benchmark queries back to back), no purge
# during the run, quiet logs.
SERVER_ENV = {
    "TRAILHOUSE_LOOKUP_RATE_PER_SECOND": "0",
    "TRAILHOUSE_PURGE_INTERVAL_SECONDS": "86400",
    "TRAILHOUSE_LOG_LEVEL": "warning",
}


@dataclass(frozen=True, slots=True)
class Credentials:
    """The benchmark account's root key."""

    account_id: str
    key_id: str
    secret: str


def python() -> str:
    """The interpreter running the benchmark (the project venv's)."""
    return sys.executable


def start_server(
    command: Sequence[str], port: int, log_path: Path, database_url: str = ""
) -> subprocess.Popen[bytes]:
    """Start a server process and wait until /health answers."""
    log = log_path.open("wb")
    env = {**os.environ, **SERVER_ENV, "TRAILHOUSE_DATABASE_URL": database_url}
    process = subprocess.Popen(list(command), stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        wait_healthy(process, port, log_path)
    except RuntimeError:
        stop(process)
        raise
    return process


def wait_healthy(process: subprocess.Popen[Any], port: int, log_path: Path) -> None:
    """Wait until the server on `port` answers /health (two minutes at most)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}; see {log_path}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1):
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.2)
    raise RuntimeError(f"server did not answer on port {port} within 120 s; see {log_path}")


def real_server(data_dir: Path, port: int) -> list[str]:
    """The command line of `trailhouse serve` on `data_dir`."""
    return [python(), "-m", "trailhouse", "serve", "--data-dir", str(data_dir), "--port", str(port)]


def null_server(data_dir: Path, port: int, database_url: str = "") -> list[str]:
    """The command line of the null-store server on `data_dir`."""
    script = str(BENCH_DIR / "_null_server.py")
    command = [python(), script, "--data-dir", str(data_dir), "--port", str(port)]
    return [*command, "--database-url", database_url] if database_url else command


def stop(process: subprocess.Popen[Any], timeout: float = 120.0) -> int:
    """Ask a process to stop (SIGTERM), then kill it if it does not."""
    # Not SIGINT: a shell starts background jobs (nohup ... &) with SIGINT ignored.
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


def index_state(endpoint: str) -> dict[str, float]:
    """From a server's /metrics: how far its index is behind the log, how many acknowledged
    events its tail let go unindexed, and how long PutEvents waited for the index."""
    with urllib.request.urlopen(f"{endpoint}/metrics", timeout=30) as response:  # noqa: S310
        text = response.read().decode()
    values = {
        name: float(value)
        for name, _, value in (line.partition(" ") for line in text.splitlines())
        if name.startswith("trailhouse_event_log_")
    }
    return {
        "behind": int(
            values.get("trailhouse_event_log_last_seq", 0)
            - values.get("trailhouse_event_log_indexed_seq", 0)
        ),
        "let_go": int(values.get("trailhouse_event_log_unindexed_let_go", 0)),
        "waited": values.get("trailhouse_event_log_index_wait_seconds", 0.0),
    }


def run_load(
    endpoint: str,
    credentials: Credentials,
    *,
    processes: int,
    threads: int,
    seconds: float,
    probe: bool,
    workdir: Path,
    gen_dir: Path,
    label: str,
    times: str = "pool",
    on_go: Callable[[], None] | None = None,
) -> list[dict[str, Any]]:
    """Run `processes` load processes at once (the first one probes) and collect their figures;
    `times` is `_load.py`'s: live (sent as they happen) or pool (a day's times, repeated).
    `on_go` is called as the load starts, once every process is ready."""
    children = []
    outputs = []
    for number in range(processes):
        out = workdir / f"load-{label}-{number}.json"
        out.unlink(missing_ok=True)
        command = [
            python(),
            str(BENCH_DIR / "_load.py"),
            "--endpoint",
            endpoint,
            "--key-id",
            credentials.key_id,
            "--secret",
            credentials.secret,
            "--account-id",
            credentials.account_id,
            "--threads",
            str(threads),
            "--seconds",
            str(seconds),
            "--stream",
            str(number + 1),
            "--gen-dir",
            str(gen_dir),
            "--out",
            str(out),
            "--times",
            times,
        ]
        if probe and number == 0:
            command.append("--probe")
        children.append(
            subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        )
        outputs.append(out)
    for child in children:
        assert child.stdout is not None
        line = child.stdout.readline()
        if line.strip() != "ready":
            raise RuntimeError(f"load process did not get ready: {line!r}")
    for child in children:  # start all at once
        assert child.stdin is not None
        child.stdin.write("go\n")
        child.stdin.flush()
    if on_go is not None:
        on_go()
    for child in children:
        if child.wait(timeout=seconds + 900) != 0:
            raise RuntimeError(f"load process exited with {child.returncode}")
    return [orjson.loads(out.read_bytes()) for out in outputs]


def disk_usage(path: Path) -> int:
    """Bytes allocated on disk under `path` (like `du`)."""
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_blocks * 512
            except FileNotFoundError:
                continue
    return total
