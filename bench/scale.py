"""The scale benchmark: PutEvents with 1, 2 and 3 server processes on one PostgreSQL, beside
PostgreSQL's own insert rate for the same rows, and delivery's failover after a `kill -9`.

Each phase runs on a fresh schema of `--database-url`, dropped at the end. Throughput phases
start N `trailhouse serve --no-delivery` processes and a separate load (`_load.py` processes,
spread round-robin over the N endpoints) and print accepted events/s, latency and who used the
CPU. The baseline re-inserts the rows the first phase stored, with trailhouse's DDL, plainly and
in trailhouse's own sequenced append transaction. The failover phase kills one of three
delivery workers and times the takeover and the delivery gap. See bench/README.md.
"""

from __future__ import annotations

import argparse
import os
import signal
import time
from pathlib import Path
from types import FrameType
from typing import Any

from _events import DEFAULT_GEN_DIR
from _report import summary
from _scale_baseline import LOCKED, PLAIN, SEQUENCED, BaselinePlan, BaselineResult, run_baseline
from _scale_failover import FailoverPlan, FailoverResult, run_failover
from _scale_procs import Cluster, can_unshare, say
from _scale_report import (
    baseline_table,
    describe_failover,
    once_table,
    phase_table,
    summary_rows,
)
from _scale_throughput import Phase, throughput_phase


def arguments() -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--database-url", default="postgresql://127.0.0.1:5432/test", help="a PostgreSQL database"
    )
    parser.add_argument("--servers", default="1,2,3", help="server process counts to measure")
    parser.add_argument("--seconds", type=float, default=15.0, help="seconds of load per phase")
    parser.add_argument(
        "--rounds",
        type=int,
        default=2,
        help="throughput phases and baselines, repeated (every other round in reverse order)",
    )
    parser.add_argument(
        "--load-procs",
        type=int,
        default=6,
        help="load processes, spread round-robin over the servers (6 is even for 1, 2 and 3)",
    )
    parser.add_argument("--load-threads", type=int, default=3, help="threads per load process")
    parser.add_argument("--pool", type=int, default=100, help="distinct batches per load process")
    parser.add_argument("--baseline-procs", type=int, default=3, help="baseline client processes")
    parser.add_argument(
        "--baseline-seconds", type=float, default=10.0, help="seconds of each baseline run"
    )
    parser.add_argument(
        "--baseline-connections",
        default="",
        help="baseline connection counts, e.g. 8,16,24 (default: the load's threads)",
    )
    parser.add_argument("--lease-seconds", type=float, default=15.0, help="delivery lease")
    parser.add_argument(
        "--failover-hosts",
        choices=("same", "separate", "both", "none"),
        default="both",
        help="workers on one host, or each in a UTS namespace of its own (as on other hosts)",
    )
    parser.add_argument("--failover-rate", type=float, default=1000.0, help="events/s streamed")
    parser.add_argument("--before-kill", type=float, default=5.0, help="stream before the kill")
    parser.add_argument("--after-takeover", type=float, default=3.0, help="stream after it")
    parser.add_argument("--watch-every", type=float, default=0.1, help="poll interval, seconds")
    parser.add_argument("--drain-timeout", type=float, default=300.0)
    parser.add_argument(
        "--quick", action="store_true", help="one round, 8 s phases, 5 s baselines, lease 6 s"
    )
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/trailhouse-bench-scale"))
    parser.add_argument("--port", type=int, default=18800, help="first server port")
    parser.add_argument("--failover-port", type=int, default=18810)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--gen-dir", type=Path, default=DEFAULT_GEN_DIR)
    parsed = parser.parse_args()
    if parsed.quick:
        parsed.seconds = min(parsed.seconds, 8.0)
        parsed.baseline_seconds = min(parsed.baseline_seconds, 5.0)
        parsed.lease_seconds = min(parsed.lease_seconds, 6.0)
        parsed.rounds = 1
    parsed.server_counts = [int(n) for n in parsed.servers.split(",") if n.strip()]
    parsed.connection_counts = [
        int(n) for n in parsed.baseline_connections.split(",") if n.strip()
    ] or [parsed.load_procs * parsed.load_threads]
    return parsed


# --- Main -------------------------------------------------------------------------------------


def run(args: argparse.Namespace, cluster: Cluster) -> int:
    """Every phase, then the tables; 1 when a check failed."""
    phases: list[Phase] = []
    baselines: list[tuple[int, BaselineResult]] = []
    rows: list[tuple[Any, ...]] = []
    for round_ in range(1, args.rounds + 1):
        # Every other round backwards, so that a drift in the machine's load evens out.
        counts = args.server_counts if round_ % 2 else args.server_counts[::-1]
        for servers in counts:
            phase, kept = throughput_phase(cluster, args, servers, round_, keep_rows=not rows)
            phases.append(phase)
            rows = rows or kept
        # The rows the run's first phase stored, every round: the same work each time.
        for connections in args.connection_counts if rows else ():
            for mode in (PLAIN, LOCKED, SEQUENCED):
                plan = BaselinePlan(mode, connections, args.baseline_procs, args.baseline_seconds)
                say(f"PostgreSQL baseline, {mode}, {connections} connections, {len(rows):,} rows")
                baseline = run_baseline(cluster, rows, plan)
                baselines.append((round_, baseline))
                say(f"PostgreSQL baseline, {mode}: {baseline.rate:,.0f} rows/s")
    del rows
    failovers = [run_one_failover(cluster, args, hosts) for hosts in failover_hosts(args)]

    print(
        f"PutEvents from {args.load_procs} load processes × {args.load_threads} threads "
        f"(batches of 100, keep-alive), {args.seconds:g} s per phase, each on a fresh schema; "
        f"CPU in cores ({os.cpu_count()} on this machine):"
    )
    print(table_or_none(phase_table(phases) if phases else ""))
    print()
    print(
        "The first phase's rows inserted again by PostgreSQL alone, 100 per transaction, for "
        f"{args.baseline_seconds:g} s, into a fresh schema with trailhouse's tables, indexes "
        "and partitions; CPU in cores:"
    )
    print(table_or_none(baseline_table(baselines) if baselines else ""))
    for failover in failovers:
        print()
        describe_failover(failover)
    if failovers:
        print()
        print("Every accepted event exactly once in each trail's table (SQL jobs):")
        print(once_table(failovers))
    print()
    if args.rounds > 1:
        print(f"Summary (PutEvents and baselines: medians of {args.rounds} rounds):")
    print(summary(summary_rows(phases, baselines, args.load_procs * args.load_threads, failovers)))
    broken = [r for r in failovers if not r.drained or not all(c.ok for c in r.checks)]
    return 1 if broken else 0


def table_or_none(text: str) -> str:
    """A table, or a note that the phase did not run."""
    return text or "(not run)"


def failover_hosts(args: argparse.Namespace) -> list[str]:
    """The failover runs asked for and possible here."""
    wanted = {"both": ["same", "separate"], "none": []}.get(args.failover_hosts)
    hosts = wanted if wanted is not None else [args.failover_hosts]
    if "separate" in hosts and not can_unshare():
        say("cannot start a process in a UTS namespace of its own (not root?): no separate hosts")
        hosts = [h for h in hosts if h != "separate"]
    return hosts


def run_one_failover(cluster: Cluster, args: argparse.Namespace, hosts: str) -> FailoverResult:
    """One failover run with `hosts` placement."""
    plan = FailoverPlan(
        hosts=hosts,
        lease_seconds=args.lease_seconds,
        rate=args.failover_rate,
        before_kill=args.before_kill,
        after_takeover=args.after_takeover,
        watch_every=args.watch_every,
        drain_timeout=args.drain_timeout,
        port=args.failover_port,
        gen_dir=args.gen_dir,
        seed=args.seed,
    )
    return run_failover(cluster, plan, args.workdir / f"failover-{hosts}")


def _terminate(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def main() -> int:
    """Run the benchmark; everything it started is stopped and dropped, even on failure."""
    args = arguments()
    args.workdir.mkdir(parents=True, exist_ok=True)
    signal.signal(signal.SIGTERM, _terminate)
    tag = f"th-scale-{os.getpid()}"
    cluster = Cluster(args.database_url, args.workdir, tag)
    began = time.monotonic()
    try:
        return run(args, cluster)
    finally:
        say("tearing down")
        cluster.close()
        say(f"done in {time.monotonic() - began:.0f} s")


if __name__ == "__main__":
    raise SystemExit(main())
