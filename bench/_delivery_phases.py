"""The delivery benchmark's phases: its account and trail, each load phase, the history job,
and the exactly-once checks by SQL."""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import orjson

from _delivery_load import (
    BASELINE,
    MAIN,
    REGION,
    TRAIL,
    LoadFigures,
    LoadPlan,
    LoadRun,
    Sent,
    load_figures,
    say,
)
from _delivery_watch import (
    Monitor,
    Observation,
    SqlLoad,
    SqlProbe,
    SqlProber,
    count_sql,
    cpu_seconds,
    run_sql,
)
from _servers import Credentials
from trailhouse.client import RpcClient
from trailhouse.settings import Settings
from trailhouse.warehouse.model import project_name, table_name

# --- Setting up ---------------------------------------------------------------------------


def create_account(data_dir: Path) -> Credentials:
    """A new account, made with `trailhouse account create` (before the server starts)."""
    done = subprocess.run(
        [sys.executable, "-m", "trailhouse", "account", "create", "--data-dir", str(data_dir)],
        capture_output=True,
        check=True,
        timeout=120,
    )
    made = orjson.loads(done.stdout)
    return Credentials(made["AccountId"], made["AccessKeyId"], made["AccessKeySecret"])


def create_trail(client: RpcClient, account_id: str) -> None:
    """The benchmark's trail: every event of the account, into the account's project."""
    arn = f"acs:odps:{REGION}:{account_id}:project/{project_name(account_id)}"
    client.call("CreateTrail", {"Name": TRAIL, "EventRW": "All", "MaxComputeProjectArn": arn})


def table_files(data_dir: Path) -> tuple[int, int]:
    """Parquet files and their bytes in the warehouse (the trail's table is the only one)."""
    root = Settings.load({"data_dir": data_dir}, environ={}).warehouse_path
    sizes = [
        path.stat().st_size for path in root.rglob("*.parquet") if "_staging" not in path.parts
    ]
    return len(sizes), sum(sizes)


# --- Phases -----------------------------------------------------------------------------------


@dataclass
class Phase:
    """A finished phase: its calls, figures, and the server CPU it cost."""

    name: str
    sent: list[Sent]
    figures: LoadFigures
    start: float
    cpu_seconds: float

    @property
    def cpu_ms_per_thousand(self) -> float:
        """Server CPU milliseconds per 1,000 accepted events."""
        if not self.figures.accepted:
            return 0.0
        return self.cpu_seconds * 1e6 / self.figures.accepted


def plan_for(args: argparse.Namespace, credentials: Credentials, run: str, phase: str) -> LoadPlan:
    """The load plan of one phase (`rate` 0 for the unpaced ceilings)."""
    paced = phase in {MAIN, BASELINE}
    seconds = {MAIN: args.seconds, BASELINE: args.baseline_seconds}.get(phase, args.ceiling_seconds)
    return LoadPlan(
        endpoint=f"http://127.0.0.1:{args.port}",
        credentials=credentials,
        run=run,
        phase=phase,
        rate=args.rate if paced else 0.0,
        seconds=seconds,
        batch=args.batch,
        procs=args.procs,
        threads=args.threads,
        pool=args.pool,
        gen_dir=args.gen_dir,
        seed=args.seed,
    )


def describe(phase: Phase) -> None:
    """Print one phase's load figures."""
    figures = phase.figures
    print(
        f"{phase.name}: {figures.rate:,.0f} events/s accepted ({figures.accepted:,} events in "
        f"{figures.seconds:.1f} s, {figures.failed} failed, {figures.errors} request errors), "
        f"PutEvents p50 {figures.p50_ms:.1f} ms, p99 {figures.p99_ms:.1f} ms, server CPU "
        f"{phase.cpu_seconds:.1f} s = {phase.cpu_ms_per_thousand:.1f} ms per 1,000 events"
    )
    for sample in figures.error_samples:
        print(f"  error: {sample}")


def unpaced_phase(name: str, plan: LoadPlan, pid: int) -> Phase:
    """A ceiling: the same senders as fast as they go; nothing else runs meanwhile."""
    load = LoadRun(plan)
    load.fork()
    start = load.go()
    cpu_before = cpu_seconds(pid)
    sent = load.join()
    cpu = cpu_seconds(pid) - cpu_before
    return Phase(name, sent, load_figures(sent, start, plan), start, cpu)


# --- Main ---------------------------------------------------------------------------------


@dataclass
class MainResult:
    """The logging phase and everything seen while it ran and drained."""

    phase: Phase
    observations: list[Observation]
    probes: list[SqlProbe]
    drained: bool
    drained_at: float
    sql_queries: int


def main_phase(
    args: argparse.Namespace, plan: LoadPlan, client: RpcClient, pid: int, project: str
) -> MainResult:
    """The paced load into the logging trail, watched by GetTrailStatus and SQL, then drained."""
    load = LoadRun(plan)
    load.fork()
    monitor = Monitor(client, pid, args.poll)
    sql_client = RpcClient(plan.endpoint, plan.credentials.key_id, plan.credentials.secret)
    prober = SqlProber(sql_client, project, load, monitor, args.sql_every)
    monitor.start()
    start = load.go()
    cpu_before = cpu_seconds(pid)
    prober.start()
    say(f"paced load: {args.rate:,.0f} events/s for {args.seconds:.0f} s")
    sent = load.join()
    last_ack = max((call.acked_at for call in sent if call.accepted), default=start)
    say("load done; waiting until DeliveredUpTo passes the last accepted batch")
    drained = monitor.wait_for(
        lambda seen: seen.watermark_ms >= int(last_ack * 1000), args.drain_timeout
    )
    drained_at = time.time()
    cpu = cpu_seconds(pid) - cpu_before
    probes = prober.finish()
    time.sleep(1.0)  # a second of the quiet after, for the series
    observations = monitor.stop()
    sql_client.close()
    phase = Phase(
        "PutEvents, trail logging (paced)",
        sent,
        load_figures(sent, start, plan),
        start,
        cpu,
    )
    queries = sum(probe.queries for probe in probes)
    return MainResult(phase, observations, probes, drained, drained_at, queries)


def baseline_phase(
    args: argparse.Namespace,
    plan: LoadPlan,
    client: RpcClient,
    pid: int,
    project: str,
    sql: tuple[str, int],
) -> Phase:
    """The same paced load with the trail stopped, with the same polling and SQL jobs beside."""
    load = LoadRun(plan)
    load.fork()
    monitor = Monitor(client, pid, args.poll)
    sql_client = RpcClient(plan.endpoint, plan.credentials.key_id, plan.credentials.secret)
    prefix, count = sql
    queries = SqlLoad(sql_client, project, prefix, count, plan.seconds)
    monitor.start()
    start = load.go()
    cpu_before = cpu_seconds(pid)
    queries.start()
    sent = load.join()
    queries.join()
    cpu = cpu_seconds(pid) - cpu_before
    monitor.stop()
    sql_client.close()
    figures = load_figures(sent, start, plan)
    return Phase("PutEvents, trail stopped (paced baseline)", sent, figures, start, cpu)


@dataclass(frozen=True, slots=True)
class Backfill:
    """A delivery history job over what the trail missed while stopped, run with no load."""

    status: int
    delivered: int
    seconds: float
    error: str

    @property
    def rate(self) -> float:
        """Events delivered per second."""
        return self.delivered / self.seconds if self.seconds else 0.0


def backfill_phase(client: RpcClient, timeout: float) -> Backfill:
    """StartLogging again (a new session, from the log's end), then CreateDeliveryHistoryJob,
    polled until it completes: delivery's own pace, the API otherwise idle.

    The job covers the log up to where the new session began and skips what the trail has
    covered, so it delivers the stopped phases' events (and the tail of the logging ceiling
    that StopLogging cut off) and nothing twice.
    """
    client.call("StartLogging", {"Name": TRAIL})
    started = time.time()
    job_id = client.call("CreateDeliveryHistoryJob", {"TrailName": TRAIL})["JobId"]
    give_up = started + timeout
    while True:
        job = client.call("GetDeliveryHistoryJob", {"JobId": str(job_id)})
        if job["JobStatus"] in {2, 3} or time.time() > give_up:
            break
        time.sleep(0.1)
    return Backfill(
        status=int(job["JobStatus"]),
        delivered=int(job.get("DeliveredEvents", 0)),
        seconds=time.time() - started,
        error=str(job.get("ErrorMessage") or ""),
    )


def peak_memory_mb(pid: int) -> float:
    """The process's peak resident memory (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


@dataclass(frozen=True, slots=True)
class OnceCheck:
    """One phase's events in the table, counted by SQL, against what PutEvents accepted."""

    name: str
    accepted: int
    unknown: int  # events of calls that failed without an answer: stored or not
    rows: int
    distinct: int
    seconds: float

    @property
    def held(self) -> bool:
        """Every accepted event is in the table exactly once (and nothing else is)."""
        return (
            self.rows == self.distinct
            and self.accepted <= self.rows <= self.accepted + self.unknown
        )


def exactly_once(
    client: RpcClient, project: str, run: str, phase: str, name: str, load: Phase
) -> OnceCheck:
    """COUNT(*) and COUNT(DISTINCT event_id) of one phase's events (their ids name the run and
    the phase), against the number PutEvents accepted."""
    stem = f"{run}-{phase}"
    answer = run_sql(client, project, count_sql(f"{project}.{table_name(TRAIL)}", stem))
    rows, distinct = int(answer.rows[0][0]), int(answer.rows[0][1])
    took = answer.answered_at - answer.submitted_at
    figures = load.figures
    return OnceCheck(name, figures.accepted, figures.unknown, rows, distinct, took)
