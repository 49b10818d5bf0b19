"""The backfill benchmark: a delivery history job over a big event log, beside the raw writer.

Fills a fresh data directory's event log with events from the shared generator (10 million by
default), creates an account's trail with a MaxCompute destination, and runs a delivery history
job to completion through the real engine (`DeliveryEngine.run_once`, as the server loops it).
After each of the job's batches, the baseline: the raw writer (`Warehouse.writer.append`)
appends the same events, read from the log untimed as `LoggedEvent`s, in a batch of the same
size into another table, so both are timed at the same moments of a shared machine. Both
tables are counted through SQL. See bench/README.md. Quick try:
`.venv/bin/python bench/backfill.py --events 300000`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _events import DEFAULT_GEN_DIR, TimeWindow
from _prefill import prefill
from _report import Row, number, summary, table
from trailhouse.delivery.engine import DeliveryEngine
from trailhouse.delivery.history import JobStatus
from trailhouse.iam.principals import Caller
from trailhouse.iam.roles import service_linked_role_arn
from trailhouse.runtime import Services, open_services
from trailhouse.settings import Settings
from trailhouse.trails.model import Destinations
from trailhouse.trails.service import TrailSpec
from trailhouse.warehouse.model import project_name, table_name

TARGET_RATIO = 0.7  # the history job's events/s over the raw writer's (issue 5)
REGION = "cn-hangzhou"
TRAIL = "bench-backfill"
BASELINE_TABLE = "raw_writer_baseline"
DAYS = 90
# The log with its index (~1.15 GB per million) and two tables (~0.2 GB per million each).
GB_PER_MILLION_ESTIMATE = 1.6


def say(message: str) -> None:
    """Progress on stderr, so stdout holds only the figures."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def arguments() -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=10_000_000, help="events in the log")
    parser.add_argument(
        "--batch", type=int, default=50_000, help="delivery_batch_events, and the baseline's batch"
    )
    parser.add_argument(
        "--workdir", type=Path, default=Path("/tmp/trailhouse-bench-backfill"), help="data dir"
    )
    parser.add_argument("--prefill-workers", type=int, default=2, help="generating processes")
    parser.add_argument("--keep", action="store_true", help="keep the data dir after the run")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--gen-dir", type=Path, default=DEFAULT_GEN_DIR)
    parsed = parser.parse_args()
    if min(parsed.events, parsed.batch) < 1:
        parser.error("--events and --batch must be at least 1")
    return parsed


@dataclass(slots=True)
class Figures:
    """Seconds and events of the history job's batches and of the baseline's appends."""

    job_seconds: float = 0.0
    job_cpu_seconds: float = 0.0
    job_events: int = 0
    job_batches: int = 0
    baseline_seconds: float = 0.0
    baseline_cpu_seconds: float = 0.0
    baseline_events: int = 0
    baseline_batches: int = 0
    baseline_read_seconds: float = 0.0

    @property
    def job_rate(self) -> float:
        """The history job's events per second."""
        return self.job_events / self.job_seconds if self.job_seconds else 0.0

    @property
    def baseline_rate(self) -> float:
        """The raw writer's events per second."""
        return self.baseline_events / self.baseline_seconds if self.baseline_seconds else 0.0


def check_disk(workdir: Path, events: int) -> None:
    """Refuse to start when the disk cannot hold the run."""
    workdir.parent.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(workdir.parent).free
    needed = int(events / 1e6 * GB_PER_MILLION_ESTIMATE * 1e9)
    say(f"disk: {free / 1e9:.1f} GB free, about {needed / 1e9:.1f} GB needed")
    if free < needed * 1.2:
        raise SystemExit(f"not enough disk under {workdir.parent}: lower --events")


def fill_log(services: Services, args: argparse.Namespace, account_id: str) -> int:
    """Append `--events` generated events of the account to the log; the number stored."""
    window = TimeWindow.last_days(int(time.time()), DAYS)
    say(f"prefill: {args.events:,} events over the last {DAYS} days")
    result = prefill(
        services.stores.events,
        gen_dir=args.gen_dir,
        seed=args.seed,
        account_id=account_id,
        total=args.events,
        window=window,
        workers=args.prefill_workers,
        append_size=20_000,
    )
    say(
        f"prefill: {result.stats.stored:,} stored in {result.seconds:.0f} s (append "
        f"{result.append_seconds:.0f} s, index catch-up {result.catch_up_seconds:.0f} s)"
    )
    if not result.caught_up:
        raise SystemExit("the index did not catch up with the prefill")
    return result.stats.stored


def start_job(services: Services, account_id: str) -> tuple[DeliveryEngine, int, int]:
    """The trail (logging from the log's end) and its history job over everything before."""
    spec = TrailSpec(
        name=TRAIL,
        destinations=Destinations(
            max_compute_project_arn=(
                f"acs:odps:{REGION}:{account_id}:project/{project_name(account_id)}"
            )
        ),
    )
    services.trails.create(account_id, REGION, spec)
    services.start_logging(account_id, TRAIL)  # a session from the log's end: all is history
    engine = services.delivery_engine()
    engine.run_once()  # creates the project and the trail's table
    job = services.history.create(account_id, TRAIL)
    say(f"history job {job.job_id}: log positions up to {job.upto_seq:,}")
    return engine, job.job_id, job.upto_seq


def run_both(services: Services, account_id: str, batch: int) -> Figures:
    """The history job to completion, one `run_once` (one batch) at a time, each followed by
    one batch of the raw writer; each timed on its own."""
    engine, job_id, upto = start_job(services, account_id)
    catalog = services.warehouse.catalog
    project = catalog.get_project(REGION, project_name(account_id))
    baseline = catalog.ensure_table(project, BASELINE_TABLE)
    role = service_linked_role_arn(account_id)
    figures = Figures()
    position = 0
    next_report = 0.1
    running = True
    while running or position < upto:
        if running:
            begun, cpu = time.perf_counter(), time.process_time()
            engine.run_once()
            figures.job_seconds += time.perf_counter() - begun
            figures.job_cpu_seconds += time.process_time() - cpu
            figures.job_batches += 1
            job = services.history.get(account_id, job_id)
            figures.job_events = job.delivered_events
            running = job.status in JobStatus.RUNNING
            if not running and job.status != JobStatus.COMPLETE:
                raise SystemExit(f"the history job ended as {job}")
            if figures.job_batches > upto // batch + 10:
                raise SystemExit(f"the history job does not end: {job}")
        begun = time.perf_counter()
        events = services.stores.events.read_after(position, min(batch, upto - position))
        figures.baseline_read_seconds += time.perf_counter() - begun
        if events:
            begun, cpu = time.perf_counter(), time.process_time()
            result = services.warehouse.writer.append(
                project,
                baseline,
                events,
                writer_role_arn=role,
                source_account=account_id,
                source=f"{account_id}-baseline",
            )
            figures.baseline_seconds += time.perf_counter() - begun
            figures.baseline_cpu_seconds += time.process_time() - cpu
            if result.already_committed or result.rows != len(events):
                raise RuntimeError(f"baseline batch after {position}: the writer gave {result}")
            figures.baseline_events += len(events)
            figures.baseline_batches += 1
            position = events[-1].seq
        elif not running:
            break
        del events
        if figures.job_events >= next_report * upto:
            say(
                f"  {figures.job_events:,} events: history job {figures.job_rate:,.0f}/s, "
                f"raw writer {figures.baseline_rate:,.0f}/s"
            )
            next_report += 0.1
    return figures


def count_rows(services: Services, account_id: str, table: str) -> tuple[int, int]:
    """COUNT(*) and COUNT(DISTINCT event_id) of a table, through a SQL job."""
    caller = Caller("bench", "root-account", account_id, "root", account_id)
    jobs = services.warehouse.jobs
    project = services.warehouse.catalog.get_project(REGION, project_name(account_id))
    job = jobs.submit(caller, project, f"SELECT COUNT(*), COUNT(DISTINCT event_id) FROM {table}")
    done = jobs.wait(caller, job.job_id, timeout=3600)
    if done.status != "Terminated":
        raise RuntimeError(f"the count of {table} failed: {done.error_message}")
    rows: list[list[Any]] = jobs.result(caller, job.job_id, 0, 10).rows
    return int(rows[0][0]), int(rows[0][1])


def main() -> int:
    """Run the benchmark; exit 1 when a table does not hold every event exactly once."""
    args = arguments()
    check_disk(args.workdir, args.events)
    if args.workdir.exists():
        shutil.rmtree(args.workdir)
    settings = Settings.load(
        {"data_dir": args.workdir, "delivery_batch_events": args.batch}, environ={}
    )
    services = open_services(settings)
    try:
        account_id = services.accounts.create_account().account_id
        stored = fill_log(services, args, account_id)
        say("the history job through the delivery engine, and the raw writer, batch by batch")
        figures = run_both(services, account_id, args.batch)
        say("counting both tables through SQL jobs")
        job_rows = count_rows(services, account_id, table_name(TRAIL))
        baseline_rows = count_rows(services, account_id, BASELINE_TABLE)
    finally:
        services.close()
    if not args.keep:
        shutil.rmtree(args.workdir, ignore_errors=True)
    ratio = figures.job_rate / figures.baseline_rate if figures.baseline_rate else 0.0
    print(
        table(
            ("", "events", "batches", "seconds", "events/s", "CPU µs/event"),
            [
                [
                    "history job (run_once: read log, select, write, commit)",
                    f"{figures.job_events:,}",
                    str(figures.job_batches),
                    f"{figures.job_seconds:.1f}",
                    number(figures.job_rate, ""),
                    f"{figures.job_cpu_seconds / max(figures.job_events, 1) * 1e6:.1f}",
                ],
                [
                    "raw writer (writer.append of LoggedEvents in memory)",
                    f"{figures.baseline_events:,}",
                    str(figures.baseline_batches),
                    f"{figures.baseline_seconds:.1f}",
                    number(figures.baseline_rate, ""),
                    f"{figures.baseline_cpu_seconds / max(figures.baseline_events, 1) * 1e6:.1f}",
                ],
            ],
        )
    )
    print(
        f"\n(the baseline's untimed reads from the log took {figures.baseline_read_seconds:.1f} s"
        f" = {figures.baseline_read_seconds / max(figures.baseline_events, 1) * 1e6:.1f} µs/event)"
    )
    exact = [
        ["history job table", f"{job_rows[0]:,}", f"{job_rows[1]:,}", f"{stored:,}"],
        ["baseline table", f"{baseline_rows[0]:,}", f"{baseline_rows[1]:,}", f"{stored:,}"],
    ]
    print("\n" + table(("exactly once", "COUNT(*)", "COUNT(DISTINCT event_id)", "stored"), exact))
    once = job_rows == (stored, stored) and baseline_rows == (stored, stored)
    print(
        "\n"
        + summary(
            [
                Row(
                    "history job backfill, events/s",
                    figures.job_rate,
                    "",
                    figures.baseline_rate,
                    "raw writer",
                    TARGET_RATIO * figures.baseline_rate,
                ),
            ]
        )
    )
    print(f"\nratio {ratio:.2f}× (target ≥ {TARGET_RATIO}×); exactly once: {once}")
    print(f"cpu count {os.cpu_count()}, load average {os.getloadavg()[0]:.2f}")
    return 0 if once else 1


if __name__ == "__main__":
    raise SystemExit(main())
