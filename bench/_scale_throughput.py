"""The scale benchmark's throughput phases: N servers on a fresh schema under the same load.

The load is `_load.py` processes (pre-serialised batches of 100, keep-alive clients), process p
sending to endpoint p mod N, all started together. CPU is read from `/proc` for the servers and
this run's PostgreSQL backends, and from the reaped load processes' rusage.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import psycopg

from _scale_baseline import read_rows
from _scale_procs import Cluster, CpuUse, cpu_between, sample_cpu, say
from _servers import BENCH_DIR, Credentials, python
from ingest_lookup import load_figures


def start_loads(
    cluster: Cluster,
    endpoints: list[str],
    credentials: Credentials,
    args: argparse.Namespace,
    label: str,
) -> list[tuple[subprocess.Popen[str], Path]]:
    """Start the load processes (process p → endpoint p mod N) and wait until all are ready."""
    children = []
    for index in range(args.load_procs):
        out = cluster.logs / f"load-{label}-{index}.json"
        out.unlink(missing_ok=True)
        command = [
            python(), str(BENCH_DIR / "_load.py"),
            "--endpoint", endpoints[index % len(endpoints)],
            "--key-id", credentials.key_id,
            "--secret", credentials.secret,
            "--account-id", credentials.account_id,
            "--threads", str(args.load_threads),
            "--seconds", str(args.seconds),
            "--pool", str(args.pool),
            "--stream", str(index + 1),
            "--seed", str(args.seed),
            "--gen-dir", str(args.gen_dir),
            "--out", str(out),
        ]  # fmt: skip
        process = cluster.spawn(
            command,
            cluster.logs / f"load-{label}.log",
            dict(os.environ),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        children.append((process, out))
    for process, _ in children:
        assert process.stdout is not None
        line = process.stdout.readline()
        if line.strip() != "ready":
            raise RuntimeError(f"a load process did not get ready: {line!r}")
    return children


def go(children: list[tuple[subprocess.Popen[str], Path]]) -> None:
    """Start every load process at once."""
    for process, _ in children:
        assert process.stdin is not None
        process.stdin.write("go\n")
        process.stdin.flush()


def reap(children: list[tuple[subprocess.Popen[str], Path]], timeout: float) -> float:
    """Wait for the load processes to end; the CPU seconds they used in all (their rusage)."""
    pending = {process.pid: process for process, _ in children}
    used = 0.0
    give_up = time.monotonic() + timeout
    while pending:
        for pid, process in list(pending.items()):
            done, status, usage = os.wait4(pid, os.WNOHANG)
            if done:
                process.returncode = os.waitstatus_to_exitcode(status)
                used += usage.ru_utime + usage.ru_stime
                del pending[pid]
        if pending:
            if time.monotonic() > give_up:
                raise RuntimeError(f"load processes still running after {timeout:.0f} s")
            time.sleep(0.05)
    for process, _ in children:
        if process.returncode != 0:
            raise RuntimeError(f"a load process exited with {process.returncode}")
    return used


# --- Throughput phases ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Phase:
    """One throughput phase: N servers under the same load."""

    round: int
    servers: int
    figures: dict[str, Any]
    cpu: CpuUse
    stored: int
    spread: list[int]  # load processes per server


def throughput_phase(
    cluster: Cluster, args: argparse.Namespace, servers: int, round_: int, keep_rows: bool
) -> tuple[Phase, list[tuple[Any, ...]]]:
    """N servers on a fresh schema, the load for --seconds; the figures (and the stored rows,
    when `keep_rows`, for the baseline)."""
    url = cluster.new_schema(f"n{servers}")
    data_dir = args.workdir / f"n{servers}"
    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True)
    processes = []
    try:
        cluster.cli(url, data_dir, "db", "upgrade")
        credentials = cluster.create_account(url, data_dir)
        ports = [args.port + n for n in range(servers)]
        say(f"{servers} server process(es) on ports {', '.join(map(str, ports))}")
        processes = [cluster.serve(url, data_dir, port) for port in ports]
        endpoints = [f"http://127.0.0.1:{port}" for port in ports]
        children = start_loads(cluster, endpoints, credentials, args, f"n{servers}")
        load_pids = [process.pid for process, _ in children]
        server_pids = [process.pid for process in processes]
        before = sample_cpu(args.database_url, cluster.tag, server_pids, load_pids)
        say(f"load: {args.load_procs} × {args.load_threads} threads for {args.seconds:g} s")
        go(children)
        load_cpu = reap(children, args.seconds + 900)
        after = sample_cpu(args.database_url, cluster.tag, server_pids)
        load_before = sum(before.load.values())
        cpu = cpu_between(before, after, load_seconds=load_cpu - load_before)
        figures = load_figures([orjson.loads(out.read_bytes()) for _, out in children])
        with psycopg.connect(url, autocommit=True) as conn:
            row = conn.execute("SELECT count(*) FROM events").fetchone()
        stored = int(row[0]) if row else 0
        rows = read_rows(url) if keep_rows else []
    finally:
        cluster.stop(processes)
        cluster.drop_schema(url)
        shutil.rmtree(data_dir, ignore_errors=True)
    spread = [sum(1 for p in range(args.load_procs) if p % servers == s) for s in range(servers)]
    say(
        f"{servers} server(s): {figures['rate']:,.0f} events/s, {figures['errors']} errors, "
        f"{stored:,} rows stored"
    )
    return Phase(round_, servers, figures, cpu, stored, spread), rows
