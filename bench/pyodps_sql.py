"""PyODPS SQL instances against trailhouse's own SQL API: the same typed-column audit query, end to
end over HTTP, through `o.execute_sql` + `open_reader(tunnel=False)` and through
SubmitSqlJob / GetSqlJob / GetSqlJobResult (polled as `trailhouse sql` polls, every 0.1 s, or
every `--poll` seconds). PyODPS's status poll blocks on the server until the job ends (2 s at
most), so it learns of the end at once.

Starts `trailhouse serve` on a fresh data directory, writes `--events` demo events into one
table with the exactly-once writer, then alternates the two clients `--runs` times and reports
the median wall time of each and their ratio (target: PyODPS at most 1.2x the RPC API). Quick
try: `.venv/bin/python bench/pyodps_sql.py --events 50000 --runs 10`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
from odps import ODPS

from _report import table
from _servers import python, real_server, start_server, stop
from trailhouse.client import RpcClient
from trailhouse.demo import DemoEvents
from trailhouse.events.model import LoggedEvent
from trailhouse.events.validation import parse_event_time
from trailhouse.iam.roles import RoleService, service_linked_role_arn
from trailhouse.settings import Settings
from trailhouse.store import open_metadata
from trailhouse.warehouse.model import project_name
from trailhouse.warehouse.service import open_warehouse

TARGET_RATIO = 1.2
ACCOUNT_ID = "1234567890120019"
REGION = "cn-hangzhou"
TABLE = "actiontrail_bench_pyodps"
QUERY = (
    "SELECT event_name, COUNT(*) AS n, COUNT(DISTINCT source_ip_address) AS ips, "
    "MAX(event_time) AS last_seen FROM {table} WHERE ds >= '{first}' "
    "GROUP BY event_name ORDER BY n DESC LIMIT 200"
)


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=200_000, help="events in the table")
    parser.add_argument("--runs", type=int, default=20, help="queries per client")
    parser.add_argument("--port", type=int, default=18619, help="the server's port")
    parser.add_argument(
        "--poll", type=float, default=0.1, help="seconds between GetSqlJob polls (CLI: 0.1)"
    )
    return parser.parse_args()


def load(data_dir: Path, events: int) -> tuple[dict[str, str], str]:
    """The account's root key, and the first day written."""
    command = [python(), "-m", "trailhouse", "account", "create", "--data-dir", str(data_dir)]
    made = subprocess.run(
        [*command, "--account-id", ACCOUNT_ID],
        capture_output=True,
        check=True,
    )
    keys: dict[str, str] = json.loads(made.stdout)
    now = int(time.time())
    chosen = sorted(
        DemoEvents(ACCOUNT_ID, seed=7).between(now - 6 * 86400, now, events),
        key=lambda e: e["eventTime"],
    )
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
            created = warehouse.catalog.ensure_table(project, TABLE)
            for start in range(0, len(chosen), 50_000):
                batch = chosen[start : start + 50_000]
                logged = [
                    LoggedEvent(
                        start + i + 1,
                        ACCOUNT_ID,
                        e["eventId"],
                        parse_event_time(e["eventTime"]),
                        0,
                        orjson.dumps(e),
                    )
                    for i, e in enumerate(batch)
                ]
                warehouse.writer.append(
                    project,
                    created,
                    logged,
                    writer_role_arn=service_linked_role_arn(ACCOUNT_ID),
                    source_account=ACCOUNT_ID,
                    source="bench",
                )
            first = warehouse.catalog.list_partitions(created)[0].ds
        finally:
            warehouse.close()
    finally:
        metadata.close()
    return keys, first


def through_pyodps(odps: ODPS, sql: str) -> list[Any]:
    instance = odps.execute_sql(sql)
    with instance.open_reader(tunnel=False) as reader:
        return [tuple(record.values) for record in reader]


def through_rpc(rpc: RpcClient, project: str, sql: str, poll: float) -> list[Any]:
    job_id = rpc.call("SubmitSqlJob", {"Project": project, "Sql": sql})["JobId"]
    while rpc.call("GetSqlJob", {"JobId": job_id})["Job"]["Status"] not in (
        "Terminated",
        "Failed",
        "Cancelled",
    ):
        time.sleep(poll)
    page = rpc.call("GetSqlJobResult", {"JobId": job_id, "MaxResults": "1000"})
    return [tuple(row) for row in page["Rows"]]


def main() -> int:
    args = arguments()
    with tempfile.TemporaryDirectory(prefix="trailhouse-bench-pyodps-") as scratch:
        data_dir = Path(scratch) / "data"
        keys, first = load(data_dir, args.events)
        server = start_server(real_server(data_dir, args.port), args.port, Path(scratch) / "log")
        try:
            url = f"http://127.0.0.1:{args.port}"
            project = project_name(ACCOUNT_ID)
            sql = QUERY.format(table=TABLE, first=first)
            odps = ODPS(
                keys["AccessKeyId"], keys["AccessKeySecret"], project, endpoint=url + "/api"
            )
            times: dict[str, list[float]] = {"pyodps": [], "rpc": []}
            with RpcClient(url, keys["AccessKeyId"], keys["AccessKeySecret"]) as rpc:
                answers = (through_pyodps(odps, sql), through_rpc(rpc, project, sql, args.poll))
                assert len(answers[0]) == len(answers[1]) > 0, answers
                assert [r[:3] for r in answers[0]] == [r[:3] for r in answers[1]]
                for _ in range(args.runs):
                    for name, run in (
                        ("pyodps", lambda: through_pyodps(odps, sql)),
                        ("rpc", lambda: through_rpc(rpc, project, sql, args.poll)),
                    ):
                        started = time.perf_counter()
                        run()
                        times[name].append(time.perf_counter() - started)
        finally:
            stop(server)
    median = {name: statistics.median(values) * 1000 for name, values in times.items()}
    ratio = median["pyodps"] / median["rpc"]
    print(f"{args.events:,} events, {args.runs} runs each, median wall time per query:")
    print(
        table(
            ["client", "median", "p90"],
            [
                [
                    name,
                    f"{median[name]:.1f} ms",
                    f"{statistics.quantiles(times[name], n=10)[-1] * 1000:.1f} ms",
                ]
                for name in times
            ],
        )
    )
    met = "met" if ratio <= TARGET_RATIO else "NOT met"
    print(f"PyODPS / RPC = {ratio:.2f} (target <= {TARGET_RATIO}: {met})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
