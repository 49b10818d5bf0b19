"""Start-up time after `kill -9` under full PutEvents load, beside a clean restart of the same
store measured in the same run (the baseline), with 10M events stored by default.

Each round starts `trailhouse serve`, loads it with PutEvents from two processes, kills it with
SIGKILL half-way through, and times the restart until /health answers (the store checks its day
files, state and segments, and indexes an unindexed tail longer than 200,000 events before it
answers). Usage: python bench/restart.py [--prefill N] [--reuse] [--kills 3]
"""

from __future__ import annotations

import argparse
import contextlib
import re
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from _events import DEFAULT_GEN_DIR
from _servers import run_load, start_server, stop
from ingest_lookup import prepare, real_server, say


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--prefill", type=int, default=10_000_000, help="events stored first")
    parser.add_argument("--kills", type=int, default=3, help="kills under load")
    parser.add_argument("--load-seconds", type=float, default=20.0, help="load before each kill")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/trailhouse-bench"))
    parser.add_argument("--reuse", action="store_true", help="reuse a prefilled --workdir")
    parser.add_argument("--port", type=int, default=18779)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--prefill-workers", type=int, default=2)
    parser.add_argument("--gen-dir", type=Path, default=DEFAULT_GEN_DIR)
    parsed = parser.parse_args()
    parsed.database_url = ""
    return parsed


def timed_start(
    args: argparse.Namespace, data_dir: Path, log: Path
) -> tuple[float, subprocess.Popen[bytes]]:
    """Start the server; the seconds until /health answered, and the process."""
    begun = time.perf_counter()
    process = start_server(real_server(data_dir, args.port), args.port, log)
    return time.perf_counter() - begun, process


def _load(args: argparse.Namespace, prepared: Any, label: str) -> None:
    """PutEvents from two processes until the server dies under them."""
    with contextlib.suppress(RuntimeError, OSError):  # the server died under the load
        run_load(
            f"http://127.0.0.1:{args.port}",
            prepared.credentials,
            processes=2,
            threads=4,
            seconds=args.load_seconds,
            probe=False,
            workdir=args.workdir,
            gen_dir=args.gen_dir,
            label=label,
        )


def _median(values: list[float]) -> float:
    return sorted(values)[len(values) // 2]


def main() -> int:
    args = arguments()
    args.workdir.mkdir(parents=True, exist_ok=True)
    data_dir = args.workdir / "data"
    prepared = prepare(args, data_dir, args.workdir / "prefill-state.pickle")
    print(f"store: {prepared.stats.events:,} events")
    clean: list[float] = []
    killed: list[float] = []
    for round_number in range(args.kills):
        log = args.workdir / f"restart-{round_number}.log"
        seconds, process = timed_start(args, data_dir, log)
        (clean if round_number == 0 else killed).append(seconds)
        loader = threading.Thread(target=_load, args=(args, prepared, f"restart{round_number}"))
        loader.start()
        time.sleep(args.load_seconds / 2)
        process.send_signal(signal.SIGKILL)
        process.wait()
        loader.join()
        say(f"killed under load (round {round_number + 1})")
    # The last kill's restart, then a clean stop and a clean restart: the baseline.
    seconds, process = timed_start(args, data_dir, args.workdir / "restart-last.log")
    killed.append(seconds)
    stop(process)
    seconds, process = timed_start(args, data_dir, args.workdir / "restart-clean.log")
    clean.append(seconds)
    stop(process)
    tails = []
    for log in sorted(args.workdir.glob("restart-*.log")):
        tails += re.findall(r"indexed (\d+) events of the log in (\d+) s", log.read_text())
    print(f"restart to /health after kill -9 under load: {', '.join(f'{s:.1f}' for s in killed)} s")
    print(f"clean restart of the same store (baseline): {', '.join(f'{s:.1f}' for s in clean)} s")
    ratio = _median(killed) / _median(clean)
    print(f"ratio (median after a kill / median clean): {ratio:.2f}x")
    if tails:
        print(
            "unindexed tails indexed before answering: "
            + ", ".join(f"{n} in {s} s" for n, s in tails)
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
