"""The scale benchmark's baseline: PostgreSQL inserting the rows a trailhouse phase stored.

The rows of a phase's `events` table are read back as stored (bodies compressed, arrays as
they are) and inserted again into a fresh schema made with trailhouse's own DDL and partitions,
100 rows per transaction, from as many connections as the load had threads, spread over a few
processes so that Python is not what limits it, for a set time. Each connection goes through
its share of the rows and, when it runs out before the time is up, goes through them again with
new event ids (as the load reuses its batches). Three ways:

- **plain**: one `INSERT ... SELECT FROM unnest(...)` per batch, committed: PostgreSQL's own
  rate for these rows, these indexes and this commit setting (synchronous_commit as the server
  has it).
- **locked**: the same INSERT inside a transaction that first locks one head row and updates
  it before committing, as trailhouse's log did before schema 6: commits one at a time.
- **trailhouse**: trailhouse's own append transaction (`event_log._insert`: the shared advisory
  lock, the INSERT numbered from the transaction id with ON CONFLICT and RETURNING), without
  HTTP, parsing, validation or compression.
"""

from __future__ import annotations

import itertools
import multiprocessing
import queue
import resource
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg

from _scale_procs import Cluster, cpu_between, sample_cpu

# The server's own statement and transaction, so the sequenced baseline is exactly its SQL.
from trailhouse.store.postgres.event_log import _array_literal, _insert
from trailhouse.store.postgres.horizon import log_key
from trailhouse.store.postgres.schema import create_partitions, create_schema

BATCH = 100
PLAIN, LOCKED, SEQUENCED = "plain", "locked", "trailhouse"

_COLUMNS = (
    "seq, account_id, event_id, event_time, day, accepted_ms, event_name, service_name, "
    "event_rw, user_name, access_key_id, resource_types, resource_names, body, recorder, "
    "event_type, source_ip, sensitive, role_name, dict_id, recorder_id"
)
_PLAIN_INSERT = f"""
INSERT INTO events ({_COLUMNS})
SELECT
    u.seq, u.account_id, u.event_id, u.event_time, u.day, u.accepted_ms, u.event_name,
    u.service_name, u.event_rw, u.user_name, u.access_key_id,
    u.resource_types::TEXT[], u.resource_names::TEXT[], u.body, u.recorder, u.event_type,
    u.source_ip, u.sensitive, u.role_name, u.dict_id, u.recorder_id
FROM unnest(
    %s::BIGINT[], %s::TEXT[], %s::TEXT[], %s::BIGINT[], %s::INTEGER[], %s::BIGINT[], %s::TEXT[],
    %s::TEXT[], %s::TEXT[], %s::TEXT[], %s::TEXT[], %s::TEXT[], %s::TEXT[], %s::BYTEA[],
    %s::TEXT[], %s::TEXT[], %s::TEXT[], %s::BOOLEAN[], %s::TEXT[], %s::SMALLINT[],
    %s::INTEGER[]
) AS u(
    seq, account_id, event_id, event_time, day, accepted_ms, event_name, service_name,
    event_rw, user_name, access_key_id, resource_types, resource_names, body, recorder,
    event_type, source_ip, sensitive, role_name, dict_id, recorder_id
)
"""
_HEAD = "CREATE TABLE IF NOT EXISTS bench_head (id INTEGER PRIMARY KEY, n BIGINT NOT NULL)"

Row = tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class BaselinePlan:
    """How one baseline run inserts: which way, from how many connections, for how long."""

    mode: str  # PLAIN or SEQUENCED
    connections: int
    processes: int
    seconds: float


@dataclass(frozen=True, slots=True)
class BaselineResult:
    """One way of inserting the rows: how fast, and who used the CPU."""

    mode: str
    rows: int  # rows inserted (counted in the table afterwards)
    distinct: int  # rows read from the phase (reused with new ids when the time allows)
    connections: int
    processes: int
    seconds: float
    errors: int
    server_cpu: float  # PostgreSQL backends of the baseline's connections, CPU seconds
    other_postgres_cpu: float
    client_cpu: float
    machine_cpu: float

    @property
    def own_cpu(self) -> float:
        """CPU seconds of the baseline's clients and of PostgreSQL (all its processes)."""
        return self.server_cpu + self.other_postgres_cpu + self.client_cpu

    @property
    def rate(self) -> float:
        """Rows inserted per second."""
        return self.rows / self.seconds if self.seconds else 0.0


def read_rows(url: str) -> list[Row]:
    """Every row of the `events` table at `url`, in seq order, as stored."""
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(f"SELECT {_COLUMNS} FROM events ORDER BY seq").fetchall()


def _plain_params(rows: Sequence[Row]) -> list[Any]:
    columns = [list(column) for column in zip(*rows, strict=True)]
    columns[11] = [_array_literal(tuple(v)) for v in columns[11]]
    columns[12] = [_array_literal(tuple(v)) for v in columns[12]]
    columns[13] = [bytes(b) for b in columns[13]]
    return columns


def _sequenced_params(rows: Sequence[Row]) -> list[Any]:
    columns = _plain_params(rows)
    # _insert's order: the batch's dictionary, then every column but seq (0) and accepted_ms
    # (5), which are its own, with the recorder's id (20) in place of its text (14).
    order = (1, 2, 3, 4, *range(6, 14), 20, *range(15, 19))
    return [columns[19][0], *(columns[i] for i in order)]


def _insert_batch(conn: psycopg.Connection[Any], mode: str, params: list[Any], key: int) -> None:
    if mode == PLAIN:
        with conn.transaction():
            conn.execute(_PLAIN_INSERT, params)
    elif mode == LOCKED:
        with conn.transaction():
            conn.execute("SELECT n FROM bench_head WHERE id = 1 FOR UPDATE")
            conn.execute(_PLAIN_INSERT, params)
            conn.execute("UPDATE bench_head SET n = n + %s WHERE id = 1", (len(params[0]),))
    else:
        _insert(conn, key, 0, params)


def _renamed(mode: str, params: list[Any], turn: int) -> list[Any]:
    """A batch's parameters with new event ids for its `turn`-th reuse (0: as stored)."""
    if not turn:
        return params
    column = 2  # the event ids: after seq (plain) or after the dictionary id (trailhouse)
    renamed = list(params)
    renamed[column] = [f"r{turn}-{event_id}" for event_id in params[column]]
    return renamed


def _worker(
    url: str,
    plan: BaselinePlan,
    tag: str,
    batches: list[list[Any]],
    threads: int,
    channels: tuple[Any, Any, Any],
) -> None:
    """A process of the baseline: `threads` connections, each inserting its share of batches
    until `plan.seconds` have passed. The connections stay open until released, so that their
    backends' CPU can be read first."""
    out, go, release = channels
    conns = [
        psycopg.connect(url, autocommit=True, prepare_threshold=None, application_name=tag)
        for _ in range(threads)
    ]
    keys = [log_key(conn) for conn in conns]
    errors = [0] * threads
    deadline = [0.0]

    def run(number: int) -> None:
        mine = batches[number::threads]
        for turn in itertools.count():
            for params in mine:
                if time.monotonic() >= deadline[0]:
                    return
                try:
                    renamed = _renamed(plan.mode, params, turn)
                    _insert_batch(conns[number], plan.mode, renamed, keys[number])
                except psycopg.Error:
                    errors[number] += 1

    out.put(("ready", 0.0))
    go.wait()
    deadline[0] = time.monotonic() + plan.seconds
    usage = resource.getrusage(resource.RUSAGE_SELF)
    begun_cpu = usage.ru_utime + usage.ru_stime
    workers = [threading.Thread(target=run, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    ended = time.monotonic()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    out.put(("done", (ended, usage.ru_utime + usage.ru_stime - begun_cpu, sum(errors))))
    release.wait(timeout=600)
    for conn in conns:
        conn.close()


def _next(out: Any, children: Sequence[Any], timeout: float) -> Any:
    """The next message of the baseline's processes; fails when one of them died."""
    give_up = time.monotonic() + timeout
    while True:
        try:
            return out.get(timeout=1.0)
        except queue.Empty:
            if any(child.exitcode not in (None, 0) for child in children):
                raise RuntimeError("a baseline process failed") from None
            if time.monotonic() > give_up:
                raise RuntimeError(f"no answer from the baseline in {timeout:.0f} s") from None


def prepare_schema(cluster: Cluster, label: str, days: set[int]) -> str:
    """A fresh schema with trailhouse's tables, indexes and the rows' day partitions."""
    url = cluster.new_schema(label)
    with psycopg.connect(url, autocommit=True) as conn:
        create_schema(conn)
        create_partitions(conn, days)
        conn.execute(_HEAD)
        conn.execute("INSERT INTO bench_head VALUES (1, 0)")
    return url


def run_baseline(cluster: Cluster, rows: Sequence[Row], plan: BaselinePlan) -> BaselineResult:
    """Insert `rows` again into a fresh trailhouse schema as `plan` says; the rate and CPU use."""
    url = prepare_schema(cluster, f"base_{plan.mode}", {int(row[4]) for row in rows})
    make = _sequenced_params if plan.mode == SEQUENCED else _plain_params
    batches = [make(rows[start : start + BATCH]) for start in range(0, len(rows), BATCH)]
    processes = max(1, min(plan.processes, plan.connections))
    context = multiprocessing.get_context("fork")
    channels = (context.Queue(), context.Event(), context.Event())
    out, go, release = channels
    tag = f"{cluster.tag}-base"
    children = []
    for number in range(processes):
        threads = plan.connections // processes + (number < plan.connections % processes)
        # Batch b goes to process b mod processes, and within it to thread after thread: every
        # connection gets an even share, and no two share a row.
        share = batches[number::processes]
        arguments = (url, plan, tag, share, threads, channels)
        children.append(context.Process(target=_worker, args=arguments, daemon=True))
    finished = False
    for child in children:
        child.start()
    try:
        for _ in children:
            _next(out, children, 300)  # ready: connected, batches in hand
        before = sample_cpu(cluster.database_url, tag, ())
        begun = time.monotonic()
        go.set()
        ended, client_cpu, errors = begun, 0.0, 0
        for _ in children:
            value = _next(out, children, plan.seconds + 600)[1]
            ended = max(ended, value[0])
            client_cpu += value[1]
            errors += value[2]
        after = sample_cpu(cluster.database_url, tag, ())
        use = cpu_between(before, after)
        with psycopg.connect(url, autocommit=True) as conn:
            stored = conn.execute("SELECT count(*) FROM events").fetchone()
        finished = True
    finally:
        release.set()
        for child in children:
            # After a failure (or SIGTERM) nobody waits for the processes' inserts.
            child.join(timeout=60 if finished else 0.5)
            if child.is_alive():
                child.kill()
                child.join()
        cluster.drop_schema(url)
    return BaselineResult(
        mode=plan.mode,
        rows=int(stored[0]) if stored else 0,
        distinct=len(rows),
        connections=plan.connections,
        processes=processes,
        seconds=ended - begun,
        errors=errors,
        server_cpu=use.postgres_ours,
        other_postgres_cpu=use.postgres_other,
        client_cpu=client_cpu,
        machine_cpu=use.machine,
    )
