"""Starting a real `trailhouse serve` process for tests, shared by every suite that needs one, and
telling whether a process (a server, a helper) still runs."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path

# A ceiling, not a wait (/health is polled every 50 ms): on a machine shared with other test
# runs a start took more than 30 s, and every test of the suite's shared server then erred.
START_TIMEOUT = 60.0


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def start_serving(
    command: list[str], port: int, log_path: Path, env: Mapping[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Run `command` (a `trailhouse serve …`) with its output in `log_path`, and return once
    it answers /health; RuntimeError with the log's tail when it exits or does not answer."""
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, env=None if env is None else dict(env)
        )
    try:
        up = wait_up(process, port)
    except TimeoutError:
        process.kill()
        process.wait()
        raise RuntimeError(
            f"trailhouse serve did not answer /health within {START_TIMEOUT:g} s"
        ) from None
    if not up:
        tail = log_path.read_text(errors="replace")[-3000:]
        raise RuntimeError(f"trailhouse serve exited with {process.returncode}:\n{tail}")
    return process


def wait_up(process: subprocess.Popen[bytes], port: int, timeout: float = START_TIMEOUT) -> bool:
    """True once the server answers /health, False when it exits first; TimeoutError when it
    does neither within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as answer:
                if answer.status == 200:
                    return True
        except (urllib.error.URLError, OSError):
            time.sleep(0.05)
    raise TimeoutError(f"nothing answered /health on port {port} within {timeout:g} s")


def running(pid: int) -> bool:
    """Whether the process runs (a zombie, ended but not yet reaped, does not)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # our own child: reap it once it ended
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"
