"""The scale benchmark's printed tables: throughput phases, baselines, failover, summary."""

from __future__ import annotations

import operator
import statistics

from _report import Row, number, table
from _scale_baseline import LOCKED, PLAIN, SEQUENCED, BaselineResult
from _scale_failover import FailoverResult, placement
from _scale_procs import CpuUse
from _scale_throughput import Phase


def cores(use: CpuUse, seconds: float) -> str:
    """CPU seconds as cores kept busy."""
    return f"{use.cores(seconds):.2f}"


def phase_table(phases: list[Phase]) -> str:
    """Per round and server count: rate (and its ratio to the round's phase with the fewest
    servers), latency, errors, and CPU (in cores) by who used it; "rest" is the machine's other
    work."""
    firsts: dict[int, Phase] = {}
    for phase in phases:
        if phase.round not in firsts or phase.servers < firsts[phase.round].servers:
            firsts[phase.round] = phase
    rows = []
    for phase in phases:
        f, use = phase.figures, phase.cpu
        first = firsts[phase.round].figures["rate"]
        ours = use.servers + use.postgres_ours + use.postgres_other + use.load
        rows.append(
            [
                str(phase.round),
                str(phase.servers),
                "+".join(map(str, phase.spread)),
                number(f["rate"], "/s"),
                f"{f['rate'] / first:.2f}×" if first else "-",
                number(f["p50_ms"], "ms"),
                number(f["p99_ms"], "ms"),
                str(f["errors"] + f["failed"]),
                "yes" if phase.stored == f["accepted"] else f"NO ({phase.stored:,})",
                cores(use, use.servers),
                cores(use, use.postgres_ours),
                cores(use, use.postgres_other),
                cores(use, use.load),
                cores(use, max(0.0, use.machine - ours)),
                cores(use, use.machine),
            ]
        )
    headers = (
        "round", "servers", "load procs", "events/s", "vs fewest", "p50", "p99", "errors",
        "all stored", "CPU servers", "PG ours", "PG other", "load", "rest", "machine",
    )  # fmt: skip
    return table(headers, rows)


def baseline_table(results: list[tuple[int, BaselineResult]]) -> str:
    """The baselines' rates and CPU (in cores), per round."""
    rows = [
        [
            str(round_),
            result.mode,
            f"{result.connections} in {result.processes} procs",
            f"{result.rows:,} ({result.distinct:,})",
            f"{result.seconds:.1f} s",
            number(result.rate, "/s"),
            str(result.errors),
            f"{result.server_cpu / result.seconds:.2f}",
            f"{result.other_postgres_cpu / result.seconds:.2f}",
            f"{result.client_cpu / result.seconds:.2f}",
            f"{max(0.0, result.machine_cpu - result.own_cpu) / result.seconds:.2f}",
            f"{result.machine_cpu / result.seconds:.2f}",
        ]
        for round_, result in results
        if result.seconds
    ]
    headers = (
        "round", "PostgreSQL", "connections", "rows (distinct)", "time", "rows/s", "errors",
        "CPU PG ours", "PG other", "clients", "rest", "machine",
    )  # fmt: skip
    return table(headers, rows)


def failover_table(result: FailoverResult) -> str:
    """Per taken-over trail: lease expiry, takeover, delivery gap; the survivors' trails' lag."""
    rows = []
    victims = set(result.victim_trails)
    for key, gap in sorted(result.gaps.items(), key=lambda kv: (kv[0] not in victims, kv[0])):
        taken_over = key in victims
        rows.append(
            [
                f"{key[1]} ({key[0][-4:]})",
                "taken over" if taken_over else "kept",
                _seconds(result.expired.get(key)) if taken_over else "",
                _seconds(result.taken.get(key)) if taken_over else "",
                _seconds(result.takeover_seen) if taken_over else "",
                _seconds(gap),
            ]
        )
    headers = (
        "trail (account)", "lease", "victim's lease expired", "taken (lease)", "seen (/metrics)",
        "DeliveredUpTo passed the kill",
    )  # fmt: skip
    return table(headers, rows)


def _seconds(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+.2f} s"


def once_table(results: list[FailoverResult]) -> str:
    """Exactly-once per table, per failover run."""
    rows = [
        [
            result.hosts,
            f"{check.trail[1]} ({check.trail[0][-4:]})",
            f"{check.rows:,}",
            f"{check.distinct:,}",
            f"{check.accepted:,}",
            "yes" if check.ok else "NO",
        ]
        for result in results
        for check in result.checks
    ]
    return table(("hosts", "trail (account)", "rows", "distinct", "accepted", "exactly once"), rows)


def describe_failover(result: FailoverResult) -> None:
    """Print one failover run."""
    print(
        f"Failover, {placement(result.hosts)}, lease {result.lease_seconds:g} s, "
        f"delivery poll {result.poll_seconds:g} s (bound {result.bound:g} s): leases spread "
        f"two per worker {result.spread_seconds:.1f} s after start; stream "
        f"{result.stream_rate:,.0f} events/s, {result.accepted:,} accepted, "
        f"{result.unknown} without an answer. Seconds from the kill:"
    )
    print(failover_table(result))
    if not result.drained:
        print("NOT DRAINED: a trail's DeliveredUpTo missed the last accepted call")
    if any(code != 0 for code in result.survivor_exits):
        print(f"surviving workers exited with {result.survivor_exits}")


def summary_rows(
    phases: list[Phase],
    baselines: list[tuple[int, BaselineResult]],
    connections: int,
    failovers: list[FailoverResult],
) -> list[Row]:
    """The summary: each N against the first count and the two PostgreSQL baselines (medians
    over the rounds); failover times against their bound."""
    rows = []
    rates: dict[int, float] = {}
    for phase in phases:
        rates.setdefault(phase.servers, 0.0)
    for servers in rates:
        rates[servers] = statistics.median(
            p.figures["rate"] for p in phases if p.servers == servers
        )
    # Against the baselines with as many connections as the load has threads (or the first).
    chosen = [r for _, r in baselines if r.connections == connections] or [
        r for _, r in baselines if r.connections == baselines[0][1].connections
    ]
    modes = {r.mode for r in chosen}
    base = {m: statistics.median(r.rate for r in chosen if r.mode == m) for m in modes}
    fewest = min(rates, default=0)
    for servers, rate in sorted(rates.items()):
        name = f"PutEvents, {servers} server{'s' if servers > 1 else ''}"
        if servers != fewest:
            rows.append(Row(name, rate, "/s", rates[fewest], f"{fewest} server(s)"))
        for mode in (PLAIN, LOCKED, SEQUENCED):
            if mode in base:
                rows.append(Row(name, rate, "/s", base[mode], f"PG {mode}"))
    for result in failovers:
        where = "one host" if result.hosts == "same" else "separate hosts"
        taken = max(result.taken.values(), default=None)
        gaps = [result.gaps.get(key) for key in result.victim_trails]
        gap = None if None in gaps or not gaps else max(g for g in gaps if g is not None)
        kept = [v for k, v in result.gaps.items() if k not in result.victim_trails]
        # A taken-over trail then delivers like any other: the bound plus the usual lag.
        gap_target = result.bound + max(kept, default=0.0)
        rows += [
            Row(f"takeover, {where} (lease taken)", taken, "s",
                target=result.bound, better=operator.le),
            Row(f"takeover, {where} (/metrics)", result.takeover_seen, "s",
                target=result.bound, better=operator.le),
            Row(f"delivery gap, {where}", gap, "s",
                max(kept, default=None), "kept trails", gap_target, operator.le),
        ]  # fmt: skip
    return rows
