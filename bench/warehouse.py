"""The warehouse benchmark: exactly-once appends and audit queries, beside plain pyarrow and DuckDB.

Generates events over 90 days (10 million by default) and appends them batch by batch with the
exactly-once writer, timing only the appends; a sample of the batches is also written with plain
`pyarrow.parquet.write_table` (same rows, same columns, zstd) as the baseline. Then typical audit
queries run through trailhouse (plan + DuckDB engine with the quota's limits, as a job runs)
beside hand-written DuckDB SQL over the same Parquet files, and on Spark local[2] when the Spark
engine is importable. See bench/README.md. Quick try:
`.venv/bin/python bench/warehouse.py --events 200000`.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import resource
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from _events import DEFAULT_GEN_DIR, TimeWindow, make_generator, owned
from _report import number, table
from trailhouse.events.model import LoggedEvent
from trailhouse.events.recorder import shown
from trailhouse.events.validation import parse_event_time
from trailhouse.iam.principals import Caller
from trailhouse.iam.roles import RoleService, service_linked_role_arn
from trailhouse.settings import Settings
from trailhouse.store import open_metadata
from trailhouse.store.ports import MetadataStore
from trailhouse.warehouse.model import (
    Project,
    Table,
    project_name,
    table_name,
    table_scope,
)
from trailhouse.warehouse.schema import RECORDED_BY_COLUMN, current, json_path_value
from trailhouse.warehouse.service import Warehouse, open_warehouse
from trailhouse.warehouse.sql.duckdb_engine import DuckDbEngine
from trailhouse.warehouse.sql.engine import Engine, JobControl, Limits, json_value
from trailhouse.warehouse.writer import ds_of

TARGET_QUERY_RATIO = 1.3  # trailhouse / plain DuckDB, typed-column queries
TARGET_JSON_RATIO = 1.5  # GET_JSON_OBJECT query / its typed-column twin, both through trailhouse
ACCOUNT_ID = "1234567890123456"
REGION = "cn-hangzhou"
TRAIL = "bench-trail"
DAYS = 90
STATE_FILE = "bench-warehouse.json"
GB_PER_MILLION_ESTIMATE = 0.25  # Parquet zstd is ~0.18-0.2 GB per million events here
USER_EVENTS_AT_MOST = 2_000  # query (d) follows the most active user with at most this many
BASELINE_SCHEMA = pa.schema([(name, pa.string()) for name in current().names])
SPARK_MODULE = "trailhouse.warehouse.sql.spark"


def say(message: str) -> None:
    """Progress on stderr, so stdout holds only the figures."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def arguments() -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=10_000_000, help="events to generate")
    parser.add_argument("--batch", type=int, default=50_000, help="events per append")
    parser.add_argument(
        "--baseline-every", type=int, default=5, help="also time pyarrow on every n-th batch"
    )
    parser.add_argument("--runs", type=int, default=5, help="timed runs of each query")
    parser.add_argument("--spark-runs", type=int, default=3, help="timed runs on Spark")
    parser.add_argument("--no-spark", action="store_true", help="skip the Spark queries")
    parser.add_argument("--spark-master", default="local[2]")
    parser.add_argument("--threads", type=int, default=2, help="the quota's threads per query")
    parser.add_argument("--memory-gb", type=float, default=4.0, help="the quota's memory")
    parser.add_argument("--max-rows", type=int, default=10_000, help="result rows kept")
    parser.add_argument(
        "--data-dir", type=Path, default=None, help="where the run's data dir is made (temp)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the data dir after the run")
    parser.add_argument(
        "--reuse", type=Path, default=None, help="query the warehouse a kept run left in DIR"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--gen-dir", type=Path, default=DEFAULT_GEN_DIR)
    parsed = parser.parse_args()
    if min(parsed.events, parsed.batch, parsed.baseline_every, parsed.runs) < 1:
        parser.error("--events, --batch, --baseline-every and --runs must be at least 1")
    return parsed


# ------------------------------------------------------------------------------------------
# The warehouse under test
# ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class State:
    """What a later run with --reuse needs to know about the generated warehouse."""

    account_id: str
    events: int
    window_start: int
    window_span: int


@dataclass(slots=True)
class Opened:
    """The warehouse over one data dir, with the benchmark's project, table and caller."""

    metadata: MetadataStore
    warehouse: Warehouse
    project: Project
    table: Table
    caller: Caller
    table_dir: Path

    def close(self) -> None:
        """Close the warehouse, then the metadata store."""
        self.warehouse.close()
        self.metadata.close()


def open_bench_warehouse(
    data_dir: Path, account_id: str, *, encode_in_process: bool = False
) -> Opened:
    """The warehouse in `data_dir` (made on first use), with the trail's project and table;
    `encode_in_process` encodes every file in this process, never in the encoder's helper."""
    values: dict[str, object] = {"data_dir": data_dir}
    if encode_in_process:
        values["delivery_encode_process_events"] = 0
    settings = Settings.load(values, environ={})
    metadata = open_metadata(settings)
    roles = RoleService(metadata)
    role = roles.service_linked_role_write(account_id)
    if role is not None:
        metadata.commit([role])
    warehouse = open_warehouse(settings, metadata, roles, (REGION,))
    project = warehouse.catalog.ensure_project(account_id, REGION, project_name(account_id))
    audit_table = warehouse.catalog.ensure_table(project, table_name(TRAIL))
    caller = Caller("BENCH", "root-account", account_id, "root", account_id)
    table_dir = settings.warehouse_path / table_scope(REGION, project.name, audit_table.name)
    return Opened(metadata, warehouse, project, audit_table, caller, table_dir)


def disk_usage(path: Path) -> int:
    """Allocated bytes under `path`, like `du`."""
    return sum(p.stat().st_blocks * 512 for p in path.rglob("*") if p.is_file())


# ------------------------------------------------------------------------------------------
# 1. Appends: the exactly-once writer beside pyarrow write_table
# ------------------------------------------------------------------------------------------


@dataclass(slots=True)
class AppendFigures:
    """Seconds spent appending, and on the sampled batches the baseline's seconds."""

    events: int = 0
    batches: int = 0
    files: int = 0
    writer_seconds: float = 0.0
    sample_events: int = 0
    sample_writer_seconds: float = 0.0
    sample_pyarrow_seconds: float = 0.0
    sample_extract_seconds: float = 0.0
    batch_seconds: list[float] = field(default_factory=list)

    @property
    def writer_rate(self) -> float:
        """Events per second appended by the writer, over all batches."""
        return self.events / self.writer_seconds if self.writer_seconds else 0.0

    @property
    def sample_writer_rate(self) -> float:
        """The writer's rate on the sampled batches only (the same rows as the baseline)."""
        return self.sample_events / self.sample_writer_seconds if self.sample_writer_seconds else 0

    @property
    def pyarrow_rate(self) -> float:
        """pyarrow write_table's rate on the sampled batches (columns already extracted)."""
        return (
            self.sample_events / self.sample_pyarrow_seconds if self.sample_pyarrow_seconds else 0
        )

    @property
    def pyarrow_with_parse_rate(self) -> float:
        """pyarrow's rate when parsing the JSON and extracting the columns is counted too."""
        seconds = self.sample_pyarrow_seconds + self.sample_extract_seconds
        return self.sample_events / seconds if seconds else 0.0


def logged_batch(events: list[dict[str, Any]], first_seq: int) -> list[LoggedEvent]:
    """The events as the log would hand them to delivery: seq, times, compact JSON body."""
    accepted_ms = int(time.time() * 1000)
    return [
        LoggedEvent(
            first_seq + offset,
            ACCOUNT_ID,
            event["eventId"],
            parse_event_time(event["eventTime"]),
            accepted_ms,
            orjson.dumps(event),
        )
        for offset, event in enumerate(events)
    ]


def extract_columns(rows: Sequence[LoggedEvent]) -> dict[str, dict[str, list[str | None]]]:
    """The table's columns of each day, as the writer fills them (parse + typed paths)."""
    by_day: dict[str, dict[str, list[str | None]]] = {}
    for row in rows:
        ds = ds_of(row.event_time)
        columns = by_day.get(ds)
        if columns is None:
            columns = by_day[ds] = {name: [] for name in current().names}
        event = orjson.loads(row.body)
        columns["event"].append(row.body.decode())
        for column in current().typed:
            columns[column.name].append(json_path_value(event, column.path))
        columns[RECORDED_BY_COLUMN].append(shown(row.recorder))  # as the writer supplies it
    return by_day


def pyarrow_write(by_day: dict[str, dict[str, list[str | None]]], directory: Path) -> float:
    """Seconds to write each day's columns as one Parquet zstd file: the baseline."""
    directory.mkdir(parents=True, exist_ok=True)
    begun = time.perf_counter()
    for ds, columns in by_day.items():
        arrow = pa.Table.from_pydict(columns, schema=BASELINE_SCHEMA)
        pq.write_table(arrow, directory / f"{ds}.parquet", compression="zstd")
    return time.perf_counter() - begun


def timed(action: Callable[[], Any]) -> tuple[float, Any]:
    """Seconds `action` took (after a garbage collection outside the timing) and its result."""
    gc.collect()
    begun = time.perf_counter()
    result = action()
    return time.perf_counter() - begun, result


def append_all(opened: Opened, args: argparse.Namespace, window: TimeWindow) -> AppendFigures:
    """Generate `--events` events batch by batch and append them; time only the writing."""
    generator = make_generator(args.gen_dir, args.seed, window)
    figures = AppendFigures()
    scratch = opened.table_dir.parent.parent.parent / "pyarrow-baseline"
    role = service_linked_role_arn(ACCOUNT_ID)
    source = f"{ACCOUNT_ID}-{TRAIL}"
    next_report = 0.1
    started = time.perf_counter()
    while figures.events < args.events:
        size = min(args.batch, args.events - figures.events)
        rows = logged_batch(
            owned(generator.batch(size, total=args.events), ACCOUNT_ID), figures.events + 1
        )
        sampled = figures.batches % args.baseline_every == 0
        seconds, result = timed(
            partial(
                opened.warehouse.writer.append,
                opened.project,
                opened.table,
                rows,
                writer_role_arn=role,
                source_account=ACCOUNT_ID,
                source=source,
            )
        )
        if result.already_committed or result.rows != len(rows):
            raise RuntimeError(f"batch {figures.batches}: the writer returned {result}")
        figures.writer_seconds += seconds
        figures.batch_seconds.append(seconds)
        figures.files += len(result.files)
        if sampled:
            figures.sample_events += len(rows)
            figures.sample_writer_seconds += seconds
            extract_seconds, by_day = timed(partial(extract_columns, rows))
            figures.sample_extract_seconds += extract_seconds
            gc.collect()
            figures.sample_pyarrow_seconds += pyarrow_write(by_day, scratch)
            del by_day
            shutil.rmtree(scratch)
        figures.events += len(rows)
        figures.batches += 1
        del rows
        if figures.events >= next_report * args.events:
            say(
                f"  appended {figures.events:,} / {args.events:,} events: writer "
                f"{figures.writer_rate:,.0f}/s, pyarrow {figures.pyarrow_rate:,.0f}/s "
                f"({time.perf_counter() - started:.0f} s with generation)"
            )
            next_report += 0.1
    return figures


# ------------------------------------------------------------------------------------------
# 2. Queries: trailhouse (plan + DuckDB engine) beside plain DuckDB SQL, and Spark
# ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Query:
    """One audit query: its MaxCompute SQL for trailhouse, and hand-written DuckDB SQL.

    `trailhouse` is empty for a plain-only query; `plain` has `{src}` where the files go.
    """

    key: str
    title: str
    trailhouse: str
    plain: str
    typed: bool


@dataclass(slots=True)
class Timings:
    """Seconds of each timed run of one query, per way of running it."""

    plan: list[float] = field(default_factory=list)
    engine: list[float] = field(default_factory=list)
    total: list[float] = field(default_factory=list)
    job: list[float] = field(default_factory=list)
    plain: list[float] = field(default_factory=list)
    spark: list[float] = field(default_factory=list)
    # CPU seconds of this process (every DuckDB thread included) per run: less moved than the
    # wall clock by other work on a shared machine, so the ratio of the two ways reads steadier.
    total_cpu: list[float] = field(default_factory=list)
    plain_cpu: list[float] = field(default_factory=list)
    rows: int = 0
    agree: str = "-"
    spark_agree: str = "-"


def cpu_seconds() -> float:
    """CPU seconds this process has used so far, all its threads (DuckDB's included)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def paired_ratio(values: list[float], baselines: list[float]) -> float | None:
    """The median of each run's ratio to the baseline run beside it (the runs alternate): less
    moved by load that changes between runs than the ratio of the two medians."""
    pairs = zip(values, baselines, strict=False)  # a plain-only query has no trailhouse runs
    ratios = [value / baseline for value, baseline in pairs if baseline]
    return statistics.median(ratios) if ratios else None


def median_ms(values: list[float]) -> float | None:
    """The median in milliseconds, or None when nothing was timed."""
    return statistics.median(values) * 1000 if values else None


def quoted(text: str) -> str:
    """A SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def plain_source(table_dir: Path) -> str:
    """The hand-written scan of every file of the table, `ds` from the folder as text."""
    pattern = quoted(str(table_dir / "ds=*" / "*.parquet"))
    return f"read_parquet({pattern}, hive_partitioning = true, hive_types = {{'ds': VARCHAR}})"


def connect_plain(args: argparse.Namespace, spill: Path) -> duckdb.DuckDBPyConnection:
    """A fresh DuckDB connection with the quota's threads and memory (as each job gets)."""
    return duckdb.connect(
        config={
            "threads": args.threads,
            "memory_limit": f"{args.memory_gb:g}GB",
            "temp_directory": str(spill),
        }
    )


def run_plain(args: argparse.Namespace, spill: Path, sql: str) -> list[list[Any]]:
    """Rows of plain DuckDB SQL, fetched as the engine fetches them (at most max_rows + 1)."""
    con = connect_plain(args, spill)
    try:
        rows = con.execute(sql).fetchmany(args.max_rows + 1)
    finally:
        con.close()
    return [[json_value(value) for value in row] for row in rows]


def days_of(opened: Opened) -> list[str]:
    """The table's partitions, oldest first."""
    return sorted(p.ds for p in opened.warehouse.catalog.list_partitions(opened.table))


def pick_user(args: argparse.Namespace, spill: Path, src: str, week: tuple[str, str]) -> str:
    """The most active user with at most USER_EVENTS_AT_MOST events in the week."""
    rows = run_plain(
        args,
        spill,
        f"SELECT user_name, COUNT(*) AS c FROM {src} WHERE ds BETWEEN {quoted(week[0])} AND "
        f"{quoted(week[1])} AND user_name IS NOT NULL GROUP BY user_name ORDER BY c DESC, "
        "user_name",
    )
    for name, count in rows:
        if count <= USER_EVENTS_AT_MOST:
            return str(name)
    return str(rows[-1][0])


def audit_queries(
    table: str, src: str, month: tuple[str, str], week: tuple[str, str], user: str
) -> list[Query]:
    """The audit queries: (a)-(c) on typed columns, (d) by JSON path, (d') its typed twin."""
    in_month = f"ds BETWEEN {quoted(month[0])} AND {quoted(month[1])}"
    in_week = f"ds BETWEEN {quoted(week[0])} AND {quoted(week[1])}"
    activity = "SELECT event_time, event_name, service_name, source_ip_address, error_code FROM"
    order = "ORDER BY event_time, event_name"
    by_path = f"GET_JSON_OBJECT(event, '$.userIdentity.userName') = {quoted(user)}"
    by_column = f"user_name = {quoted(user)}"
    by_duckdb_path = f"json_extract_string(event, '$.userIdentity.userName') = {quoted(user)}"

    def both(sql: str) -> tuple[str, str]:
        return sql.format(t=table), sql.format(t=src)

    count_by_name = both(
        f"SELECT event_name, COUNT(*) AS c FROM {{t}} WHERE {in_month} "
        "GROUP BY event_name ORDER BY c DESC, event_name"
    )
    top_writers = both(
        "SELECT user_name, COUNT(*) AS c FROM {t} WHERE event_rw = 'Write' "
        "GROUP BY user_name ORDER BY c DESC, user_name LIMIT 20"
    )
    failures = both(
        "SELECT error_code, COUNT(*) AS c FROM {t} WHERE error_code IS NOT NULL "
        "GROUP BY error_code ORDER BY c DESC, error_code"
    )
    return [
        Query("a", "count by eventName, one month", *count_by_name, typed=True),
        Query("b", "top 20 users by Write events, all days", *top_writers, typed=True),
        Query("c", "failed calls by errorCode, all days", *failures, typed=True),
        Query(
            "d",
            "one user's week, GET_JSON_OBJECT (rewritten)",
            f"{activity} {table} WHERE {in_week} AND {by_path} {order}",
            f"{activity} {src} WHERE {in_week} AND {by_column} {order}",
            typed=False,
        ),
        Query(
            "d'",
            "one user's week, user_name column",
            f"{activity} {table} WHERE {in_week} AND {by_column} {order}",
            f"{activity} {src} WHERE {in_week} AND {by_column} {order}",
            typed=True,
        ),
        Query(
            "d raw",
            "one user's week, JSON path NOT rewritten",
            "",
            f"{activity} {src} WHERE {in_week} AND {by_duckdb_path} {order}",
            typed=False,
        ),
    ]


def same_rows(left: list[list[Any]], right: list[list[Any]]) -> str:
    """'yes' when both hold the same rows (in any order), else what differs."""

    def key(row: list[Any]) -> str:
        return orjson.dumps(row, option=orjson.OPT_NON_STR_KEYS).decode()

    if sorted(map(key, left)) == sorted(map(key, right)):
        return "yes"
    return f"NO ({len(left)} vs {len(right)} rows)"


class QueryBench:
    """Runs each query the ways it is compared, alternating them so noise hits both alike."""

    def __init__(self, opened: Opened, args: argparse.Namespace, spill: Path) -> None:
        self._opened = opened
        self._args = args
        self._spill = spill
        self._engine = DuckDbEngine(spill / "engine")
        self._limits = Limits(args.threads, args.memory_gb, args.max_rows)

    def through_trailhouse(self, sql: str, timings: Timings | None) -> list[list[Any]]:
        """Plan, then run on a fresh DuckDB engine connection: what a job does."""
        opened = self._opened
        gc.collect()
        cpu = cpu_seconds()
        begun = time.perf_counter()
        planned = opened.warehouse.planner.plan(opened.caller, opened.project, sql)
        planned_at = time.perf_counter()
        result = self._engine.run(planned.plan, self._limits, JobControl())
        ended = time.perf_counter()
        if timings is not None:
            timings.plan.append(planned_at - begun)
            timings.engine.append(ended - planned_at)
            timings.total.append(ended - begun)
            timings.total_cpu.append(cpu_seconds() - cpu)
        return result.rows

    def as_job(self, sql: str, timings: Timings | None) -> None:
        """Submit it as a SQL job and wait for it: planning, queueing, metering, result file."""
        opened = self._opened
        gc.collect()
        begun = time.perf_counter()
        job = opened.warehouse.jobs.submit(opened.caller, opened.project, sql)
        job = opened.warehouse.jobs.wait(opened.caller, job.job_id)
        if timings is not None:
            timings.job.append(time.perf_counter() - begun)
        if job.status != "Terminated":
            raise RuntimeError(f"job {job.job_id} {job.status}: {job.error_message}")

    def plain(self, sql: str, timings: Timings | None) -> list[list[Any]]:
        """The hand-written DuckDB SQL on a fresh connection with the same limits."""
        gc.collect()
        cpu = cpu_seconds()
        begun = time.perf_counter()
        rows = run_plain(self._args, self._spill, sql)
        if timings is not None:
            timings.plain.append(time.perf_counter() - begun)
            timings.plain_cpu.append(cpu_seconds() - cpu)
        return rows

    def measure(self, query: Query) -> Timings:
        """A warm-up of each way (untimed, results compared), then the timed runs."""
        timings = Timings()
        reference = self.plain(query.plain, None)
        timings.rows = len(reference)
        if query.trailhouse:
            timings.agree = same_rows(self.through_trailhouse(query.trailhouse, None), reference)
            self.as_job(query.trailhouse, None)
        ways: list[Callable[[], Any]] = [partial(self.plain, query.plain, timings)]
        if query.trailhouse:
            ways.append(partial(self.through_trailhouse, query.trailhouse, timings))
        for run in range(self._args.runs):
            for way in ways if run % 2 == 0 else reversed(ways):
                way()
        # Jobs run apart, so that the timed pairs alternate only the two ways compared.
        for _ in range(self._args.runs if query.trailhouse else 0):
            self.as_job(query.trailhouse, timings)
        return timings


def load_spark_engine(args: argparse.Namespace, work_dir: Path) -> tuple[Engine | None, str]:
    """The Spark engine, or None and why not (--no-spark, or the module is not there yet)."""
    if args.no_spark:
        return None, "skipped (--no-spark)"
    try:
        module = importlib.import_module(SPARK_MODULE)
    except ImportError as exc:
        return None, f"skipped: {SPARK_MODULE} is not importable ({exc})"
    engine: Engine = module.SparkEngine(args.spark_master, work_dir)
    return engine, ""


def measure_spark(
    engine: Engine,
    opened: Opened,
    args: argparse.Namespace,
    queries: list[Query],
    results: dict[str, Timings],
    references: dict[str, list[list[Any]]],
) -> float:
    """Time each trailhouse query on Spark (plan outside the timing); return the first run's s."""
    limits = Limits(args.threads, args.memory_gb, args.max_rows)
    first_run = 0.0
    for query in queries:
        if not query.trailhouse:
            continue
        planned = opened.warehouse.planner.plan(opened.caller, opened.project, query.trailhouse)
        seconds, warm = timed(partial(engine.run, planned.plan, limits, JobControl()))
        first_run = first_run or seconds
        results[query.key].spark_agree = same_rows(warm.rows, references[query.key])
        for _ in range(args.spark_runs):
            seconds, _ = timed(partial(engine.run, planned.plan, limits, JobControl()))
            results[query.key].spark.append(seconds)
        say(f"  spark ({query.key}): {median_ms(results[query.key].spark) or 0:.0f} ms")
    return first_run


# ------------------------------------------------------------------------------------------
# Report
# ------------------------------------------------------------------------------------------


def ms(value: float | None) -> str:
    """Milliseconds, compactly, or n/a."""
    return number(value, "ms")


def ratio(value: float | None, baseline: float | None) -> float | None:
    """value / baseline, or None when either is missing."""
    return value / baseline if value is not None and baseline else None


def ratio_text(value: float | None) -> str:
    """A ratio as printed."""
    return "-" if value is None else f"{value:.2f}×"


def met(value: float | None, target: float) -> str:
    """'yes' when the ratio is within the target."""
    if value is None:
        return "-"
    return "yes" if value <= target else "NO"


def append_table(figures: AppendFigures) -> str:
    """The append figures: writer and pyarrow on the sampled batches, and the writer overall."""
    batches = sorted(figures.batch_seconds)
    rows = [
        ["exactly-once writer, all batches", f"{figures.writer_rate:,.0f}/s",
         f"{figures.events:,} events, {figures.batches} batches, {figures.files} files"],
        ["exactly-once writer, sampled batches", f"{figures.sample_writer_rate:,.0f}/s",
         f"{figures.sample_events:,} events"],
        ["pyarrow write_table, same rows and columns", f"{figures.pyarrow_rate:,.0f}/s",
         "columns extracted beforehand (untimed), no fsync"],
        ["pyarrow incl. JSON parse + columns", f"{figures.pyarrow_with_parse_rate:,.0f}/s",
         "what the writer has to do before pyarrow"],
        ["append seconds per batch: p50 / max",
         f"{statistics.median(batches):.3f} s / {batches[-1]:.3f} s" if batches else "n/a", ""],
    ]  # fmt: skip
    return table(("append", "rate", "notes"), rows)


def query_table(queries: list[Query], results: dict[str, Timings]) -> str:
    """Per query: medians of each way of running it, and the ratios."""
    rows = []
    for query in queries:
        timing = results[query.key]
        total, plain = median_ms(timing.total), median_ms(timing.plain)
        spark = median_ms(timing.spark)
        rows.append(
            [
                f"({query.key}) {query.title}",
                ms(median_ms(timing.plan)),
                ms(median_ms(timing.engine)),
                ms(total),
                ms(median_ms(timing.job)),
                ms(plain),
                ratio_text(ratio(total, plain)),
                ratio_text(paired_ratio(timing.total, timing.plain)),
                ratio_text(ratio(median_ms(timing.total_cpu), median_ms(timing.plain_cpu))),
                ms(spark),
                ratio_text(ratio(spark, median_ms(timing.engine))),
                str(timing.rows),
                timing.agree
                if timing.spark_agree == "-"
                else f"{timing.agree}/{timing.spark_agree}",
            ]
        )
    headers = (
        "query", "plan", "engine", "trailhouse", "as a job", "plain DuckDB", "th/plain",
        "paired", "th/plain CPU", "Spark", "Spark/engine", "rows", "same rows",
    )  # fmt: skip
    return table(headers, rows)


def summary_table(
    figures: AppendFigures | None, queries: list[Query], results: dict[str, Timings]
) -> str:
    """figure, value, baseline, ratio, target, met?"""
    rows: list[list[str]] = []
    if figures is not None:
        rows.append(
            [
                "append events/s (exactly-once writer)",
                f"{figures.sample_writer_rate:,.0f}/s",
                f"{figures.pyarrow_rate:,.0f}/s (pyarrow write_table)",
                ratio_text(ratio(figures.sample_writer_rate, figures.pyarrow_rate)),
                "-",
                "-",
            ]
        )
    for query in queries:
        timing = results[query.key]
        if not query.trailhouse:
            continue
        value, baseline = median_ms(timing.total), median_ms(timing.plain)
        share = ratio(value, baseline)
        target = f"≤ {TARGET_QUERY_RATIO}×" if query.typed else "-"
        rows.append(
            [
                f"({query.key}) through trailhouse",
                ms(value),
                f"{ms(baseline)} (plain DuckDB)",
                ratio_text(share),
                target,
                met(share, TARGET_QUERY_RATIO) if query.typed else "-",
            ]
        )
        cpu, cpu_baseline = median_ms(timing.total_cpu), median_ms(timing.plain_cpu)
        cpu_share = ratio(cpu, cpu_baseline)
        rows.append(
            [
                f"({query.key}) CPU time, trailhouse",
                ms(cpu),
                f"{ms(cpu_baseline)} (plain DuckDB)",
                ratio_text(cpu_share),
                target,
                met(cpu_share, TARGET_QUERY_RATIO) if query.typed else "-",
            ]
        )
    path, column = results.get("d"), results.get("d'")
    raw = results.get("d raw")
    if path is not None and column is not None:
        share = ratio(median_ms(path.total), median_ms(column.total))
        rows.append(
            [
                "(d) GET_JSON_OBJECT vs (d') typed, trailhouse",
                ms(median_ms(path.total)),
                f"{ms(median_ms(column.total))} ((d') typed)",
                ratio_text(share),
                f"≤ {TARGET_JSON_RATIO}×",
                met(share, TARGET_JSON_RATIO),
            ]
        )
    if raw is not None and column is not None:
        rows.append(
            [
                "(d) JSON path not rewritten, plain DuckDB",
                ms(median_ms(raw.plain)),
                f"{ms(median_ms(column.plain))} ((d') plain)",
                ratio_text(ratio(median_ms(raw.plain), median_ms(column.plain))),
                "-",
                "-",
            ]
        )
    for query in queries:
        timing = results[query.key]
        if timing.spark:
            spark, duck = median_ms(timing.spark), median_ms(timing.engine)
            rows.append(
                [
                    f"({query.key}) on Spark",
                    ms(spark),
                    f"{ms(duck)} (DuckDB engine)",
                    ratio_text(ratio(spark, duck)),
                    "-",
                    "-",
                ]
            )
    return table(("figure", "value", "baseline", "ratio", "target", "met?"), rows)


# ------------------------------------------------------------------------------------------
# Main
# ------------------------------------------------------------------------------------------


def make_data_dir(args: argparse.Namespace) -> Path:
    """A fresh data dir under --data-dir (the system temp dir by default), after a disk check."""
    parent = args.data_dir or Path(tempfile.gettempdir())
    parent.mkdir(parents=True, exist_ok=True)
    needed = args.events / 1e6 * GB_PER_MILLION_ESTIMATE * 1e9
    free = shutil.disk_usage(parent).free
    if free < needed * 1.5:
        raise SystemExit(
            f"{parent} has {free / 1e9:.1f} GB free; {args.events:,} events need about "
            f"{needed / 1e9:.1f} GB (and half as much again to be safe)"
        )
    return Path(tempfile.mkdtemp(prefix="trailhouse-warehouse-bench-", dir=parent))


def generate(args: argparse.Namespace, data_dir: Path) -> tuple[State, AppendFigures]:
    """Generate and append the events into a fresh warehouse; save the state for --reuse."""
    window = TimeWindow.last_days(int(time.time()), DAYS)
    opened = open_bench_warehouse(data_dir, ACCOUNT_ID)
    try:
        say(f"appending {args.events:,} events over {DAYS} days into {data_dir}")
        figures = append_all(opened, args, window)
    finally:
        opened.close()
    state = State(ACCOUNT_ID, figures.events, window.start, window.span)
    (data_dir / STATE_FILE).write_bytes(orjson.dumps(asdict(state)))
    return state, figures


def reused(directory: Path) -> State:
    """The state a kept run left in `directory`."""
    path = directory / STATE_FILE
    if not path.exists():
        raise SystemExit(f"{directory} holds no {STATE_FILE}: not a kept warehouse benchmark run")
    return State(**orjson.loads(path.read_bytes()))


def run_queries(
    args: argparse.Namespace, data_dir: Path, state: State
) -> tuple[list[Query], dict[str, Timings]]:
    """Time every query each way, then on Spark; print the per-query table."""
    opened = open_bench_warehouse(data_dir, state.account_id)
    spill = data_dir / "bench-spill"
    spill.mkdir(exist_ok=True)
    try:
        days = days_of(opened)
        third = max(1, len(days) // 3)
        month = (days[third], days[min(len(days), 2 * third) - 1])
        week_start = min(2 * third, len(days) - 1)
        week = (days[week_start], days[min(len(days), week_start + 7) - 1])
        src = plain_source(opened.table_dir)
        user = pick_user(args, spill, src, week)
        queries = audit_queries(opened.table.name, src, month, week, user)
        print(
            f"queries: month {month[0]}..{month[1]}, week {week[0]}..{week[1]}, user {user!r}; "
            f"{args.threads} threads, {args.memory_gb:g} GB, median of {args.runs} runs"
        )
        bench = QueryBench(opened, args, spill)
        results: dict[str, Timings] = {}
        references: dict[str, list[list[Any]]] = {}
        for query in queries:
            say(f"query ({query.key}): {query.title}")
            results[query.key] = bench.measure(query)
            references[query.key] = run_plain(args, spill, query.plain)
        engine, why_not = load_spark_engine(args, data_dir / "spark")
        if engine is None:
            print(f"Spark: {why_not}")
        else:
            try:
                say(f"Spark {args.spark_master}")
                first = measure_spark(engine, opened, args, queries, results, references)
                print(f"Spark: first query (session start included) {first:.1f} s")
            finally:
                engine.close()
    finally:
        opened.close()
    return queries, results


def main() -> int:
    """Append (unless --reuse), query, and print the tables."""
    args = arguments()
    data_dir = args.reuse or make_data_dir(args)
    figures: AppendFigures | None = None
    try:
        if args.reuse:
            state = reused(data_dir)
            say(f"reusing {data_dir} ({state.events:,} events)")
        else:
            state, figures = generate(args, data_dir)
        table_bytes = disk_usage(data_dir / "warehouse")
        print(
            f"warehouse: {state.events:,} events, {table_bytes / 1e9:.3f} GB on disk = "
            f"{table_bytes / state.events * 1e6 / 1e9:.3f} GB per million events"
        )
        if figures is not None:
            print()
            print(append_table(figures))
        else:
            print("appends: not measured (--reuse)")
        print()
        queries, results = run_queries(args, data_dir, state)
        print()
        print(query_table(queries, results))
        print()
        print(summary_table(figures, queries, results))
    finally:
        if args.reuse or args.keep:
            say(f"kept {data_dir}: run again with --reuse {data_dir}")
        else:
            shutil.rmtree(data_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
