"""Run SQL jobs on a local Spark opened from settings, in a process of its own.

PySpark runs one SparkContext per process, and the test run's shared session was started with
its own heap, so the memory-budget test opens its engine here, from the settings alone, as
`trailhouse serve` does. It prints one JSON line: the JVM's heap, and each job's outcome.
Usage: spark_budget_client.py <data dir> <memory budget GB> <events> <sql>...
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import orjson
from builders import logged_events, open_test_warehouse, root
from pyspark import SparkContext


def main(data_dir: Path, budget_gb: float, events: int, queries: list[str]) -> dict[str, Any]:
    tw = open_test_warehouse(
        data_dir,
        sql_engine="spark",
        spark_master="local[1]",
        sql_memory_budget_gb=budget_gb,
        sql_job_seconds=240.0,
    )
    try:
        tw.append(logged_events(events, days=1))
        jobs = tw.warehouse.jobs
        outcomes = []
        for sql in queries:
            job = jobs.wait(root(), jobs.submit(root(), tw.project, sql).job_id, timeout=280)
            rows = jobs.result(root(), job.job_id).rows if job.status == "Terminated" else None
            outcomes.append({"status": job.status, "code": job.error_code, "rows": rows})
        assert jobs.engine_name == "spark"
        # The context the engine started (getOrCreate hands back the running one).
        jvm: Any = SparkContext.getOrCreate()._jvm
        runtime = jvm.java.lang.Runtime.getRuntime()
        return {"heap_mb": runtime.maxMemory() // 2**20, "jobs": outcomes}
    finally:
        tw.close()


if __name__ == "__main__":
    report = main(Path(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), sys.argv[4:])
    sys.stdout.write(orjson.dumps(report).decode() + "\n")
