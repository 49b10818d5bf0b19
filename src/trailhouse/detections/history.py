"""Running a rule over a delivered table's history: the rule's SQL (`sql.py`) as a job of the
warehouse's SQL job service, under the caller's permissions and metered as any job, and the
rows it returns through the rule's own matcher and correlations."""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from trailhouse.detections.engine import Evaluator, Match, MemoryFirstSeen, moment_of
from trailhouse.detections.rules import CompiledRule
from trailhouse.detections.sql import MAX_ROWS, history_sql
from trailhouse.iam.principals import Caller
from trailhouse.warehouse.jobs import SqlJobService
from trailhouse.warehouse.model import Project

JOB_SECONDS = 300.0


@dataclass(frozen=True, slots=True)
class HistoryRun:
    """What a rule found in a table's days: its matches, the SQL job and whether the rows it
    read reached `MAX_ROWS` (then narrow the days)."""

    matches: list[Match]
    job_id: str
    rows_read: int
    truncated: bool


class HistoryFailed(RuntimeError):
    """The rule's SQL job did not finish (its error code and message)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def run_history(
    jobs: SqlJobService,
    caller: Caller,
    project: Project,
    table: str,
    rule: CompiledRule,
    days: tuple[str, str],
) -> HistoryRun:
    """Find the rule's matches in `table`'s partitions from days[0] to days[1] (yyyymmdd)."""
    job = jobs.submit(caller, project, history_sql(rule, table, *days))
    job = jobs.wait(caller, job.job_id, timeout=JOB_SECONDS)
    if job.error_code or job.status != "Terminated":
        raise HistoryFailed(job.error_code or "Timeout", job.error_message or job.status)
    events: list[tuple[int, dict[str, object]]] = []
    offset = 0
    while True:
        page = jobs.result(caller, job.job_id, offset, 1000)
        for row in page.rows:
            event = orjson.loads(row[0]) if row and isinstance(row[0], str) else None
            if isinstance(event, dict):
                events.append((moment_of(event), event))
        offset += len(page.rows)
        if not page.truncated or not page.rows:
            break
    matches = Evaluator(MemoryFirstSeen()).evaluate(caller.account_id, [rule], events)
    return HistoryRun(matches, job.job_id, len(events), len(events) >= MAX_ROWS)
