"""`trailhouse serve --demo` on the Spark engine: before the demo's SQL jobs it waits for the
Spark session to start and says so (a JVM on a small machine can take longer than a job's own
wait, `_WAIT_SECONDS`), then runs the jobs on Spark and serves."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from server_process import free_port, wait_up
from system_packages import require_java
from trailhouse.demo.setup import DEMO_QUERIES

# Starting the JVM is not bounded by the demo; this test gives the whole start-up 10 minutes.
START_SECONDS = 600


def test_the_demo_waits_for_the_spark_session_then_runs_its_jobs(tmp_path: Path) -> None:
    require_java()
    port = free_port()
    log_path = tmp_path / "server.log"
    command = [sys.executable, "-m", "trailhouse", "serve", "--demo", "--port", str(port)]
    env = {
        **os.environ,
        "TRAILHOUSE_SQL_ENGINE": "spark",
        "TRAILHOUSE_SPARK_MASTER": "local[1]",
    }
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [*command, "--data-dir", str(tmp_path / "data")],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
    try:
        assert wait_up(process, port, START_SECONDS), log_path.read_text(errors="replace")[-3000:]
        lines = log_path.read_text(errors="replace").splitlines()
        waiting = next(i for i, line in enumerate(lines) if "waiting for the Spark engine" in line)
        assert "start its session on local[1]" in lines[waiting]
        ready = next(i for i, line in enumerate(lines) if "the Spark engine is ready (" in line)
        running = lines.index(f"running {len(DEMO_QUERIES)} SQL jobs ...")
        assert waiting < ready < running
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=120)
