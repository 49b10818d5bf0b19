"""LookupEvents queries drawn from the prefilled data, timed on the store and over HTTP.

For each attribute key, half the values are drawn weighted by how often they occur (popular)
and half from the rarest tenth of the distinct values (rare); EventId values come from a sample
of stored events. Every query asks for one page of 50 over a 7-day window.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from _prefill import ValueStats
from trailhouse.client import RpcClient
from trailhouse.events.model import Direction, LookupKey, LookupQuery
from trailhouse.store.ports import EventLog

WEEK = 7 * 86400
PAGE = 50


@dataclass(frozen=True, slots=True)
class QuerySpec:
    """One LookupEvents query: a single attribute condition over [start, end]."""

    key: LookupKey
    value: str
    start: int
    end: int
    kind: str


@dataclass(frozen=True, slots=True)
class Timing:
    """Latencies (seconds) and result counts of one key's queries on one path."""

    key: LookupKey
    latencies: list[float]
    hits: list[int]

    def percentile(self, fraction: float) -> float:
        """The latency below which `fraction` of the queries finished (nearest rank)."""
        ordered = sorted(self.latencies)
        rank = max(0, min(len(ordered) - 1, round(fraction * len(ordered) + 0.5) - 1))
        return ordered[rank]

    @property
    def mean_hits(self) -> float:
        """Average events per page."""
        return sum(self.hits) / max(1, len(self.hits))


def plan_queries(
    stats: ValueStats, data_start: int, data_end: int, per_key: int, seed: int
) -> list[QuerySpec]:
    """`per_key` queries for every lookup key, half popular values and half rare ones."""
    rng = random.Random(seed)
    first_end = min(data_end, data_start + WEEK)
    queries: list[QuerySpec] = []
    for key in LookupKey:
        for number in range(per_key):
            kind = "popular" if number % 2 == 0 else "rare"
            if key is LookupKey.EVENT_ID:
                event_id, event_time = rng.choice(stats.id_samples)
                end = max(first_end, min(data_end, event_time + rng.randrange(WEEK)))
                queries.append(QuerySpec(key, event_id, end - WEEK, end, "sample"))
                continue
            value = _draw(stats, key, kind, rng)
            end = rng.randrange(first_end, data_end + 1)
            queries.append(QuerySpec(key, value, end - WEEK, end, kind))
    return queries


def _draw(stats: ValueStats, key: LookupKey, kind: str, rng: random.Random) -> str:
    counter = stats.counts[key]
    if kind == "popular":
        values, weights = zip(*counter.items(), strict=True)
        return str(rng.choices(values, weights=weights)[0])
    ordered = [value for value, _ in sorted(counter.items(), key=lambda item: item[1])]
    rare = ordered[: max(1, len(ordered) // 10)]
    return rng.choice(rare)


def time_direct(log: EventLog, account_id: str, queries: list[QuerySpec]) -> list[Timing]:
    """Run `queries` on the event log itself."""

    def run(query: QuerySpec) -> int:
        page = log.lookup(
            LookupQuery(
                account_id=account_id,
                start=query.start,
                end=query.end,
                direction=Direction.BACKWARD,
                conditions=((query.key, query.value),),
                limit=PAGE,
            )
        )
        return len(page.events)

    return _time_all(queries, run)


def time_http(client: RpcClient, queries: list[QuerySpec]) -> list[Timing]:
    """Run `queries` as signed LookupEvents calls."""

    def run(query: QuerySpec) -> int:
        answer = client.call(
            "LookupEvents",
            {
                "StartTime": _format(query.start),
                "EndTime": _format(query.end),
                "MaxResults": str(PAGE),
                "LookupAttribute.1.Key": query.key.value,
                "LookupAttribute.1.Value": query.value,
            },
        )
        return len(answer.get("Events") or [])

    return _time_all(queries, run)


def _format(epoch: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def _time_all(queries: list[QuerySpec], run: Callable[[QuerySpec], int]) -> list[Timing]:
    for query in queries[:: max(1, len(queries) // 20)]:
        run(query)  # warm-up: connections, statement caches; not counted
    by_key: dict[LookupKey, tuple[list[float], list[int]]] = {}
    for query in queries:
        begun = time.perf_counter()
        hits = run(query)
        elapsed = time.perf_counter() - begun
        latencies, counts = by_key.setdefault(query.key, ([], []))
        latencies.append(elapsed)
        counts.append(hits)
    return [Timing(key, latencies, hits) for key, (latencies, hits) in by_key.items()]


def overall(timings: list[Timing]) -> Timing:
    """All keys' queries as one set (for the summary line)."""
    return Timing(
        LookupKey.EVENT_ID,
        [lat for timing in timings for lat in timing.latencies],
        [hit for timing in timings for hit in timing.hits],
    )
