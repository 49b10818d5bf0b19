"""Reading a delivered partition with PyODPS through the tunnel, beside pyarrow reading the same
Parquet files into pandas.

Writes `--rows` demo events (default 1,000,000) into one day partition of a fresh warehouse with
the exactly-once writer (in batches of `--batch`, a file each, as delivery writes them), starts
`trailhouse serve` on it, then times, `--repeat` times each, alternating:

- **PyODPS**: `table.open_reader(partition=..., arrow=True).to_pandas()` against `/api`
  (session creation, the Arrow stream with its CRC32C chunks, PyODPS's checks and conversion);
- **pyarrow** (the baseline): `pyarrow.parquet.read_table(files).to_pandas()` over the same
  committed files, in the same process.

Prints rows/s of each (best run) and their ratio; the target is PyODPS ≥ 0.5 × pyarrow.
Quick try: `.venv/bin/python bench/pyodps_read.py --rows 200000`.
"""

from __future__ import annotations

import argparse
import gc
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson
import pyarrow.parquet as pq

from _servers import python, real_server, start_server, stop
from trailhouse.demo import DemoEvents
from trailhouse.events.model import LoggedEvent
from trailhouse.events.validation import parse_event_time
from trailhouse.iam.roles import RoleService, service_linked_role_arn
from trailhouse.settings import Settings
from trailhouse.store import open_metadata
from trailhouse.warehouse.model import project_name
from trailhouse.warehouse.service import open_warehouse

ACCOUNT_ID = "1234567890120019"
REGION = "cn-hangzhou"
TABLE = "actiontrail_bench_read"
TARGET_RATIO = 0.5


def say(message: str) -> None:
    """Progress on stderr, so stdout holds only the figures."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000, help="events in the partition")
    parser.add_argument("--batch", type=int, default=100_000, help="events per delivered file")
    parser.add_argument("--repeat", type=int, default=3, help="timed reads of each kind")
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "th-read")
    return parser.parse_args()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def load(data_dir: Path, rows: int, batch: int) -> tuple[str, list[Path]]:
    """Deliver `rows` events of one UTC day; the day and the committed files."""
    settings = Settings.load({"data_dir": data_dir}, environ={})
    metadata = open_metadata(settings)
    try:
        roles = RoleService(metadata)
        linked = roles.service_linked_role_write(ACCOUNT_ID)
        if linked is not None:
            metadata.commit([linked])
        warehouse = open_warehouse(settings, metadata, roles, (REGION,))
        try:
            project = warehouse.catalog.ensure_project(ACCOUNT_ID, REGION, project_name(ACCOUNT_ID))
            table = warehouse.catalog.ensure_table(project, TABLE)
            noon = int(time.time()) // 86400 * 86400 - 86400 + 3600
            demo = DemoEvents(ACCOUNT_ID, seed=19)
            seq = 0
            for start in range(0, rows, batch):
                n = min(batch, rows - start)
                chosen = sorted(
                    demo.between(noon, noon + 22 * 3600, n), key=lambda e: e["eventTime"]
                )
                logged = []
                for event in chosen:
                    seq += 1
                    when = parse_event_time(event["eventTime"])
                    logged.append(
                        LoggedEvent(seq, ACCOUNT_ID, event["eventId"], when, 0, orjson.dumps(event))
                    )
                warehouse.writer.append(
                    project,
                    table,
                    logged,
                    writer_role_arn=service_linked_role_arn(ACCOUNT_ID),
                    source_account=ACCOUNT_ID,
                    source="bench",
                )
                say(f"delivered {start + n} events")
            (stats,) = warehouse.catalog.list_partitions(table)
            files = [settings.warehouse_path / f.path for f in warehouse.catalog.files(table)]
            return stats.ds, files
        finally:
            warehouse.close()
    finally:
        metadata.close()


def main() -> None:
    args = arguments()
    shutil.rmtree(args.workdir, ignore_errors=True)
    data_dir = args.workdir / "data"
    data_dir.mkdir(parents=True)
    created = subprocess.run(
        [
            python(),
            "-m",
            "trailhouse",
            "account",
            "create",
            "--data-dir",
            str(data_dir),
            "--account-id",
            ACCOUNT_ID,
        ],
        check=True,
        capture_output=True,
    )
    keys = orjson.loads(created.stdout)
    ds, files = load(data_dir, args.rows, args.batch)
    port = free_port()
    server = start_server(real_server(data_dir, port), port, args.workdir / "server.log")
    try:
        from odps import ODPS

        odps = ODPS(
            keys["AccessKeyId"],
            keys["AccessKeySecret"],
            project_name(ACCOUNT_ID),
            endpoint=f"http://127.0.0.1:{port}/api",
        )
        table = odps.get_table(TABLE)
        timings: dict[str, list[float]] = {"pyodps": [], "pyarrow": []}

        def read_pyodps() -> int:
            with table.open_reader(partition=f"ds={ds}", arrow=True, reopen=True) as reader:
                return len(reader.to_pandas())

        def read_pyarrow() -> int:
            return len(pq.read_table(files).to_pandas())

        kinds = {"pyodps": read_pyodps, "pyarrow": read_pyarrow}
        for attempt in range(args.repeat):
            # Alternate which goes first, and start each from a collected heap: a million
            # rows of text are millions of Python objects either way.
            for kind in sorted(kinds, reverse=attempt % 2 == 1):
                gc.collect()
                begin = time.perf_counter()
                assert kinds[kind]() == args.rows
                timings[kind].append(time.perf_counter() - begin)
            took = timings["pyodps"][-1], timings["pyarrow"][-1]
            say(f"round {attempt + 1}: PyODPS {took[0]:.2f} s, pyarrow {took[1]:.2f} s")
    finally:
        stop(server)
    pyodps = args.rows / min(timings["pyodps"])
    pyarrow = args.rows / min(timings["pyarrow"])
    ratio = pyodps / pyarrow
    print(f"rows in the partition          {args.rows:>12,} ({len(files)} files)")
    print(f"PyODPS arrow to_pandas, rows/s {pyodps:>12,.0f}")
    print(f"pyarrow read_table, rows/s     {pyarrow:>12,.0f}")
    verdict = "meets" if ratio >= TARGET_RATIO else "misses"
    print(f"ratio                          {ratio:>12.2f} ({verdict} the {TARGET_RATIO} target)")


if __name__ == "__main__":
    main()
