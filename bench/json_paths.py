"""The JSON path benchmark: GET_JSON_OBJECT on paths no typed column holds, beside typed columns.

Generates events over 30 days (1 million by default) with `gen_events.py` and appends each batch
twice with the exactly-once writer: into a table with JSON path columns (as trailhouse writes
now) and into a table without them (as the release before wrote: the writer's
`with_columns` step left out), alternating which goes first. It reports the writer's rate and
the bytes per million events of each. Then a filter + group-by query by JSON paths runs through
trailhouse (plan + DuckDB engine with the quota's limits, as a job runs) beside its typed-column
twin, on both tables, alternating the runs, and the results are compared. See bench/README.md.
Quick try: `.venv/bin/python bench/json_paths.py --events 200000`.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
from sqlglot import exp

from _events import DEFAULT_GEN_DIR, TimeWindow, make_generator, owned
from _report import table
from trailhouse.iam.roles import service_linked_role_arn
from trailhouse.warehouse import encoder
from trailhouse.warehouse.json_columns import COLUMN_PREFIX, NO_LAYOUT, JsonLayout
from trailhouse.warehouse.model import Table
from trailhouse.warehouse.sql.duckdb_engine import DuckDbEngine
from trailhouse.warehouse.sql.engine import JobControl, Limits
from warehouse import (
    ACCOUNT_ID,
    TRAIL,
    Opened,
    cpu_seconds,
    logged_batch,
    open_bench_warehouse,
    say,
)

TARGET_RATIO = 5.0  # JSON-path query / its typed twin, both through trailhouse
PLAIN_TABLE = "actiontrail_bench_trail_before"
# The pair measured: the same shape, a filter on one field and a group by another of similar
# cardinality (`$.requestParameters.RegionId` holds the region the call named, as acs_region).
BY_PATH = (
    "SELECT GET_JSON_OBJECT(event, '$.requestParameters.RegionId') AS k, COUNT(*) AS n "
    "FROM {table} WHERE GET_JSON_OBJECT(event, "
    "'$.userIdentity.sessionContext.attributes.mfaAuthenticated') = 'false' "
    "GROUP BY GET_JSON_OBJECT(event, '$.requestParameters.RegionId') ORDER BY n DESC, k"
)
TYPED = (
    "SELECT acs_region AS k, COUNT(*) AS n FROM {table} WHERE user_type = 'assumed-role' "
    "GROUP BY acs_region ORDER BY n DESC, k"
)


def arguments() -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000, help="events to generate")
    parser.add_argument("--days", type=float, default=30.0, help="days the events span")
    parser.add_argument("--batch", type=int, default=50_000, help="events per append")
    parser.add_argument("--runs", type=int, default=5, help="timed runs of each query")
    parser.add_argument("--threads", type=int, default=2, help="the quota's threads")
    parser.add_argument("--memory-gb", type=float, default=4.0, help="the quota's memory")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--gen-dir", type=Path, default=DEFAULT_GEN_DIR)
    parser.add_argument("--data-dir", type=Path, default=None, help="kept when given")
    parser.add_argument(
        "--skip-before",
        action="store_true",
        help="write only the table with path columns (no table as the release before wrote): "
        "for sizes where writing both takes too long; the queries then run on that table alone",
    )
    parser.add_argument(
        "--queries-only",
        action="store_true",
        help="append nothing: time the queries again on the tables a run with --data-dir left",
    )
    args = parser.parse_args()
    if args.queries_only and args.data_dir is None:
        parser.error("--queries-only needs the --data-dir of an earlier run")
    return args


def without_path_columns(
    rows: pa.Table, typed: object, version: int
) -> tuple[pa.Table, JsonLayout]:
    """The writer's step as the release before JSON path columns had it: the rows alone."""
    return rows, NO_LAYOUT


@dataclass
class Writes:
    """Seconds spent in the writer and bytes committed, per table."""

    events: int = 0
    seconds: dict[str, float] = field(default_factory=lambda: {"after": 0.0, "before": 0.0})
    # CPU seconds of the process: what other work on a shared machine moves less.
    cpu: dict[str, float] = field(default_factory=lambda: {"after": 0.0, "before": 0.0})


def append_both(opened: Opened, before: Table, args: argparse.Namespace) -> Writes:
    """Generate the events batch by batch and append each batch to both tables."""
    now = int(time.time())
    generator = make_generator(args.gen_dir, args.seed, TimeWindow.last_days(now, args.days))
    role = service_linked_role_arn(ACCOUNT_ID)
    figures = Writes()
    patched = encoder.with_columns
    while figures.events < args.events:
        size = min(args.batch, args.events - figures.events)
        rows = logged_batch(
            owned(generator.batch(size, total=args.events), ACCOUNT_ID), figures.events + 1
        )
        order = (
            ["after", "before"] if figures.events // args.batch % 2 == 0 else ["before", "after"]
        )
        if args.skip_before:
            order = ["after"]
        for which in order:
            target = opened.table if which == "after" else before
            encoder.with_columns = patched if which == "after" else without_path_columns  # type: ignore[assignment]
            gc.collect()
            cpu = cpu_seconds()
            begun = time.perf_counter()
            opened.warehouse.writer.append(
                opened.project,
                target,
                rows,
                writer_role_arn=role,
                source_account=ACCOUNT_ID,
                source=f"{ACCOUNT_ID}-{TRAIL}",
            )
            figures.seconds[which] += time.perf_counter() - begun
            figures.cpu[which] += cpu_seconds() - cpu
        encoder.with_columns = patched  # type: ignore[assignment]
        figures.events += len(rows)
        tables = "one table" if args.skip_before else "both tables"
        say(f"  appended {figures.events:,} / {args.events:,} events to {tables}")
    return figures


def stored_bytes(opened: Opened, target: Table) -> tuple[int, dict[str, int]]:
    """The committed bytes of a table, and the compressed bytes per kind of column."""
    files = opened.warehouse.catalog.files(target)
    kinds: dict[str, int] = {"event": 0, "typed": 0, "json paths": 0}
    for data_file in files:
        for name, size in data_file.column_bytes.items():
            kind = "json paths" if name.startswith(COLUMN_PREFIX) else "typed"
            kind = "event" if name == "event" else kind
            kinds[kind] += size
    return sum(f.bytes for f in files), kinds


def timed_query(
    opened: Opened, engine: DuckDbEngine, limits: Limits, sql: str
) -> tuple[float, list[list[Any]], bool]:
    """Seconds to plan and run the query as a job does, its rows, and whether it parsed JSON."""
    gc.collect()
    begun = time.perf_counter()
    planned = opened.warehouse.planner.plan(opened.caller, opened.project, sql)
    result = engine.run(planned.plan, limits, JobControl())
    seconds = time.perf_counter() - begun
    parses = any(planned.plan.tree.find_all(exp.JSONExtractScalar, exp.JSONExtract))
    return seconds, result.rows, parses


def main() -> int:
    """Build the two tables, time the writes and the queries, print the figures."""
    args = arguments()
    work = args.data_dir or Path(tempfile.mkdtemp(prefix="bench-json-paths-"))
    # In this process: the release before is the encoder's `with_columns` step left out, which
    # a patch here reaches and the encoder's helper process would not.
    opened = open_bench_warehouse(work / "data", ACCOUNT_ID, encode_in_process=True)
    before = opened.warehouse.catalog.ensure_table(opened.project, PLAIN_TABLE)
    writes: Writes | None = None
    if not args.queries_only:
        say(f"appending {args.events:,} events over {args.days:g} days into {work}")
        writes = append_both(opened, before, args)
    engine = DuckDbEngine(work / "spill")
    limits = Limits(args.threads, args.memory_gb, 100_000)
    queries: dict[str, str] = {
        "typed twin": TYPED.format(table=opened.table.name),
        "typed twin, files without path columns": TYPED.format(table=PLAIN_TABLE),
        "JSON paths, path columns": BY_PATH.format(table=opened.table.name),
        "JSON paths, files without path columns": BY_PATH.format(table=PLAIN_TABLE),
    }
    if args.skip_before:
        queries = {name: sql for name, sql in queries.items() if "without" not in name}
    times: dict[str, list[float]] = {name: [] for name in queries}
    answers: dict[str, list[list[Any]]] = {}
    parsed: dict[str, bool] = {}
    for name, sql in queries.items():  # warm-up, untimed
        _, answers[name], parsed[name] = timed_query(opened, engine, limits, sql)
    for run in range(args.runs):
        names = list(queries) if run % 2 == 0 else list(reversed(queries))
        for name in names:
            seconds, _, _ = timed_query(opened, engine, limits, queries[name])
            times[name].append(seconds)
    plain = answers.get("JSON paths, files without path columns")
    same = plain is None or answers["JSON paths, path columns"] == plain
    typed_ms = statistics.median(times["typed twin"]) * 1000
    print(
        f"\n{args.events:,} events over {args.days:g} days, batches of {args.batch:,}; "
        f"DuckDB with {args.threads} threads and {args.memory_gb:g} GB; medians of {args.runs}"
    )
    compared = "not compared (--skip-before)" if plain is None else str(same)
    print(
        f"the JSON-path query answers the same on both tables: {compared}; "
        f"rows: {len(answers['typed twin'])} typed, {len(answers['JSON paths, path columns'])}"
    )
    rows: list[list[str]] = []
    for name in queries:
        median = statistics.median(times[name]) * 1000
        rows.append(
            [
                name,
                f"{median:,.0f} ms",
                f"{median / typed_ms:.2f}×",
                "parses JSON" if parsed[name] else "reads columns",
            ]
        )
    print(table(["query", "time", "÷ typed twin", "how"], rows))
    # Each run times every query back to back: the median of each run's own ratio moves less
    # with the shared machine's load than the ratio of the medians.
    paired = statistics.median(
        path / typed
        for path, typed in zip(times["JSON paths, path columns"], times["typed twin"], strict=True)
    )
    print(
        f"JSON paths with path columns ÷ typed twin, median of the {args.runs} runs' ratios: "
        f"{paired:.2f}×"
    )
    print(f"target: JSON paths with path columns ≤ {TARGET_RATIO}× the typed twin")
    if writes is None:
        opened.close()
        return 0 if same else 1
    millions = writes.events / 1e6
    size_rows: list[list[str]] = []
    for which, target in (("after", opened.table), ("before", before)):
        if which == "before" and args.skip_before:
            continue
        total, kinds = stored_bytes(opened, target)
        size_rows.append(
            [
                "with path columns" if which == "after" else "without (before)",
                f"{writes.events / writes.seconds[which]:,.0f} events/s",
                f"{writes.events / writes.cpu[which]:,.0f} events/CPU-s",
                f"{total / millions / 1e6:,.1f} MB",
                ", ".join(f"{k} {v / millions / 1e6:,.1f} MB" for k, v in kinds.items()),
            ]
        )
    headers = ["table", "writer", "writer, CPU", "stored per 1M events", "columns per 1M events"]
    print(table(headers, size_rows))
    if not args.skip_before:
        slower = writes.seconds["after"] / writes.seconds["before"]
        print(
            f"writer with path columns ÷ without: {slower:.2f}× the time, "
            f"{writes.cpu['after'] / writes.cpu['before']:.2f}× the CPU"
        )
    opened.close()
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
