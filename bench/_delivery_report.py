"""The delivery benchmark's report: each phase's figures, the logging phase second by second,
the SQL probes, the exactly-once checks and the summary beside its same-run baselines."""

from __future__ import annotations

import argparse
import bisect
import itertools
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from _delivery_load import RATE_TOLERANCE, TARGET_LAG_P99_SECONDS, TRAIL, Sent, percentile
from _delivery_phases import Backfill, MainResult, OnceCheck, Phase, describe
from _delivery_watch import Observation, SqlProbe, watermark_lags, watermark_went_back
from _report import Row, lt, number, summary, table

# --- The report ---------------------------------------------------------------------------


def series_table(
    sent: Sequence[Sent], observations: Sequence[Observation], start: float, end: float
) -> str:
    """Second by second: events acknowledged, backlog and watermark age (at the second's end
    and the most seen within it: delivery flushes about once a second, so the end alone
    aliases), the server's own lag figures, and the server's CPU."""
    times = [o.at for o in observations]
    acked = [call.acked_at for call in sent if call.accepted]
    counts = list(itertools.accumulate(call.accepted for call in sent if call.accepted))
    rows = []
    previous: Observation | None = None
    for second in range(math.ceil(end - start)):
        edge = start + second + 1
        within = observations[bisect.bisect_left(times, edge - 1) : bisect.bisect_left(times, edge)]
        if not within:
            continue
        seen = within[-1]
        low, high = bisect.bisect_left(acked, edge - 1), bisect.bisect_left(acked, edge)
        acked_events = (counts[high - 1] if high else 0) - (counts[low - 1] if low else 0)
        ages = [o.at - o.watermark_ms / 1000 for o in within if o.watermark_ms]
        cpu = "-"
        if previous is not None and seen.at > previous.at:
            cpu = f"{(seen.cpu_seconds - previous.cpu_seconds) / (seen.at - previous.at):.0%}"
        rows.append(
            [
                str(second + 1),
                f"{acked_events:,}",
                f"{seen.backlog:,}",
                f"{max(o.backlog for o in within):,}",
                f"{ages[-1]:.2f}" if ages else "-",
                f"{max(ages):.2f}" if ages else "-",
                f"{seen.p50_ms:,}",
                f"{seen.p99_ms:,}",
                cpu,
            ]
        )
        previous = seen
    headers = (
        "t s",
        "acked",
        "backlog",
        "max",
        "watermark age s",
        "max",
        "srv p50 ms",
        "srv p99 ms",
        "CPU",
    )
    return table(headers, rows)


def probe_table(probes: Sequence[SqlProbe], lags_by_prefix: dict[str, float]) -> str:
    """The SQL-followed batches: when SQL first saw them all, beside the watermark's answer."""
    rows = []
    for probe in probes:
        submitted = since(probe.submitted_at, probe.acked_at)
        answered = since(probe.answered_at, probe.acked_at)
        watermark = lags_by_prefix.get(probe.prefix)
        rows.append(
            [
                probe.prefix,
                str(probe.expected),
                "never" if submitted is None else f"{submitted:.2f}",
                "never" if answered is None else f"{answered:.2f}",
                "-" if watermark is None else f"{watermark:.2f}",
                str(probe.queries),
                f"{statistics.median(probe.query_seconds) * 1000:.0f}" if probe.queries else "-",
                str(probe.broken_promises),
            ]
        )
    headers = (
        "batch",
        "events",
        "SQL saw all: job submitted s",
        "answered s",
        "watermark s",
        "jobs",
        "job ms",
        "missed after watermark",
    )
    return table(headers, rows)


def since(moment: float | None, origin: float) -> float | None:
    """`moment - origin`, or None when there is no moment."""
    return None if moment is None else moment - origin


def lag_by_prefix(sent: Sequence[Sent], observations: Sequence[Observation]) -> dict[str, float]:
    """Each accepted batch's watermark lag, by its id prefix."""
    out = {}
    for call in sent:
        lags = watermark_lags([call], observations)
        if lags:
            out[call.prefix] = lags[0]
    return out


def once_table(checks: Sequence[OnceCheck]) -> str:
    """The exactly-once checks as a table."""
    rows = [
        [
            check.name,
            f"{check.accepted:,}",
            f"{check.unknown:,}",
            f"{check.rows:,}",
            f"{check.distinct:,}",
            f"{check.seconds:.2f}",
            "yes" if check.held else "NO",
        ]
        for check in checks
    ]
    headers = ("events of", "accepted", "unknown", "rows", "distinct ids", "SQL s", "exactly once")
    return table(headers, rows)


def report_main(result: MainResult, args: argparse.Namespace) -> dict[str, float | None]:
    """Print the logging phase's detail: the series, the SQL probes, the lag figures."""
    phase, seen = result.phase, result.observations
    lags = watermark_lags(phase.sent, seen)
    accepted_batches = sum(1 for call in phase.sent if call.accepted)
    print()
    print("Every second of the logging phase (as GetTrailStatus said at the end of that second):")
    end = result.drained_at + 1.0
    print(series_table(phase.sent, seen, phase.start, end))
    print()
    print(f"SQL-followed batches (one every {args.sql_every:g} s; times from the PutEvents ack):")
    print(probe_table(result.probes, lag_by_prefix(phase.sent, seen)))
    final = seen[-1] if seen else None
    figures: dict[str, float | None] = {
        "lag_p50": percentile(lags, 0.5) if lags else None,
        "lag_p99": percentile(lags, 0.99) if lags else None,
        "lag_max": lags[-1] if lags else None,
        "server_p50": final.p50_ms / 1000 if final else None,
        "server_p99": final.p99_ms / 1000 if final else None,
        "server_max": final.max_ms / 1000 if final else None,
        "backlog_max": float(max((o.backlog for o in seen), default=0)),
        "sql_max": max(
            (p.answered_at - p.acked_at for p in result.probes if p.answered_at is not None),
            default=None,
        ),
    }
    print()
    print(
        f"accepted → visible (DeliveredUpTo polled every {args.poll:g} s, {len(lags):,} of "
        f"{accepted_batches:,} batches): p50 {number(figures['lag_p50'], 's')}, "
        f"p99 {number(figures['lag_p99'], 's')}, max {number(figures['lag_max'], 's')}"
    )
    print(
        f"the server's own figures at the end (last 5 min, commit time − accept time): "
        f"p50 {number(figures['server_p50'], 's')}, p99 {number(figures['server_p99'], 's')}, "
        f"max {number(figures['server_max'], 's')}"
    )
    intervals = [b.at - a.at for a, b in itertools.pairwise(seen)]
    print(
        f"{len(seen):,} GetTrailStatus answers, every {statistics.median(intervals):.3f} s "
        f"(median); the largest gap {max(intervals, default=0):.2f} s; "
        f"DeliveredUpTo went back {watermark_went_back(seen)} times"
        if intervals
        else "no GetTrailStatus answers"
    )
    if not result.drained:
        print(f"NOT DRAINED: DeliveredUpTo missed the last batch for {args.drain_timeout:g} s")
    broken = sum(probe.broken_promises for probe in result.probes)
    if broken:
        print(f"WATERMARK BROKEN: {broken} SQL jobs missed events accepted before DeliveredUpTo")
    return figures


@dataclass
class Results:
    """Every phase's outcome, for the report."""

    main: MainResult
    checks: list[OnceCheck]
    files: tuple[int, int]
    baseline: Phase
    ceiling_on: Phase | None = None
    ceiling_off: Phase | None = None
    backfill: Backfill | None = None
    peak_mb: float = 0.0


def report(args: argparse.Namespace, results: Results) -> None:
    """Print every phase's figures, the logging phase's detail, and the summary."""
    print(
        f"Delivery benchmark: {args.rate:,.0f} events/s for {args.seconds:g} s in batches of "
        f"{args.batch} ({args.procs} process(es) × {args.threads} threads), trail {TRAIL}, "
        "default delivery settings"
    )
    print()
    phases = (results.main.phase, results.baseline, results.ceiling_on, results.ceiling_off)
    for phase in phases:
        if phase is not None:
            describe(phase)
    figures = report_main(results.main, args)
    files, stored = results.files
    print(
        f"table after the logging phase: {files:,} Parquet files, {stored / 1e6:.1f} MB "
        f"({stored / max(1, files) / 1e3:.0f} kB per file)"
    )
    backfill = results.backfill
    if backfill is not None:
        print(
            f"delivery history job after the stopped phases: status {backfill.status}, "
            f"{backfill.delivered:,} events in {backfill.seconds:.1f} s = "
            f"{backfill.rate:,.0f} events/s {backfill.error}"
        )
    print(f"server peak resident memory: {results.peak_mb:,.0f} MB")
    print()
    print(once_table(results.checks))
    print()
    print(summary(summary_rows(args, results, figures)))


def summary_rows(
    args: argparse.Namespace, results: Results, figures: dict[str, float | None]
) -> list[Row]:
    """The summary: each figure beside its same-run baseline and target."""
    main, baseline = results.main, results.baseline
    paced, base = main.phase.figures, baseline.figures
    rows = [
        Row("PutEvents events/s, paced, logging", paced.rate, "/s", base.rate, "trail stopped",
            args.rate * RATE_TOLERANCE),
        Row("PutEvents p50, paced, logging", paced.p50_ms, "ms", base.p50_ms, "trail stopped"),
        Row("PutEvents p99, paced, logging", paced.p99_ms, "ms", base.p99_ms, "trail stopped"),
        Row("server CPU per 1,000 events", main.phase.cpu_ms_per_thousand, "ms",
            baseline.cpu_ms_per_thousand, "trail stopped"),
        Row("accepted → visible p50", figures["lag_p50"], "s", figures["server_p50"],
            "server's"),
        Row("accepted → visible p99", figures["lag_p99"], "s", figures["server_p99"],
            "server's", TARGET_LAG_P99_SECONDS, lt),
        Row("accepted → visible max", figures["lag_max"], "s", figures["server_max"],
            "server's"),
        Row("accepted → SQL saw it, worst probe", figures["sql_max"], "s"),
        Row("DeliveryBacklog, largest seen", figures["backlog_max"], "events"),
    ]  # fmt: skip
    if results.ceiling_on is not None and results.ceiling_off is not None:
        rows.append(
            Row(
                "PutEvents events/s, unpaced, logging",
                results.ceiling_on.figures.rate,
                "/s",
                results.ceiling_off.figures.rate,
                "trail stopped",
            )
        )
    if results.backfill is not None:
        rows.append(
            Row(
                "delivery alone (history job), events/s",
                results.backfill.rate,
                "/s",
                args.rate,
                "--rate",
            )
        )
    return rows
