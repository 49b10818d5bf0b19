"""The ingest and lookup benchmark: PutEvents over HTTP, LookupEvents, and bytes on disk.

Prefills a store directly (10 million events over 90 days by default), then measures each
figure beside a baseline measured in the same run, and prints a summary table. See
bench/README.md. Quick try: `.venv/bin/python bench/ingest_lookup.py --quick`.
"""

from __future__ import annotations

import argparse
import operator
import pickle
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _events import DEFAULT_GEN_DIR, TimeWindow
from _lookup import Timing, overall, plan_queries, time_direct, time_http
from _prefill import PrefillResult, ValueStats, prefill
from _report import Row, lt, number, summary, table
from _servers import (
    Credentials,
    disk_usage,
    index_state,
    null_server,
    real_server,
    run_load,
    start_server,
    stop,
)
from _sqlite_baseline import BaselineResult, run_baseline
from _trail_phase import memory_mb, profile_window, sampled_server, start_trail, stop_trail
from trailhouse.client import RpcClient
from trailhouse.events.model import LookupKey
from trailhouse.runtime import open_services
from trailhouse.settings import Settings

TARGET_EVENTS_PER_SECOND = 25_000.0
TARGET_P50_MS = 10.0
TARGET_P99_MS = 50.0
TARGET_GB_PER_MILLION = 1.3
TARGET_SEARCHABLE_S = 1.0  # an acknowledged event found by LookupEvents (p99), issue 23
TARGET_TRAIL_SHARE = 0.6  # PutEvents with a trail logging, of the null-store ceiling (issue 23)


@dataclass(frozen=True, slots=True)
class Prepared:
    """The prefilled store: its account, what it holds, and the direct lookup timings."""

    credentials: Credentials
    stats: ValueStats
    window: TimeWindow
    prefill: PrefillResult | None


def say(message: str) -> None:
    """Progress on stderr, so stdout holds only the figures."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def arguments() -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--prefill", type=int, default=10_000_000, help="events stored first")
    parser.add_argument("--quick", action="store_true", help="200k prefill, 10 s of load")
    parser.add_argument("--seconds", type=float, default=30.0, help="seconds of PutEvents load")
    parser.add_argument(
        "--event-times",
        choices=("live", "pool"),
        default="live",
        help="live: events sent as they happen, timed at the moment of sending (a live "
        "producer); pool: a day's generated times, the same 20,000 again and again (a backfill "
        "of a day, the index's worst case)",
    )
    parser.add_argument("--load-procs", type=int, default=2, help="load processes")
    parser.add_argument("--load-threads", type=int, default=4, help="threads per load process")
    parser.add_argument("--queries", type=int, default=200, help="LookupEvents queries per key")
    parser.add_argument("--prefill-workers", type=int, default=2, help="event-making processes")
    parser.add_argument("--baseline-events", type=int, default=100_000)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/trailhouse-bench"))
    parser.add_argument("--reuse", action="store_true", help="reuse a prefilled --workdir")
    parser.add_argument("--port", type=int, default=18777)
    parser.add_argument("--null-port", type=int, default=18778)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--gen-dir", type=Path, default=DEFAULT_GEN_DIR)
    parser.add_argument(
        "--database-url", default="", help="benchmark the PostgreSQL store (an empty database)"
    )
    parser.add_argument("--skip-null", action="store_true", help="no null-store ceiling run")
    parser.add_argument(
        "--trail", action="store_true", help="load again with a trail logging (delivery on)"
    )
    parser.add_argument(
        "--profile", action="store_true", help="sample the server's stacks in each load phase"
    )
    parsed = parser.parse_args()
    if parsed.quick:
        parsed.prefill = min(parsed.prefill, 200_000)
        parsed.seconds = min(parsed.seconds, 10.0)
        parsed.baseline_events = min(parsed.baseline_events, 20_000)
    return parsed


def settings_for(args: argparse.Namespace, data_dir: Path) -> Settings:
    """The settings the benchmark opens stores with (never the caller's environment)."""
    return Settings.load({"data_dir": data_dir, "database_url": args.database_url}, environ={})


def prepare(args: argparse.Namespace, data_dir: Path, state_path: Path) -> Prepared:
    """A prefilled store: made now, or the one a previous run left (--reuse)."""
    if args.reuse and state_path.exists():
        # The benchmark's own file from an earlier run in the same work directory.
        state: Prepared = pickle.loads(state_path.read_bytes())  # noqa: S301
        say(f"reusing the prefilled store in {data_dir} ({state.stats.events:,} events)")
        return state
    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True)
    services = open_services(settings_for(args, data_dir))
    try:
        created = services.accounts.create_account()
        credentials = Credentials(
            created.account_id, created.access_key_id, created.access_key_secret
        )
        window = TimeWindow.last_days(int(time.time()), 90)
        say(f"prefilling {args.prefill:,} events over 90 days into {data_dir}")
        result = prefill(
            services.stores.events,
            gen_dir=args.gen_dir,
            seed=args.seed,
            account_id=credentials.account_id,
            total=args.prefill,
            window=window,
            workers=args.prefill_workers,
        )
    finally:
        services.close()
    say(
        f"prefill done: {result.seconds:.0f} s ({result.stats.events / result.seconds:,.0f}/s), "
        f"append {result.append_seconds:.0f} s, catch_up {result.catch_up_seconds:.1f} s"
        f"{'' if result.caught_up else ' (TIMED OUT)'}"
    )
    prepared = Prepared(credentials, result.stats, window, result)
    state_path.write_bytes(pickle.dumps(prepared))
    return prepared


def lookup_table(direct: list[Timing], http: list[Timing]) -> str:
    """Per-key p50/p99 on the store and over HTTP."""
    rows = []
    by_key = {timing.key: timing for timing in http}
    for timing in direct:
        over = by_key.get(timing.key)
        rows.append(
            [
                timing.key.value,
                str(len(timing.latencies)),
                number(timing.percentile(0.5) * 1000, "ms"),
                number(timing.percentile(0.99) * 1000, "ms"),
                number(over.percentile(0.5) * 1000, "ms") if over else "n/a",
                number(over.percentile(0.99) * 1000, "ms") if over else "n/a",
                f"{timing.mean_hits:.1f}",
                f"{sum(1 for hit in timing.hits if hit == 0) / len(timing.hits):.0%}",
            ]
        )
    headers = ("key", "n", "store p50", "store p99", "HTTP p50", "HTTP p99", "hits", "empty")
    return table(headers, rows)


def load_figures(results: list[dict[str, Any]]) -> dict[str, Any]:
    """The load processes' figures, added up."""
    elapsed = max(result["elapsed"] for result in results)
    latencies = [lat for result in results for lat in result["latencies"]]
    lags = [lag for result in results for lag in result["probe_lags"]]
    finals = [result["final_lag"] for result in results if result["final_lag"] is not None]
    polls = [poll for result in results for poll in result.get("probe_polls", [])]
    poll_timing = Timing(LookupKey.EVENT_ID, [took for took, _ in polls] or [0.0], [])
    timing = Timing(LookupKey.EVENT_ID, latencies or [0.0], [])
    lag_timing = Timing(LookupKey.EVENT_ID, lags or [0.0], [])
    return {
        "rate": sum(result["accepted"] for result in results) / elapsed,
        "accepted": sum(result["accepted"] for result in results),
        "failed": sum(result["failed"] for result in results),
        "errors": sum(result["errors"] for result in results),
        "error_samples": [s for result in results for s in result["error_samples"]][:3],
        "p50_ms": timing.percentile(0.5) * 1000,
        "p99_ms": timing.percentile(0.99) * 1000,
        "lag_p50": lag_timing.percentile(0.5) if lags else None,
        "lag_p99": lag_timing.percentile(0.99) if lags else None,
        "probes": len(lags),
        "lag_max": max(lags) if lags else None,
        "final_lag": max(finals) if finals else None,
        "polls": len(polls),
        "polls_missed": sum(1 for _, found in polls if not found),
        "poll_p50": poll_timing.percentile(0.5),
        "poll_p99": poll_timing.percentile(0.99),
        "poll_max": max((took for took, _ in polls), default=0.0),
    }


def describe_load(name: str, figures: dict[str, Any]) -> None:
    """Print one load run's figures."""
    print(
        f"{name}: {figures['rate']:,.0f} events/s accepted ({figures['accepted']:,} events, "
        f"{figures['failed']} failed, {figures['errors']} request errors), "
        f"request p50 {figures['p50_ms']:.1f} ms, p99 {figures['p99_ms']:.1f} ms"
    )
    for sample in figures["error_samples"]:
        print(f"  error: {sample}")
    if figures["lag_p50"] is not None:
        print(
            f"  searchable after ack ({figures['probes']} probes, one every 0.5 s): "
            f"p50 {figures['lag_p50']:.3f} s, p99 {figures['lag_p99']:.3f} s, "
            f"max {figures['lag_max']:.3f} s"
        )
        print(
            f"  the probes' LookupEvents calls: p50 {figures['poll_p50']:.3f} s, p99 "
            f"{figures['poll_p99']:.3f} s, max {figures['poll_max']:.3f} s; "
            f"{figures['polls_missed']} of {figures['polls']} found nothing yet (a lag made of "
            "polls that found their event at once is LookupEvents' latency, not the index's)"
        )
    if figures["final_lag"] is not None:
        print(f"  last event of the run searchable {figures['final_lag']:.3f} s after its ack")
    index = figures.get("index")
    if index:
        # The probes ask for the newest events only; these say whether older ones stayed
        # findable (the tail let none go) and what the index cost PutEvents.
        print(
            f"  at the end: the index {index['behind']:,} events behind the log, "
            f"{index['let_go']:,} acknowledged events let go unindexed (not findable until "
            f"indexed), PutEvents waited {index['waited']:.1f} s for the index in all"
        )


def main() -> int:
    """Run every phase and print the summary."""
    args = arguments()
    workdir: Path = args.workdir
    workdir.mkdir(parents=True, exist_ok=True)
    data_dir = workdir / "data"
    prepared = prepare(args, data_dir, workdir / "prefill-state.pickle")
    stats, credentials = prepared.stats, prepared.credentials
    print(f"prefilled: {stats.events:,} events over 90 days ({stats.stored:,} newly stored)")

    # Windows must stay inside the 90 days the server searches, however old the prefill is.
    oldest = max(prepared.window.start, int(time.time()) - 90 * 86400 + 3600)
    queries = plan_queries(
        stats,
        oldest,
        prepared.window.start + prepared.window.span,
        args.queries,
        args.seed,
    )
    services = open_services(settings_for(args, data_dir))
    try:
        # A store a previous run left (--reuse) may still have events to index.
        begun = time.perf_counter()
        if not services.stores.events.catch_up(timeout=3600):
            say("the store did not catch up within an hour")
        say(f"store caught up in {time.perf_counter() - begun:.1f} s")
        say(f"{len(queries)} lookups on the store directly")
        direct = time_direct(services.stores.events, credentials.account_id, queries)
        log_stats = services.stores.events.stats()
    finally:
        services.close()

    # PostgreSQL keeps its files elsewhere: there the log's own count is all there is.
    on_disk = log_stats.bytes_on_disk if args.database_url else disk_usage(data_dir)
    # The log's own count: with --reuse it also holds the events earlier load runs added.
    stored_events = log_stats.events or stats.events
    gb_per_million = on_disk / stored_events * 1e6 / 1e9
    json_per_million = stats.json_bytes / stats.events * 1e6 / 1e9
    print(
        f"on disk: {on_disk / 1e9:.3f} GB for {stored_events:,} events = "
        f"{gb_per_million:.3f} GB per million (raw JSON {json_per_million:.3f} GB per million; "
        f"the log's own stats say {log_stats.bytes_on_disk / 1e9:.3f} GB, {log_stats.events:,} "
        "events)"
    )

    say("raw SQLite baseline")
    baseline: BaselineResult | None = (
        None if args.database_url else run_baseline(data_dir, args.baseline_events)
    )
    if baseline is None:
        print("raw SQLite baseline: no SQLite file with events found under the data directory")
    else:
        print(
            f"raw SQLite inserts: {baseline.events_per_second:,.0f} events/s ({baseline.events:,} "
            f"events, {baseline.rows:,} rows in {baseline.tables} tables with {baseline.indexes} "
            f"indexes, copied from {baseline.source.name}, 100 per fsynced commit)"
        )

    endpoint = f"http://127.0.0.1:{args.port}"
    say(f"starting trailhouse serve on {endpoint}")
    command = (
        sampled_server(data_dir, args.port, workdir / "profile")
        if args.profile
        else real_server(data_dir, args.port)
    )
    server = start_server(
        command, args.port, workdir / "server.log", database_url=args.database_url
    )
    sampled = server if args.profile else None
    trail: dict[str, Any] | None = None
    drained: tuple[int, float | None] = (0, None)
    try:
        client = RpcClient(endpoint, credentials.key_id, credentials.secret)
        say(f"{len(queries)} lookups over HTTP")
        http = time_http(client, queries)
        client.close()
        say(f"PutEvents load for {args.seconds:.0f} s")

        def measured_load(label: str) -> dict[str, Any]:
            """One full-rate PutEvents run, inside a profile window when profiling."""
            profile_window(sampled, start=True)
            figures = load_figures(
                run_load(
                    endpoint,
                    credentials,
                    processes=args.load_procs,
                    threads=args.load_threads,
                    seconds=args.seconds,
                    probe=True,
                    workdir=workdir,
                    gen_dir=args.gen_dir,
                    label=label,
                    times=args.event_times,
                )
            )
            profile_window(sampled, start=False)
            figures["index"] = index_state(endpoint)
            return figures

        real = measured_load("real")
        if args.trail:
            client = RpcClient(endpoint, credentials.key_id, credentials.secret)
            start_trail(client, credentials.account_id)
            say(f"PutEvents load for {args.seconds:.0f} s with a trail logging")
            trail = measured_load("trail")
            drained = stop_trail(client, timeout=600.0)
            client.close()
        memory_now, memory_peak, memory_anonymous, memory_files = memory_mb(server.pid)
    finally:
        stop(server)

    print()
    print(f"LookupEvents, one attribute, 7-day window, MaxResults 50, {args.queries} per key:")
    print(lookup_table(direct, http))
    print()
    describe_load("PutEvents into trailhouse", real)
    if trail is not None:
        describe_load("PutEvents into trailhouse, a trail logging", trail)
        backlog, seconds = drained
        took = f"{seconds:.1f} s" if seconds is not None else "NOT within 600 s"
        print(f"  undelivered when the trail stopped: {backlog:,} events, delivered in {took}")
    print(
        f"server resident memory: {memory_now:,.0f} MB at the end ({memory_anonymous:,.0f} MB "
        f"anonymous, {memory_files:,.0f} MB mapped files), {memory_peak:,.0f} MB peak"
    )

    null: dict[str, Any] | None = None
    if not args.skip_null:
        null_dir = workdir / "null"
        shutil.rmtree(null_dir, ignore_errors=True)
        null_dir.mkdir(parents=True)
        null_services = open_services(settings_for(args, null_dir))
        try:
            made = null_services.accounts.create_account()
        finally:
            null_services.close()
        null_credentials = Credentials(made.account_id, made.access_key_id, made.access_key_secret)
        null_endpoint = f"http://127.0.0.1:{args.null_port}"
        say(f"null-store server on {null_endpoint}")
        command = null_server(null_dir, args.null_port, args.database_url)
        process = start_server(command, args.null_port, workdir / "null-server.log")
        try:
            null = load_figures(
                run_load(
                    null_endpoint,
                    null_credentials,
                    processes=args.load_procs,
                    threads=args.load_threads,
                    seconds=args.seconds,
                    probe=False,
                    workdir=workdir,
                    gen_dir=args.gen_dir,
                    label="null",
                    times=args.event_times,
                )
            )
        finally:
            stop(process)
        describe_load("PutEvents into the null store (HTTP + parse ceiling)", null)

    direct_all, http_all = overall(direct), overall(http)
    worst_p50 = max(t.percentile(0.5) for t in http) * 1000
    worst_p99 = max(t.percentile(0.99) for t in http) * 1000
    rows = [
        Row(
            f"PutEvents events/s ({stats.events / 1e6:g}M stored)",
            real["rate"],
            "/s",
            null["rate"] if null else None,
            "null store",
            TARGET_EVENTS_PER_SECOND,
        ),
        Row(
            "PutEvents events/s vs raw SQLite",
            real["rate"],
            "/s",
            baseline.events_per_second if baseline else None,
            "raw SQLite",
            TARGET_EVENTS_PER_SECOND,
        ),
        Row("PutEvents request p99", real["p99_ms"], "ms", null["p99_ms"] if null else None,
            "null store"),
        *(
            [
                Row("PutEvents events/s, trail logging", trail["rate"], "/s",
                    null["rate"] if null else None, "null store",
                    TARGET_TRAIL_SHARE * null["rate"] if null else None),
                Row("PutEvents, trail logging vs none", trail["rate"], "/s", real["rate"],
                    "no trail"),
            ]
            if trail is not None
            else []
        ),
        Row("server peak resident memory", memory_peak, "MB"),
        Row("server anonymous memory at the end", memory_anonymous, "MB"),
        Row("searchable after ack p50", real["lag_p50"], "s"),
        Row("searchable after ack p99", real["lag_p99"], "s", None, "", TARGET_SEARCHABLE_S, lt),
        Row("searchable after ack max", real["lag_max"], "s"),
        Row("searchable after last ack", real["final_lag"], "s"),
        # Item 1 for every acknowledged event, not only the newest the probes ask for.
        Row("acknowledged, let go unindexed", real["index"]["let_go"], "events", None, "", 0,
            operator.le),
        Row("LookupEvents HTTP p50, all keys", http_all.percentile(0.5) * 1000, "ms",
            direct_all.percentile(0.5) * 1000, "store", TARGET_P50_MS, lt),
        Row("LookupEvents HTTP p99, all keys", http_all.percentile(0.99) * 1000, "ms",
            direct_all.percentile(0.99) * 1000, "store", TARGET_P99_MS, lt),
        Row("LookupEvents HTTP p50, worst key", worst_p50, "ms",
            max(t.percentile(0.5) for t in direct) * 1000, "store", TARGET_P50_MS, lt),
        Row("LookupEvents HTTP p99, worst key", worst_p99, "ms",
            max(t.percentile(0.99) for t in direct) * 1000, "store", TARGET_P99_MS, lt),
        Row("disk per million events", gb_per_million, "GB", json_per_million, "raw JSON",
            TARGET_GB_PER_MILLION, operator.le),
    ]  # fmt: skip
    print()
    print(summary(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
