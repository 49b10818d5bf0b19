"""Run MaxCompute queries through SparkEngine on a given master, in a process of its own.

PySpark runs one SparkContext per process and `getOrCreate` would hand back the test run's
local session, so the cluster test drives the engine from this process. It reads a JSON request
on stdin ({"master", "data_dir", "work_dir", "conf", "queries", "cancel"}) and prints one JSON
line: each query's result (or error), the executors that ran them, and how a cancel went.
Usage: spark_cluster_client.py < request.json
"""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path
from typing import Any

import orjson
from builders import TRAIL, open_test_warehouse, root

from trailhouse.warehouse.model import table_name
from trailhouse.warehouse.sql.engine import EngineError, JobControl, Limits, ResultSet
from trailhouse.warehouse.sql.spark import SparkEngine

LIMITS = Limits(2, 2.0, 10000)


def _result(result: ResultSet) -> dict[str, Any]:
    return {
        "columns": result.columns,
        "types": result.types,
        "rows": result.rows,
        "truncated": result.truncated,
    }


def _cancel(engine: SparkEngine, plan: Any) -> dict[str, Any]:
    """Start a query of minutes, cancel it once it has made progress; how long each step took."""
    control = JobControl()
    outcome: dict[str, Any] = {}

    def work() -> None:
        try:
            engine.run(plan, LIMITS, control)
            outcome["error"] = "finished"
        except EngineError as exc:
            outcome["error"] = exc.kind
        except Exception as exc:  # reported, to be read beside the assertion that fails
            outcome["error"] = f"{type(exc).__name__}: {exc}"

    worker = threading.Thread(target=work)
    started = time.monotonic()
    worker.start()
    while control.progress == 0.0 and worker.is_alive() and time.monotonic() - started < 60:
        time.sleep(0.05)
    outcome["progress_seen"] = control.progress
    outcome["alive_at_cancel"] = worker.is_alive()
    cancelled_at = time.monotonic()
    control.cancel()
    worker.join(timeout=60)
    outcome["seconds_to_cancel"] = time.monotonic() - cancelled_at
    return outcome


def main(request: dict[str, Any]) -> dict[str, Any]:
    tw = open_test_warehouse(Path(request["data_dir"]))
    table = table_name(TRAIL)
    engine = SparkEngine(request["master"], Path(request["work_dir"]), conf=request["conf"])
    report: dict[str, Any] = {"results": []}
    try:
        for sql in request["queries"]:
            planned = tw.warehouse.planner.plan(root(), tw.project, sql)
            try:
                report["results"].append(_result(engine.run(planned.plan, LIMITS, JobControl())))
            except EngineError as exc:
                report["results"].append({"error": f"{exc.kind}: {exc.message}"})
        if not engine.is_connect:
            tracker = engine.session().sparkContext.statusTracker()
            report["executor_hosts"] = sorted(e.host for e in tracker.getExecutorInfos())
        if request["cancel"]:
            # Billions of rows: minutes unless cancelled. One day of `c` keeps the work done for
            # each row of `a` (between two checks for a cancel) under a second.
            days = sorted(p.ds for p in tw.warehouse.catalog.list_partitions(tw.table))
            sql = (
                "SELECT SUM(LENGTH(a.event_id) + LENGTH(b.event_id) + LENGTH(c.event_id)) AS n "
                f"FROM {table} a CROSS JOIN {table} b CROSS JOIN {table} c "
                f"WHERE c.ds = '{days[len(days) // 2]}'"
            )
            cross = tw.warehouse.planner.plan(root(), tw.project, sql)
            report["cancel"] = _cancel(engine, cross.plan)
            count = tw.warehouse.planner.plan(root(), tw.project, f"SELECT COUNT(*) FROM {table}")
            after = time.monotonic()
            report["count_after_cancel"] = engine.run(count.plan, LIMITS, JobControl()).rows
            report["seconds_after_cancel"] = time.monotonic() - after
    finally:
        engine.close()
        tw.close()
    return report


if __name__ == "__main__":
    sys.stdout.write(orjson.dumps(main(orjson.loads(sys.stdin.buffer.read()))).decode() + "\n")
