"""The crash-point harness for users' writes: a real `trailhouse serve` killed at a durable step of
a SQL write job or of a tunnel upload into a table of the account's own project, restarted, and
checked to hold the write whole or not at all.

A store is prepared once and copied for each case: an account whose trail table holds `ROWS`
events (the source), a project of its own, and in it the table `target` made by CTAS from the
source, every row tagged `old`. A case starts a server armed at its point, writes (INSERT INTO or
OVERWRITE with rows tagged `new`, or a PyODPS upload session), expects the process to die of
SIGKILL at the point, starts it again and counts `target`'s rows by tag: each tag must be the
whole source once, or absent.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from compat_support import Keys, Server, run_sql_job
from pyodps_support import client, make_warehouse

from server_process import free_port, wait_up
from trailhouse.client import RpcClient

ACCOUNT = "7777000012340091"
SOURCE = "actiontrail_crash_writes"
OWN = "crash_results"
TARGET = "target"
ROWS = 40
KILL_TIMEOUT = 30.0


@dataclass(frozen=True)
class WriteStore:
    """A prepared (stopped) data directory, its account's root keys, and where its tables are."""

    data_dir: Path
    keys: Keys
    source: str  # project.table of the trail's table the writes read


def prepare_writes(data_dir: Path) -> WriteStore:
    """The source table, the project of the account's own and `target` holding the `old` rows."""
    data_dir.mkdir(parents=True)
    server = Server(data_dir, free_port())
    server.start()
    try:
        mine = make_warehouse(server, ACCOUNT, SOURCE, events=ROWS)
        source = f"{mine.project}.{SOURCE}"
        with RpcClient(server.url, mine.root.access_key_id, mine.root.access_key_secret) as rpc:
            rpc.call("CreateProject", {"Project": OWN})
        job, _, _ = run_sql_job(
            server, mine.root, OWN, f"CREATE TABLE {TARGET} AS {select(source, 'old')}"
        )
        assert job["Status"] == "Terminated", job
    finally:
        assert server.stop() == 0
    store = WriteStore(data_dir, mine.root, source)
    assert mine.rows == ROWS
    return store


def copy_write_store(store: WriteStore, data_dir: Path) -> WriteStore:
    """A copy of the prepared store for one case."""
    shutil.copytree(store.data_dir, data_dir)
    return WriteStore(data_dir, store.keys, store.source)


def select(source: str, tag: str) -> str:
    """The SELECT every write runs: each source row once, tagged."""
    return f"SELECT event_id, '{tag}' AS gen FROM {source}"


def start_armed(store: WriteStore, point: str, hit: int = 1) -> Server:
    """A server of the store armed to die at the `hit`th call of `point`."""
    port = free_port()
    command = [sys.executable, "-m", "trailhouse", "serve", "--data-dir", str(store.data_dir)]
    env = {**os.environ, "TRAILHOUSE_FAULT": f"{point}@{hit}"}
    log_path = store.data_dir.parent / "armed.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [*command, "--port", str(port)], stdout=log, stderr=subprocess.STDOUT, env=env
        )
    assert wait_up(process, port), log_path.read_text(errors="replace")[-3000:]
    return Server(store.data_dir, port, process)


def assert_killed_at(server: Server, point: str) -> None:
    """The armed server died of SIGKILL at `point` (within KILL_TIMEOUT)."""
    process = server.process
    assert process is not None
    try:
        process.wait(timeout=KILL_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    output = (server.data_dir.parent / "armed.log").read_text(errors="replace")
    assert process.returncode == -signal.SIGKILL, (
        f"{point} was not reached (exit {process.returncode}):\n{output[-3000:]}"
    )
    assert f"trailhouse fault: killed at {point}" in output, output[-3000:]
    server.process = None


def restart(store: WriteStore) -> Server:
    """The store's server started again (it must start). Its start-up ends the killed
    process's jobs at once: on SQLite the store admits one process, so no other can be running
    them (the killed one beat a moment ago, which on PostgreSQL would make it wait)."""
    server = Server(store.data_dir, free_port())
    server.start()
    return server


def submit(server: Server, keys: Keys, sql: str) -> str:
    """Submit a SQL job in the project of the account's own; its id (the answer comes first)."""
    with RpcClient(server.url, keys.access_key_id, keys.access_key_secret) as rpc:
        job_id: str = rpc.call("SubmitSqlJob", {"Project": OWN, "Sql": sql})["JobId"]
    return job_id


def job_of(server: Server, keys: Keys, job_id: str) -> dict[str, Any]:
    """The job as GetSqlJob answers it."""
    with RpcClient(server.url, keys.access_key_id, keys.access_key_secret) as rpc:
        job: dict[str, Any] = rpc.call("GetSqlJob", {"JobId": job_id})["Job"]
    return job


def run(server: Server, keys: Keys, sql: str) -> list[list[Any]]:
    """The rows of `sql` run in the project of the account's own (which must succeed)."""
    job, _, rows = run_sql_job(server, keys, OWN, sql)
    assert job["Status"] == "Terminated", job
    return rows


def tags(server: Server, store: WriteStore, table: str = TARGET) -> dict[str, int]:
    """`table`'s rows counted by tag, after checking that no (event, tag) pair is doubled,
    that each tag present holds every source row, and that the catalog's row count (PyODPS's
    `record_num`, the partitions' totals) is what SQL reads."""
    rows = run(server, store.keys, f"SELECT event_id, gen FROM {table}")
    pairs = Counter((str(event_id), str(gen)) for event_id, gen in rows)
    doubled = [pair for pair, n in pairs.items() if n > 1]
    assert not doubled, f"{len(doubled)} rows of {table} are there more than once"
    counted = Counter(gen for _, gen in pairs)
    half = {gen: n for gen, n in counted.items() if n != ROWS}
    assert not half, f"a write is in {table} in part: {half} of {ROWS} rows"
    listed = client(server, store.keys, OWN).get_table(table).record_num
    assert listed == len(rows), f"the catalog counts {listed} rows, SQL reads {len(rows)}"
    return dict(counted)


def files_on_disk(store: WriteStore, table: str = TARGET) -> list[str]:
    """The files on disk in `table`'s folder and its `_staging` (whatever the catalog lists or
    not): a crash's leftovers are among them, and no query may read them."""
    found = list((store.data_dir / "warehouse").glob(f"*/{OWN}/{table}"))
    if not found:
        return []
    folder = found[0]
    return sorted(p.name for p in folder.rglob("*") if p.is_file())
