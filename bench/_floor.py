"""The floor under issue 23's item 2: the CPU an event of the parts any server that keeps
trailhouse's promises must run, each measured here in the benchmark's own process.

Three parts no design of the store removes: the request path the null store already runs
(HTTP, the signature, parsing and validating each event: the null server's CPU an event, from
its load), inserting the event's index rows into SQLite durably (`_sqlite_baseline`: the store's
own rows and schema into a fresh file, 100 events a fsynced transaction, so cheaper than into
a large day), and encoding the trail's Parquet file from the stored bodies (`encode`, what the
encoder's helper runs). Their sum beside the budget (`ingest_pairs.budget`) says how much room
the budget leaves for everything else: the log, compression, the duplicate check, the tail,
delivery's reading and the hand-offs between threads and processes.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from pathlib import Path

from _sqlite_baseline import run_baseline
from trailhouse.events.recorder import shown
from trailhouse.store.sqlite.event_log import SqliteEventLog
from trailhouse.warehouse.encoder import encode

ENCODE_EVENTS = 20_000  # a delivery batch of the benchmark's trail
ENCODE_RUNS = 3  # the median is taken
INDEX_EVENTS = 50_000


@dataclass(frozen=True, slots=True)
class Floor:
    """µs of CPU an event of each part measured in this process."""

    index: float  # raw SQLite inserts of the index rows, fsynced in transactions of 100
    encode: float  # the trail's Parquet file (0: no trail logs in the loads, not measured)


def index_cpu(data_dir: Path, events: int = INDEX_EVENTS) -> float:
    """µs of CPU an event to insert the store's own index rows again (`run_baseline`)."""
    result = run_baseline(data_dir, events)
    if result is None:
        raise RuntimeError(f"no day file with events under {data_dir}")
    return result.cpu_seconds * 1e6 / result.events


def encode_cpu(events_dir: Path, events: int = ENCODE_EVENTS) -> float:
    """µs of this thread's CPU an event to encode the log's newest `events` as one file."""
    log = SqliteEventLog(events_dir, gather_seconds=0.0, index_paused=True)
    try:
        rows = log.read_after(max(log.last_seq() - events, 0), events)
    finally:
        log.close()
    if not rows:
        raise RuntimeError(f"no events in the log under {events_dir}")
    bodies = [row.body for row in rows]
    recorded_by = [shown(row.recorder) for row in rows]
    encode(bodies, recorded_by)  # imports, first calls and the allocator's growth: not timed
    timings = []
    for _ in range(ENCODE_RUNS):
        begun = time.thread_time()
        encode(bodies, recorded_by)
        timings.append(time.thread_time() - begun)
    return statistics.median(timings) * 1e6 / len(rows)


def measure(data_dir: Path, trail: bool) -> Floor:
    """The parts, on the store under `data_dir` (no server may hold it meanwhile); the trail's
    encoding only when a trail logs in the loads (`trail`)."""
    encoding = encode_cpu(data_dir / "events") if trail else 0.0
    return Floor(index=index_cpu(data_dir), encode=encoding)
