"""On a local Spark, the process's SQL memory budget is the memory every job shares.

`trailhouse serve` with `sql_engine = spark` on `local[N]` runs every job in one JVM. Its heap is
`sql_memory_budget_gb`, and a job that needs more fails alone (QuotaExceeded, as on DuckDB):
before, the heap was Spark's default whatever the budget said, and a job past it ended the JVM,
so every later job of the process failed with "Connection refused" until a restart.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from system_packages import require_java
from trailhouse.warehouse.sql.spark import SparkEngine

HERE = Path(__file__).parent
TABLE = "actiontrail_audit_trail"
# Each row 2 MB (REPEAT's cap): 400 rows are 800 MB, past a 512 MB heap.
GREEDY = f"SELECT REPEAT(event, 100000) AS big FROM {TABLE}"
COUNT = f"SELECT COUNT(*) AS n FROM {TABLE}"


def test_a_local_masters_jvm_gets_the_budget_and_survives_a_job_past_it(tmp_path: Path) -> None:
    require_java()
    run = subprocess.run(
        [
            sys.executable,
            str(HERE / "spark_budget_client.py"),
            str(tmp_path / "data"),
            "0.5",
            "400",
            GREEDY,
            COUNT,
        ],
        capture_output=True,
        env={**os.environ, "SPARK_CONF_DIR": str(tmp_path)},  # no spark-defaults.conf
        timeout=280,
        check=False,
    )
    assert run.returncode == 0, run.stderr.decode()[-3000:]
    report = orjson.loads(run.stdout.splitlines()[-1])
    assert 450 <= report["heap_mb"] <= 512, report
    greedy, count = report["jobs"]
    assert (greedy["status"], greedy["code"]) == ("Failed", "QuotaExceeded"), report
    assert (count["status"], count["rows"]) == ("Terminated", [[400]]), report


@pytest.mark.parametrize(
    ("master", "memory_gb", "expected"),
    [
        ("local[2]", 6.0, {"spark.driver.memory": "6144m", "killOnFatalError": "0"}),
        ("local[2]", None, {"spark.driver.memory": None, "killOnFatalError": "0"}),
        ("local[2]", 0.1, {"spark.driver.memory": "512m", "killOnFatalError": "0"}),
        ("spark://127.0.0.1:7077", 6.0, {"spark.driver.memory": None, "killOnFatalError": None}),
    ],
)
def test_only_a_local_master_is_given_the_budget_as_its_heap(
    tmp_path: Path, master: str, memory_gb: float | None, expected: dict[str, str | None]
) -> None:
    # On a cluster the executors do the work with the cluster's memory, and the driver's heap
    # is whatever spark-defaults.conf says (docs/spark.md).
    conf = SparkEngine(master, tmp_path, memory_gb=memory_gb)._classic_conf()
    assert conf.get("spark.driver.memory") == expected["spark.driver.memory"]
    assert conf.get("spark.executor.killOnFatalError.depth") == expected["killOnFatalError"]
