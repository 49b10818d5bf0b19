"""The delivery benchmark: a steady PutEvents stream into a logging trail, and how long an
accepted event takes to be visible to SQL.

Starts `trailhouse serve` on a fresh data directory (default delivery settings), creates an
account and a trail (EventRW All, a MaxCompute destination) and starts it, then sends PutEvents
at `--rate` events/s for `--seconds`. Lag is "accepted → visible to SQL", measured for every
batch with the trail's DeliveredUpTo watermark ("every event accepted before T is in the table")
and confirmed for a few batches by SQL jobs; the backlog is printed second by second, and the
table is checked by SQL to hold every accepted event exactly once. Baselines in the same run:
unpaced ceilings with the trail logging and stopped, the same paced load with the trail
stopped, and a delivery history job that backfills what the trail missed (delivery alone),
after which every phase's events are checked exactly once. See bench/README.md.
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

from _delivery_load import BASELINE, CEILING_OFF, CEILING_ON, MAIN, MARKS, TRAIL, say
from _delivery_phases import (
    backfill_phase,
    baseline_phase,
    create_account,
    create_trail,
    exactly_once,
    main_phase,
    peak_memory_mb,
    plan_for,
    table_files,
    unpaced_phase,
)
from _delivery_report import Results, report
from _events import DEFAULT_GEN_DIR, load_generator_class
from _servers import Credentials, real_server, start_server, stop
from _trail_phase import MemoryWatch, Peaks
from trailhouse.client import RpcClient
from trailhouse.warehouse.model import project_name


def arguments() -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=float, default=5000.0, help="events/s sent while logging")
    parser.add_argument("--seconds", type=float, default=60.0, help="seconds of paced load")
    parser.add_argument("--batch", type=int, default=100, help="events per PutEvents call")
    parser.add_argument("--procs", type=int, default=1, help="load processes")
    parser.add_argument("--threads", type=int, default=4, help="sending threads per process")
    parser.add_argument("--pool", type=int, default=100, help="distinct batches per process")
    parser.add_argument(
        "--baseline-seconds", type=float, default=20.0, help="paced load with the trail stopped"
    )
    parser.add_argument(
        "--ceiling-seconds", type=float, default=10.0, help="unpaced load, each way (0: none)"
    )
    parser.add_argument("--poll", type=float, default=0.1, help="GetTrailStatus every N s")
    parser.add_argument("--sql-every", type=float, default=10.0, help="one SQL-checked batch per")
    parser.add_argument("--drain-timeout", type=float, default=300.0)
    parser.add_argument("--quick", action="store_true", help="15 s of load, short baselines")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/trailhouse-bench-delivery"))
    parser.add_argument("--keep", action="store_true", help="keep the data directory")
    parser.add_argument("--port", type=int, default=18787)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--gen-dir", type=Path, default=DEFAULT_GEN_DIR)
    parsed = parser.parse_args()
    if parsed.quick:
        parsed.seconds = min(parsed.seconds, 15.0)
        parsed.baseline_seconds = min(parsed.baseline_seconds, 8.0)
        parsed.ceiling_seconds = min(parsed.ceiling_seconds, 4.0)
        parsed.sql_every = min(parsed.sql_every, 4.0)
    return parsed


def run(args: argparse.Namespace) -> int:
    """Every phase in order, then the report; 0 when every exactly-once check held."""
    workdir: Path = args.workdir
    data_dir = workdir / "data"
    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True)
    load_generator_class(args.gen_dir)  # imported before any fork
    credentials = create_account(data_dir)
    endpoint = f"http://127.0.0.1:{args.port}"
    say(f"starting trailhouse serve on {endpoint} ({data_dir})")
    server = start_server(real_server(data_dir, args.port), args.port, workdir / "server.log")
    client = RpcClient(endpoint, credentials.key_id, credentials.secret, timeout=120.0)
    watch = MemoryWatch(server.pid)
    try:
        results = run_phases(args, client, credentials, server.pid, data_dir)
    finally:
        watch.stop()
        client.close()
        stop(server)
    report(args, results)
    print(
        "memory, highest sample (every 0.1 s) in each step, MB: the server's resident and "
        "anonymous memory, its helper processes' resident memory, the two summed, the server's "
        "resident memory with the helpers' anonymous memory (the tree, each page once), and the "
        "proportional set size (PSS) of server and helpers summed (lower when other processes "
        "map the same libraries)"
    )
    heads = ("server", "anon", "helpers", "summed", "tree", "PSS")
    print("  " + " ".join(f"{head:>7}" for head in heads))
    for name, peaks in watch.peaks(MARKS):
        print(f"  {_peaks_row(peaks)}  {name}")
    overall = watch.overall()
    if overall is not None:
        print(f"  {_peaks_row(overall)}  the whole run")
    if not args.keep:
        shutil.rmtree(data_dir, ignore_errors=True)
    return 0 if all(check.held for check in results.checks) else 1


def _peaks_row(peaks: Peaks) -> str:
    figures = (peaks.rss, peaks.anonymous, peaks.helpers, peaks.together, peaks.tree, peaks.pss)
    return " ".join(f"{figure:7,.0f}" for figure in figures)


def run_phases(
    args: argparse.Namespace, client: RpcClient, credentials: Credentials, pid: int, data_dir: Path
) -> Results:
    """The logging phase and its exactly-once check, the baselines, then the backfill and the
    exactly-once check of every phase."""
    project = project_name(credentials.account_id)
    run_id = format(time.time_ns() // 1_000_000, "x")
    create_trail(client, credentials.account_id)
    client.call("StartLogging", {"Name": TRAIL})
    main = main_phase(args, plan_for(args, credentials, run_id, MAIN), client, pid, project)
    say("exactly-once check by SQL")
    main_name = "logging phase, drained"
    checks = [exactly_once(client, project, run_id, MAIN, main_name, main.phase)]
    files = table_files(data_dir)
    ceiling_on = ceiling_off = None
    if args.ceiling_seconds > 0:
        say(f"unpaced ceiling, trail logging: {args.ceiling_seconds:g} s")
        plan = plan_for(args, credentials, run_id, CEILING_ON)
        ceiling_on = unpaced_phase("PutEvents, trail logging (unpaced)", plan, pid)
    client.call("StopLogging", {"Name": TRAIL})
    time.sleep(2.0)  # the batch in progress, if any, commits
    say(f"paced baseline, trail stopped: {args.baseline_seconds:g} s")
    sql_share = round(main.sql_queries * args.baseline_seconds / args.seconds)
    probe_prefix = main.probes[0].prefix if main.probes else f"{run_id}-{MAIN}0-"
    baseline_plan = plan_for(args, credentials, run_id, BASELINE)
    baseline = baseline_phase(args, baseline_plan, client, pid, project, (probe_prefix, sql_share))
    if args.ceiling_seconds > 0:
        say(f"unpaced ceiling, trail stopped: {args.ceiling_seconds:g} s")
        plan = plan_for(args, credentials, run_id, CEILING_OFF)
        ceiling_off = unpaced_phase("PutEvents, trail stopped (unpaced)", plan, pid)
    say("StartLogging again and a delivery history job over what the trail missed")
    backfill = backfill_phase(client, args.drain_timeout)
    if backfill.status == 2:
        say("exactly-once check of every phase by SQL")
        phases = [
            (MAIN, "logging phase, after the backfill", main.phase),
            (BASELINE, "baseline (backfilled)", baseline),
        ]
        if ceiling_on is not None and ceiling_off is not None:
            phases += [
                (CEILING_ON, "logging ceiling (tail backfilled)", ceiling_on),
                (CEILING_OFF, "stopped ceiling (backfilled)", ceiling_off),
            ]
        checks += [
            exactly_once(client, project, run_id, letter, name, phase)
            for letter, name, phase in phases
        ]
    return Results(
        main, checks, files, baseline, ceiling_on, ceiling_off, backfill, peak_memory_mb(pid)
    )


def main() -> int:
    """Run the benchmark."""
    return run(arguments())


if __name__ == "__main__":
    raise SystemExit(main())
