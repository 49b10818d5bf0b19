"""SparkEngine on a real Spark standalone cluster (`spark://`) and a Spark Connect server (`sc://`).

A master, a worker and a Connect server (an application of that master) start as processes on
free 127.0.0.1 ports from the PySpark installation's own jars: nothing downloads. The engine runs
in a process of its own (spark_cluster_client.py) over the warehouse folder this test fills, and
its answers to parity queries are compared with DuckDB's over the same plans.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest
from builders import WarehouseFixture, logged_events, open_test_warehouse, root
from test_engine_parity import LIMITS, QUERIES, TABLE, assert_same_rows

from system_packages import require_java
from trailhouse.warehouse.sql.duckdb_engine import DuckDbEngine
from trailhouse.warehouse.sql.engine import EngineError, JobControl, ResultSet
from trailhouse.warehouse.sql.spark import SparkEngine

HERE = Path(__file__).parent
EVENTS = 2000
# A few of the parity queries (JSON, LATERAL VIEW and a shuffle, every column, no file); the
# whole list runs on local Spark in test_engine_parity.py.
PARITY = {
    "count by eventName over a ds range",
    "JSON_TUPLE with LATERAL VIEW",
    "every column in table order",
    "an aggregate over no file",
}
# Six JVMs that live for a minute on two cores: the quick compiler only and one GC thread each
# about halved the module's time here (their JIT and GC threads compete with the work).
QUICK_JVM = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"
# Each application gets one of the worker's two cores, so the Connect server and the engine's
# own application run side by side. `spark.pyspark.python` names no program: the executors never
# start Python, since every plan is plain Spark SQL.
CLIENT_CONF = {
    "spark.driver.host": "127.0.0.1",
    "spark.driver.bindAddress": "127.0.0.1",
    "spark.driver.memory": "512m",
    "spark.executor.memory": "512m",
    "spark.cores.max": "1",
    "spark.sql.shuffle.partitions": "2",
    "spark.pyspark.python": "/nonexistent/python3",
    "spark.driver.extraJavaOptions": QUICK_JVM,
    "spark.executor.extraJavaOptions": QUICK_JVM,
}
# Variables through which PySpark would pick another master or a Connect server of its own.
_SPARK_SELECTORS = ("MASTER", "SPARK_REMOTE", "SPARK_CONNECT_MODE_ENABLED", "PYSPARK_SUBMIT_ARGS")


@dataclass
class Cluster:
    """A running master, worker and Connect server, and how to reach them."""

    master_url: str
    connect_url: str
    web_url: str
    env: dict[str, str]
    logs: list[Path] = field(default_factory=list)

    def applications(self) -> list[dict[str, Any]]:
        """The master's running and finished applications, as its JSON page lists them."""
        with urllib.request.urlopen(f"{self.web_url}/json/", timeout=5) as page:
            state = orjson.loads(page.read())
        return [*state["activeapps"], *state["completedapps"]]

    def log_tails(self) -> str:
        return "\n".join(f"--- {log.name}\n{log.read_text()[-2000:]}" for log in self.logs)


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _require_java_and_pyspark() -> Path:
    """The PySpark installation (its bin/ and jars/); a skip, or in CI a failure, without it."""
    try:
        import pyspark
    except ImportError:
        message = "the Spark cluster test needs PySpark: pip install 'trailhouse[spark]'"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    require_java()
    return Path(pyspark.__file__).parent


def _stop(process: subprocess.Popen[bytes]) -> None:
    """End the process group (a worker's executors are in its group): TERM, then KILL."""
    for sig, wait in ((signal.SIGTERM, 15.0), (signal.SIGKILL, 15.0)):
        with suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        with suppress(subprocess.TimeoutExpired):
            process.wait(timeout=wait)
            return


def _wait_for(check: Callable[[], bool], seconds: float, what: str, cluster: Cluster) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with suppress(OSError, ValueError, KeyError):
            if check():
                return
        time.sleep(0.25)
    pytest.fail(f"{what} within {seconds:.0f} s\n{cluster.log_tails()}")


def _accepts(port: int) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=1):
        return True


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """A standalone master and a two-core worker, and a Connect server running on them."""
    spark_home = _require_java_and_pyspark()
    base = tmp_path_factory.mktemp("spark-cluster")
    (base / "conf").mkdir()  # an empty SPARK_CONF_DIR: no spark-defaults.conf from elsewhere
    master_port, web_port, worker_web_port, connect_port = _free_ports(4)
    env = {key: value for key, value in os.environ.items() if key not in _SPARK_SELECTORS}
    env.update(
        SPARK_HOME=str(spark_home),
        SPARK_CONF_DIR=str(base / "conf"),
        SPARK_LOCAL_IP="127.0.0.1",
        SPARK_MASTER_OPTS="-Dspark.master.rest.enabled=false",
        SPARK_DAEMON_JAVA_OPTS=QUICK_JVM,
    )
    cluster = Cluster(
        f"spark://127.0.0.1:{master_port}",
        f"sc://127.0.0.1:{connect_port}",
        f"http://127.0.0.1:{web_port}",
        env,
    )
    commands = {
        "master": [
            "bin/spark-class",
            "org.apache.spark.deploy.master.Master",
            *("--host", "127.0.0.1", "--port", str(master_port), "--webui-port", str(web_port)),
        ],
        "worker": [
            "bin/spark-class",
            "org.apache.spark.deploy.worker.Worker",
            *("--host", "127.0.0.1", "--cores", "2", "--memory", "2g"),
            *("--webui-port", str(worker_web_port), "--work-dir", str(base / "work")),
            cluster.master_url,
        ],
        "connect": [
            "bin/spark-submit",
            *("--class", "org.apache.spark.sql.connect.service.SparkConnectServer"),
            *("--name", "Spark Connect server", "--master", cluster.master_url),
            *("--conf", "spark.connect.grpc.binding.address=127.0.0.1"),
            *("--conf", f"spark.connect.grpc.binding.port={connect_port}"),
            *("--conf", "spark.driver.host=127.0.0.1", "--conf", "spark.ui.enabled=false"),
            *("--conf", "spark.cores.max=1", "--conf", "spark.executor.memory=512m"),
            *("--conf", "spark.driver.memory=512m"),
            *("--driver-java-options", QUICK_JVM),
            *("--conf", f"spark.executor.extraJavaOptions={QUICK_JVM}"),
        ],
    }
    processes: list[subprocess.Popen[bytes]] = []
    try:
        for name, command in commands.items():
            log = base / f"{name}.log"
            cluster.logs.append(log)
            with log.open("wb") as out:
                processes.append(
                    subprocess.Popen(
                        [str(spark_home / command[0]), *command[1:]],
                        cwd=base,
                        env=env,
                        stdout=out,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                )

        def worker_alive() -> bool:
            with urllib.request.urlopen(f"{cluster.web_url}/json/", timeout=5) as page:
                return bool(orjson.loads(page.read())["aliveworkers"] == 1)

        _wait_for(worker_alive, 90, "the worker did not join the master", cluster)
        _wait_for(lambda: _accepts(connect_port), 120, "the Connect server did not start", cluster)
        yield cluster
    finally:
        for process in reversed(processes):
            _stop(process)


@pytest.fixture(scope="module")
def tw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WarehouseFixture]:
    opened = open_test_warehouse(tmp_path_factory.mktemp("cluster-warehouse") / "data")
    opened.append(logged_events(EVENTS, days=3))
    yield opened
    opened.close()


@pytest.fixture(scope="module")
def queries(tw: WarehouseFixture) -> list[tuple[str, str, bool]]:
    days = sorted(p.ds for p in tw.warehouse.catalog.list_partitions(tw.table))
    return [
        (name, sql.format(first=days[0], mid=days[len(days) // 2], last=days[-1]), ordered)
        for name, sql, ordered in QUERIES
        if name in PARITY
    ]


@dataclass
class ClientRun:
    """What one engine process did: its pid (the application's name has it) and its report."""

    pid: int
    returncode: int
    report: dict[str, Any]
    stderr: str


def _start_client(
    cluster: Cluster, master: str, tw: WarehouseFixture, base: Path, sqls: list[str]
) -> subprocess.Popen[bytes]:
    """Start the engine in a process of its own (files, not pipes: two run at once).

    Its paths are relative, as in `trailhouse serve --data-dir ./data`: the executors, which
    run elsewhere, must still find the files.
    """
    base.mkdir()
    cwd = tw.settings.data_dir.parent
    request = {
        "master": master,
        "data_dir": tw.settings.data_dir.name,
        "work_dir": os.path.relpath(base / "spark", cwd),
        "conf": CLIENT_CONF,
        "queries": sqls,
        "cancel": True,
    }
    (base / "request.json").write_bytes(orjson.dumps(request))
    with (
        (base / "request.json").open("rb") as stdin,
        (base / "report.json").open("wb") as stdout,
        (base / "stderr.log").open("wb") as stderr,
    ):
        return subprocess.Popen(
            [sys.executable, str(HERE / "spark_cluster_client.py")],
            cwd=cwd,
            env=cluster.env,
            stdin=stdin,
            stdout=stdout,
            stderr=stderr,
            start_new_session=True,
        )


@pytest.fixture(scope="module")
def runs(
    cluster: Cluster,
    tw: WarehouseFixture,
    queries: list[tuple[str, str, bool]],
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, ClientRun]:
    """The engine on the master and through the Connect server, run at once (a core each)."""
    base = tmp_path_factory.mktemp("clients")
    sqls = [sql for _, sql, _ in queries]
    urls = {"master": cluster.master_url, "connect": cluster.connect_url}
    children = {
        name: _start_client(cluster, url, tw, base / name, sqls) for name, url in urls.items()
    }
    finished: dict[str, ClientRun] = {}
    try:
        for name, child in children.items():
            with suppress(subprocess.TimeoutExpired):
                child.wait(timeout=240)
            out = (base / name / "report.json").read_bytes().splitlines()
            finished[name] = ClientRun(
                child.pid,
                -1 if child.returncode is None else child.returncode,
                orjson.loads(out[-1]) if child.returncode == 0 and out else {},
                (base / name / "stderr.log").read_text(errors="replace")[-4000:],
            )
    finally:
        for child in children.values():
            _stop(child)
    return finished


def _report(run: ClientRun, cluster: Cluster) -> dict[str, Any]:
    assert run.returncode == 0, f"{run.stderr}\n{cluster.log_tails()}"
    return run.report


def _fields(result: ResultSet) -> dict[str, Any]:
    return {
        "columns": result.columns,
        "types": result.types,
        "rows": result.rows,
        "truncated": result.truncated,
    }


def _through_json(fields: dict[str, Any]) -> ResultSet:
    """A result as a client reads it: both engines' values through JSON, then compared."""
    loaded = orjson.loads(orjson.dumps(fields))
    return ResultSet(
        tuple(loaded["columns"]), tuple(loaded["types"]), loaded["rows"], loaded["truncated"]
    )


def _compare(
    tw: WarehouseFixture, queries: list[tuple[str, str, bool]], report: dict[str, Any], tmp: Path
) -> None:
    duck = DuckDbEngine(tmp / "duck-spill")
    assert len(report["results"]) == len(queries)
    for (name, sql, ordered), got in zip(queries, report["results"], strict=True):
        assert "error" not in got, f"{name}: {got}"
        planned = tw.warehouse.planner.plan(root(), tw.project, sql)
        expected = _through_json(_fields(duck.run(planned.plan, LIMITS, JobControl())))
        spark = _through_json(got)
        if "no file" not in name:
            assert expected.rows, f"{name}: the query should return rows to compare"
        assert_same_rows(expected, spark, ordered)


def _assert_cancel_works(report: dict[str, Any]) -> None:
    """A running job stops at once when cancelled, and frees its core for the next one."""
    cancel = report["cancel"]
    assert cancel["alive_at_cancel"], f"the query ended before it could be cancelled: {cancel}"
    assert cancel["progress_seen"] > 0, "the job reported no progress while it ran"
    assert cancel["error"] == "cancelled", cancel
    assert cancel["seconds_to_cancel"] < 15
    # With one core and the cancelled tasks still on it, this would wait for them (minutes).
    assert report["count_after_cancel"] == [[EVENTS]]
    assert report["seconds_after_cancel"] < 30


@pytest.mark.slow
def test_queries_on_a_standalone_master_give_duckdbs_answers(
    cluster: Cluster,
    tw: WarehouseFixture,
    queries: list[tuple[str, str, bool]],
    runs: dict[str, ClientRun],
    tmp_path: Path,
) -> None:
    report = _report(runs["master"], cluster)
    _compare(tw, queries, report, tmp_path)
    _assert_cancel_works(report)
    # The driver and at least one executor, launched by the worker: the work ran on the cluster.
    assert len(report["executor_hosts"]) >= 2, report["executor_hosts"]
    pid = runs["master"].pid
    ours = [app for app in cluster.applications() if app["name"].endswith(f" pid {pid}")]
    assert [(app["name"].split()[0], app["cores"]) for app in ours] == [("trailhouse", 1)]


@pytest.mark.slow
def test_queries_through_spark_connect_give_duckdbs_answers(
    cluster: Cluster,
    tw: WarehouseFixture,
    queries: list[tuple[str, str, bool]],
    runs: dict[str, ClientRun],
    tmp_path: Path,
) -> None:
    report = _report(runs["connect"], cluster)
    _compare(tw, queries, report, tmp_path)
    _assert_cancel_works(report)
    # The Connect server is the driver, an application of the master with one core.
    connect = [app for app in cluster.applications() if app["name"] == "Spark Connect server"]
    assert [(app["state"], app["cores"]) for app in connect] == [("RUNNING", 1)]


def test_a_second_master_in_one_process_is_refused(
    spark_engine: SparkEngine, tw: WarehouseFixture, tmp_path: Path
) -> None:
    """PySpark's getOrCreate would hand back the running local session: the engine says so."""
    other = SparkEngine("spark://127.0.0.1:1", tmp_path / "spark")
    planned = tw.warehouse.planner.plan(root(), tw.project, f"SELECT COUNT(*) FROM {TABLE}")
    with pytest.raises(EngineError) as caught:
        other.run(planned.plan, LIMITS, JobControl())
    assert caught.value.kind == "other"
    assert "already runs Spark on local[2], not on spark://127.0.0.1:1" in caught.value.message
