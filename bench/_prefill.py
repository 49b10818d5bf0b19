"""Prefilling the store directly: events drawn and validated in worker processes, appended here.

Workers generate and validate chunks of events (the CPU-heavy part) and send back plain tuples;
this process appends them to the event log in big batches, counts attribute values (so lookups
can ask for popular and rare ones) and keeps a sample of event ids.
"""

from __future__ import annotations

import collections
import concurrent.futures
import multiprocessing
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _events import TimeWindow, chunk_events
from trailhouse.events.model import EventRecord, LookupKey
from trailhouse.events.validation import ValidationLimits, validate_event
from trailhouse.store.ports import EventLog

# Keys whose values are counted; EventId is sampled instead and EventRW has two values.
COUNTED_KEYS = (
    LookupKey.SERVICE_NAME,
    LookupKey.EVENT_NAME,
    LookupKey.USER,
    LookupKey.RESOURCE_TYPE,
    LookupKey.RESOURCE_NAME,
    LookupKey.EVENT_ACCESS_KEY_ID,
    LookupKey.EVENT_RW,
    LookupKey.EVENT_TYPE,
    LookupKey.SOURCE_IP_ADDRESS,
    LookupKey.SENSITIVE_ACTION,
    LookupKey.ROLE_NAME,
)
ID_SAMPLE_EVERY = 997  # a prime, so the sample does not beat with the generator's patterns
RecordTuple = tuple[Any, ...]


@dataclass
class ValueStats:
    """What the prefill stored: value counts per lookup key, sampled ids, raw JSON bytes."""

    counts: dict[LookupKey, collections.Counter[str]] = field(
        default_factory=lambda: {key: collections.Counter() for key in COUNTED_KEYS}
    )
    id_samples: list[tuple[str, int]] = field(default_factory=list)
    events: int = 0
    stored: int = 0
    json_bytes: int = 0

    def merge(self, other: ValueStats) -> None:
        """Add `other`'s counts and samples to these."""
        for key, counter in other.counts.items():
            self.counts[key].update(counter)
        self.id_samples.extend(other.id_samples)
        self.events += other.events
        self.json_bytes += other.json_bytes


@dataclass(frozen=True, slots=True)
class ChunkJob:
    """One chunk of the prefill stream, for a worker process."""

    gen_dir: Path
    seed: int
    window: TimeWindow
    account_id: str
    index: int
    size: int
    total: int
    now: int
    retention_seconds: int


@dataclass(frozen=True, slots=True)
class PrefillResult:
    """How the prefill went."""

    stats: ValueStats
    seconds: float
    append_seconds: float
    catch_up_seconds: float
    caught_up: bool


def make_chunk(job: ChunkJob) -> tuple[list[RecordTuple], ValueStats]:
    """Generate and validate one chunk (runs in a worker process)."""
    limits = ValidationLimits(
        now=job.now,
        retention_seconds=job.retention_seconds,
        max_future_seconds=900,
        max_event_bytes=256 * 1024,
    )
    events = chunk_events(
        job.gen_dir, job.seed, job.window, job.account_id, job.index, job.size, job.total
    )
    stats = ValueStats()
    counts = stats.counts
    rows: list[RecordTuple] = []
    for number, event in enumerate(events):
        record = validate_event(event, account_id=job.account_id, limits=limits)
        rows.append(
            (
                record.account_id,
                record.event_id,
                record.event_time,
                record.event_name,
                record.service_name,
                record.event_rw,
                record.user_name,
                record.access_key_id,
                record.resource_types,
                record.resource_names,
                record.body,
                record.recorder,
                record.event_type,
                record.source_ip,
                record.sensitive,
                record.role_name,
            )
        )
        counts[LookupKey.EVENT_TYPE][record.event_type] += 1
        counts[LookupKey.SENSITIVE_ACTION][record.sensitive] += 1
        if record.source_ip:
            counts[LookupKey.SOURCE_IP_ADDRESS][record.source_ip] += 1
        if record.role_name:
            counts[LookupKey.ROLE_NAME][record.role_name] += 1
        counts[LookupKey.SERVICE_NAME][record.service_name] += 1
        counts[LookupKey.EVENT_NAME][record.event_name] += 1
        counts[LookupKey.EVENT_RW][record.event_rw] += 1
        if record.user_name:
            counts[LookupKey.USER][record.user_name] += 1
        if record.access_key_id:
            counts[LookupKey.EVENT_ACCESS_KEY_ID][record.access_key_id] += 1
        for value in record.resource_types:
            counts[LookupKey.RESOURCE_TYPE][value] += 1
        for value in record.resource_names:
            counts[LookupKey.RESOURCE_NAME][value] += 1
        if number % ID_SAMPLE_EVERY == 0:
            stats.id_samples.append((record.event_id, record.event_time))
        stats.json_bytes += len(record.body)
    stats.events = len(rows)
    return rows, stats


def prefill(
    log: EventLog,
    *,
    gen_dir: Path,
    seed: int,
    account_id: str,
    total: int,
    window: TimeWindow,
    workers: int,
    chunk_size: int = 20_000,
    append_size: int = 20_000,
    catch_up_timeout: float = 3600.0,
) -> PrefillResult:
    """Append `total` events spread over `window` to `log`, then wait until they are indexed."""
    started = time.perf_counter()
    now = int(time.time())
    jobs = [
        ChunkJob(
            gen_dir=gen_dir,
            seed=seed,
            window=window,
            account_id=account_id,
            index=index,
            size=min(chunk_size, total - index * chunk_size),
            total=total,
            now=now,
            retention_seconds=90 * 86400,
        )
        for index in range((total + chunk_size - 1) // chunk_size)
    ]
    stats = ValueStats()
    append_seconds = 0.0
    next_report = 0.1
    for rows, chunk_stats in _run_bounded(jobs, workers):
        records = [EventRecord(*row) for row in rows]
        for offset in range(0, len(records), append_size):
            begun = time.perf_counter()
            stored = log.append(records[offset : offset + append_size])
            append_seconds += time.perf_counter() - begun
            stats.stored += sum(stored)
        stats.merge(chunk_stats)
        if stats.events >= next_report * total:
            elapsed = time.perf_counter() - started
            print(
                f"  prefill: {stats.events:,} / {total:,} events "
                f"({stats.events / elapsed:,.0f}/s, append {append_seconds:.0f} s)",
                file=sys.stderr,
                flush=True,
            )
            next_report += 0.1
    begun = time.perf_counter()
    caught_up = log.catch_up(timeout=catch_up_timeout)
    catch_up_seconds = time.perf_counter() - begun
    return PrefillResult(
        stats=stats,
        seconds=time.perf_counter() - started,
        append_seconds=append_seconds,
        catch_up_seconds=catch_up_seconds,
        caught_up=caught_up,
    )


def _run_bounded(
    jobs: list[ChunkJob], workers: int
) -> Iterator[tuple[list[RecordTuple], ValueStats]]:
    """Results of `jobs` in order, with at most `workers + 1` chunks in flight (bounded memory)."""
    if workers <= 0:
        for job in jobs:
            yield make_chunk(job)
        return
    # Spawned, not forked: the store may already run threads (an indexer) in this process.
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        pending: collections.deque[concurrent.futures.Future[Any]] = collections.deque()
        queue = iter(jobs)
        for job in queue:
            pending.append(pool.submit(make_chunk, job))
            if len(pending) > workers:
                break
        while pending:
            result: tuple[list[RecordTuple], ValueStats] = pending.popleft().result()
            following = next(queue, None)
            if following is not None:
                pending.append(pool.submit(make_chunk, following))
            yield result
