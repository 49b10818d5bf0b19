"""PutEvents beside its null-store ceiling in alternating rounds: issue 23's item 2 as a median.

On a shared machine the null store's rate moves by a third between runs minutes apart, so one
pair of loads (what `ingest_lookup.py` measures) gives the same code anywhere from 0.42x to
0.55x. This runs both servers side by side on a store `ingest_lookup.py` left (`--workdir`), and
loads them in turn, `--rounds` times, the order swapped every round so that a drift of the
machine's speed favours neither; each load waits until the other server is idle (the real
server's index caught up and, with `--trail`, its trail delivered). It prints each round's
pair and ratio, then the median, lowest and highest ratio beside the target (0.6x). Beside each
rate it prints the server's CPU an event (the server process and its helpers, from `/proc`; its
main process apart), the cores it kept busy and how much of the machine stood idle meanwhile: a
server near one core with the machine idle is bound by its GIL, one with the machine full by the
cores. Last, the budget at the target rate (`budget`): the CPU an event this machine's cores
leave the server beside the load, and the one core its main process has, beside what it spent,
and the floor under it (`_floor.py`): the CPU an event of the parts any such server runs (the
null store's request path, the index rows' SQLite inserts, with `--trail` the trail's Parquet),
measured on the same store before the rounds.

Usage: `.venv/bin/python bench/ingest_pairs.py --workdir /tmp/trailhouse-bench --rounds 5`
(after `ingest_lookup.py` made that store; its server stopped).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from _delivery_phases import create_account
from _events import DEFAULT_GEN_DIR
from _floor import Floor, measure
from _scale_procs import cpu_seconds, machine_busy_seconds
from _servers import (
    Credentials,
    index_state,
    null_server,
    real_server,
    run_load,
    start_server,
    stop,
)
from _trail_phase import children, start_trail, stop_trail
from ingest_lookup import load_figures, say
from trailhouse.client import RpcClient

CORES = os.cpu_count() or 1
TARGET = 0.6  # PutEvents with a trail logging, of the null store's rate (issue 23, item 2)
_IDLE_TIMEOUT = 600.0


def arguments() -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/trailhouse-bench"))
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=20.0, help="seconds of each load")
    parser.add_argument("--load-procs", type=int, default=2)
    parser.add_argument("--load-threads", type=int, default=4)
    parser.add_argument("--event-times", choices=("live", "pool"), default="live")
    parser.add_argument("--trail", action="store_true", help="a trail logging in each real load")
    parser.add_argument("--port", type=int, default=18797)
    parser.add_argument("--null-port", type=int, default=18798)
    parser.add_argument("--gen-dir", type=Path, default=DEFAULT_GEN_DIR)
    return parser.parse_args()


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds of the process `pid` and its live helper processes."""
    return sum(filter(None, (cpu_seconds(one) for one in (pid, *children(pid)))))


@dataclass(frozen=True, slots=True)
class Cost:
    """What one load cost, an accepted event at a time (µs of CPU): the server's tree (the
    process and its helpers), its main process alone (one GIL), and the rest of the machine (the
    load's processes, and whatever else ran)."""

    tree: float
    main: float
    rest: float
    cores: float  # the tree's
    idle: float  # the machine's share

    def describe(self) -> str:
        """One phrase."""
        return (
            f"{self.tree:.0f} µs of CPU an event ({self.main:.0f} in its main process), "
            f"{self.cores:.2f} cores, machine {self.idle:.0%} idle"
        )


class CpuShare:
    """Measures a load's `Cost` from when it is made."""

    def __init__(self, pid: int) -> None:
        self._pid = pid
        self._cpu = tree_cpu_seconds(pid)
        self._main = cpu_seconds(pid) or 0.0
        self._busy = machine_busy_seconds()
        self._started = time.monotonic()

    def cost(self, events: float) -> Cost:
        """What the `events` accepted since this was made cost."""
        seconds = time.monotonic() - self._started
        cpu = tree_cpu_seconds(self._pid) - self._cpu
        main = (cpu_seconds(self._pid) or 0.0) - self._main
        busy = machine_busy_seconds() - self._busy
        per_event = 1e6 / max(events, 1)
        return Cost(
            tree=cpu * per_event,
            main=main * per_event,
            rest=max(busy - cpu, 0.0) * per_event,
            cores=cpu / seconds,
            idle=max(1 - busy / (seconds * CORES), 0.0),
        )


def allowed(null_rate: float, real: list[Cost]) -> float:
    """µs of CPU an event the cores leave the server at the target rate: the cores less what
    the rest of the machine (the load) took an event."""
    rest = statistics.median(cost.rest for cost in real)
    return CORES * 1e6 / (TARGET * null_rate) - rest


def budget(null_rate: float, real: list[Cost], room: float) -> str:
    """What the server may spend an event at the target rate on this machine, beside what it
    spent (medians): the cores less what the rest of the machine took an event (`room`, from
    `allowed`), and one core for its main process (its GIL). The server's figures leave out the
    index and delivery work still owed when a load ends, so they flatter it."""
    target = TARGET * null_rate
    rest = statistics.median(cost.rest for cost in real)
    tree = statistics.median(cost.tree for cost in real)
    main = statistics.median(cost.main for cost in real)
    return (
        f"at {TARGET:.1f}x of the null store's median rate ({target:,.0f} events/s) this "
        f"machine's {CORES} cores, less the rest's {rest:.0f} µs an event (the load), leave the "
        f"server {room:.0f} µs of CPU an event; it spent {tree:.0f}. Its main "
        f"process (one GIL) may spend {1e6 / target:.0f} µs; it spent {main:.0f}"
    )


def floor_line(floor: Floor, null: list[Cost], room: float) -> str:
    """The floor's parts and sum beside the budget (`room`): what is left for the rest."""
    path = statistics.median(cost.tree for cost in null)
    total = path + floor.index + floor.encode
    parts = f"the null store's request path {path:.0f}, the index's SQLite rows {floor.index:.0f}"
    if floor.encode:
        parts += f", the trail's Parquet {floor.encode:.0f}"
    return (
        f"the floor, µs of CPU an event: {parts}; {total:.0f} in all, against the server's "
        f"{room:.0f}: {room - total:.0f} left for the log, compression, the duplicate check, the "
        f"tail, delivery's reading and every hand-off"
    )


def wait_indexed(endpoint: str) -> None:
    """Until the real server's index has caught up with its log."""
    deadline = time.monotonic() + _IDLE_TIMEOUT
    while index_state(endpoint)["behind"] > 0:
        if time.monotonic() > deadline:
            raise RuntimeError(f"the index of {endpoint} did not catch up in {_IDLE_TIMEOUT} s")
        time.sleep(0.5)


def main() -> int:
    """Run the rounds and print the ratios."""
    args = arguments()
    data_dir = args.workdir / "data"
    if not data_dir.is_dir():
        print(f"no store in {data_dir}: run bench/ingest_lookup.py there first", file=sys.stderr)
        return 2
    say("the floor: the index rows' inserts (and with a trail its Parquet), on this store")
    floor = measure(data_dir, args.trail)
    null_dir = args.workdir / "null-pairs"
    shutil.rmtree(null_dir, ignore_errors=True)
    null_dir.mkdir(parents=True)
    real_credentials, null_credentials = create_account(data_dir), create_account(null_dir)
    real_endpoint = f"http://127.0.0.1:{args.port}"
    null_endpoint = f"http://127.0.0.1:{args.null_port}"
    real = start_server(
        real_server(data_dir, args.port), args.port, args.workdir / "pairs-server.log"
    )
    null = None
    try:
        null = start_server(
            null_server(null_dir, args.null_port),
            args.null_port,
            args.workdir / "pairs-null-server.log",
        )
        client = RpcClient(real_endpoint, real_credentials.key_id, real_credentials.secret)

        def load(
            endpoint: str, credentials: Credentials, label: str, pid: int
        ) -> tuple[float, Cost]:
            """One load's rate, and what it cost (`CpuShare`)."""
            started: list[CpuShare] = []
            results = run_load(
                endpoint,
                credentials,
                processes=args.load_procs,
                threads=args.load_threads,
                seconds=args.seconds,
                probe=False,
                workdir=args.workdir,
                gen_dir=args.gen_dir,
                label=label,
                times=args.event_times,
                on_go=lambda: started.append(CpuShare(pid)),
            )
            figures = load_figures(results)
            return figures["rate"], started[0].cost(figures["accepted"])

        def load_real() -> tuple[float, Cost]:
            if args.trail:
                start_trail(client, real_credentials.account_id)
            measured = load(real_endpoint, real_credentials, "pairs-real", real.pid)
            if args.trail:
                stop_trail(client, timeout=_IDLE_TIMEOUT)
            wait_indexed(real_endpoint)
            return measured

        def load_null() -> tuple[float, Cost]:
            assert null is not None
            return load(null_endpoint, null_credentials, "pairs-null", null.pid)

        pairs: list[tuple[float, float]] = []
        real_costs: list[Cost] = []
        null_costs: list[Cost] = []
        for round_number in range(1, args.rounds + 1):
            real_first = round_number % 2 == 1
            say(f"round {round_number} of {args.rounds} ({'real' if real_first else 'null'} first)")
            if real_first:
                (real_rate, real_cost), (null_rate, null_cost) = load_real(), load_null()
            else:
                (null_rate, null_cost), (real_rate, real_cost) = load_null(), load_real()
            pairs.append((real_rate, null_rate))
            real_costs.append(real_cost)
            null_costs.append(null_cost)
            print(
                f"round {round_number}: PutEvents {real_rate:,.0f}/s"
                f"{' (a trail logging)' if args.trail else ''}, null store {null_rate:,.0f}/s, "
                f"{real_rate / null_rate:.2f}x\n"
                f"  during the loads: real server {real_cost.describe()}; "
                f"null server {null_cost.describe()}",
                flush=True,
            )
        client.close()
    finally:
        stop(real)
        if null is not None:
            stop(null)
    ratios = sorted(real_rate / null_rate for real_rate, null_rate in pairs)
    median = statistics.median(ratios)
    null_median = statistics.median(null_rate for _, null_rate in pairs)
    room = allowed(null_median, real_costs)
    print(
        f"PutEvents / null store over {len(ratios)} rounds of {args.seconds:.0f} s: median "
        f"{median:.2f}x (lowest {ratios[0]:.2f}x, highest {ratios[-1]:.2f}x); target "
        f"{TARGET:.1f}x{' with a trail logging' if args.trail else ''}: "
        f"{'met' if median >= TARGET else 'NOT met'}\n"
        f"{budget(null_median, real_costs, room)}\n"
        f"{floor_line(floor, null_costs, room)}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
