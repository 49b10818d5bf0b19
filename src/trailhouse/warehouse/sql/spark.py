"""The Spark engine: the same plans as the embedded DuckDB engine, run on Apache Spark.

A session is started on first use (`local[N]`, a `spark://` cluster, or Spark Connect at
`sc://host:port`) and shared by every job. Each job registers its own temporary views, named
after the job so concurrent jobs never see each other's, reading exactly the committed files the
planner left (`ds` from the folder, as a string), and runs the plan translated to Spark SQL.

The translation (`spark_sql.py`) gives the results DuckDB gives. MaxCompute datetimes are naive
and in UTC: the session's time zone is UTC, and timestamps leave Spark as naive datetimes whatever
the time zone of this process.

On a cluster (`spark://`, or a Connect server with executors elsewhere) the executors read the
Parquet files by the paths this process sees: the warehouse folder must be on storage mounted at
the same path on every host. The executors need the same Spark version, not Python: every plan is
plain Spark SQL. Spark settings other than the master (driver address, cores, a cluster's
memory) come from Spark's own `spark-defaults.conf` in `SPARK_CONF_DIR`; see docs/spark.md.

The session is shared, so a job's quota (threads, memory) is not applied to it: Spark's own
configuration bounds every job together. On a `local[N]` master that configuration is the
process's memory budget: the one JVM that runs every job gets a heap of `sql_memory_budget_gb`
(`spark.driver.memory`, 512 MB at least, as Spark needs), and a task that runs out of it fails
its own job without ending the JVM (`spark.executor.killOnFatalError.depth` 0), as a DuckDB job
past its memory limit fails alone. On a cluster the executors' memory is the cluster's
(docs/spark.md).
"""

from __future__ import annotations

import importlib
import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from sqlglot import exp

from trailhouse.background import Periodic
from trailhouse.settings import Settings
from trailhouse.warehouse.quotas import MemoryBudget
from trailhouse.warehouse.sql.duckdb_engine import DuckDbEngine
from trailhouse.warehouse.sql.engine import (
    EngineError,
    JobControl,
    Limits,
    QueryPlan,
    ResultSet,
    TableInput,
    json_value,
)
from trailhouse.warehouse.sql.spark_sql import to_spark_sql
from trailhouse.warehouse.sql.types import maxcompute_type

_PROGRESS_EVERY = 0.2

# Spark's own log lines (and PySpark's JSON log of every failed query) would repeat on stderr
# what EngineError already says.
_LOG4J2 = """\
rootLogger.level = error
rootLogger.appenderRef.stderr.ref = console
logger.executor.name = org.apache.spark.executor.Executor
logger.executor.level = off
logger.tasks.name = org.apache.spark.scheduler.TaskSetManager
logger.tasks.level = off
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{HH:mm:ss} %p %c{1}: %m%n
"""
_PYSPARK_QUERY_LOGGERS = ("SQLQueryContextLogger", "DataFrameQueryContextLogger")
# What SparkContext.setJobGroup sets on the calling thread, cleared when the job ends.
_JOB_GROUP_PROPERTIES = (
    "spark.jobGroup.id",
    "spark.job.description",
    "spark.job.interruptOnCancel",
)
# Spark refuses to start a driver with less heap (INVALID_DRIVER_MEMORY: 450 MB at least).
_SPARK_MIN_HEAP_MB = 512
_MEMORY_SIGNS = ("OutOfMemoryError", "UNABLE_TO_ACQUIRE_MEMORY", "Java heap space")


def _empty_view_sql(columns: tuple[str, ...]) -> str:
    nulls = ", ".join(f"CAST(NULL AS STRING) AS `{name}`" for name in columns)
    return f"SELECT {nulls} WHERE false"


def _rename_views(tree: exp.Query, names: Mapping[str, str]) -> exp.Query:
    renamed = tree.copy()
    for table in renamed.find_all(exp.Table):
        if not table.args.get("db") and table.name in names:
            table.set("this", exp.to_identifier(names[table.name]))
    return renamed


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def open_engine(settings: Settings) -> SparkEngine:
    """The Spark engine on `settings.spark_master`; ModuleNotFoundError without PySpark (the
    session itself starts on first use, so this is where a missing extra shows)."""
    importlib.import_module("pyspark")
    budget = MemoryBudget(settings.sql_memory_budget_gb).total_gb
    return SparkEngine(settings.spark_master, settings.data_dir / "spark", memory_gb=budget)


class SparkEngine:
    """Runs plans on Apache Spark; one session for the process, started on first use."""

    name = "spark"

    def __init__(
        self,
        master: str,
        work_dir: Path,
        conf: Mapping[str, str] | None = None,
        memory_gb: float | None = None,
    ) -> None:
        self._master = master
        # A local master's heap, which every job shares (None: Spark's own default).
        self._memory_gb = memory_gb
        # Absolute: the log configuration is passed to the JVM as a file URI.
        self._work_dir = work_dir.absolute()
        self._conf = dict(conf or {})
        self._lock = threading.Lock()
        self._spark: Any = None
        self._connect_progress = _ConnectProgress()
        self._constants = DuckDbEngine(work_dir / "constants-spill")

    @property
    def is_connect(self) -> bool:
        """True when the master is a Spark Connect server (`sc://host:port`)."""
        return self._master.startswith("sc://")

    def session(self) -> Any:
        """The Spark session, started (and configured) on first use."""
        with self._lock:
            if self._spark is None:
                self._spark = self._start()
            return self._spark

    def start(self) -> None:
        """Start the session now (what the first job would otherwise wait for)."""
        self.session()

    def _start(self) -> Any:
        from pyspark.sql import SparkSession

        _quiet_pyspark_query_logs()
        builder = SparkSession.builder
        if self.is_connect:
            builder = builder.remote(self._master)
        else:
            builder = builder.master(self._master).appName(_app_name())
            for key, value in self._classic_conf().items():
                builder = builder.config(key, value)
        spark: Any = builder.getOrCreate()  # classic or Connect: the same calls below
        if self.is_connect:
            spark.registerProgressHandler(self._connect_progress)
        elif spark.sparkContext.master != self._master:
            # getOrCreate hands back a session this process already runs, whatever the master.
            raise RuntimeError(
                f"this process already runs Spark on {spark.sparkContext.master}, "
                f"not on {self._master}"
            )
        for key, value in self._session_conf().items():
            spark.conf.set(key, value)
        return spark

    def _session_conf(self) -> dict[str, str]:
        return {
            "spark.sql.session.timeZone": "UTC",
            "spark.sql.sources.partitionColumnTypeInference.enabled": "false",
            # A task checks whether it was cancelled each time it takes a row from a file; read
            # in batches of thousands of rows, a join that multiplies them (a CROSS JOIN) would
            # keep its cores busy for minutes after the job was cancelled. Row by row costs
            # little here: parsing the JSON of `event` dominates.
            "spark.sql.parquet.enableVectorizedReader": "false",
            # No `parquet.`/path`` table reads a file by its path: a job reads only the views
            # of its plan's files, even should the planner miss such a name (DuckDB's locked
            # configuration is the same second wall).
            "spark.sql.runSQLOnFiles": "false",
        }

    def _classic_conf(self) -> dict[str, str]:
        self._work_dir.mkdir(parents=True, exist_ok=True)
        log_config = self._work_dir / "log4j2.properties"
        log_config.write_text(_LOG4J2, encoding="utf-8")
        # The log configuration is a file on this host: executors on a cluster have their own
        # disks (and their logs stay with their worker), so only the driver is pointed at it.
        java_options = {
            "spark.driver.extraJavaOptions": (
                f"-Dlog4j2.configurationFile={log_config.as_uri()} -Duser.timezone=UTC"
            ),
            "spark.executor.extraJavaOptions": "-Duser.timezone=UTC",
        }
        conf = {
            "spark.ui.enabled": "false",
            "spark.eventLog.enabled": "false",
            "spark.ui.showConsoleProgress": "false",
            "spark.local.dir": str(self._work_dir / "tmp"),
            "spark.sql.warehouse.dir": str(self._work_dir / "spark-warehouse"),
            "spark.sql.shuffle.partitions": "8",
            **self._session_conf(),
        }
        if self._master.startswith("local"):
            conf["spark.driver.bindAddress"] = "127.0.0.1"
            conf["spark.driver.host"] = "127.0.0.1"
            # One JVM runs every job: Spark's default ends it when a task runs out of heap,
            # which would fail every job of the process from then on, not just the greedy one.
            conf["spark.executor.killOnFatalError.depth"] = "0"
        if self._memory_gb is not None and not self._master.startswith("sc://"):
            # The driver JVM runs on this host (with every task on `local[N]`; collecting
            # results on `spark://`): its heap is the server's SQL memory budget.
            budget_mb = int(self._memory_gb * 1024)
            conf["spark.driver.memory"] = f"{max(_SPARK_MIN_HEAP_MB, budget_mb)}m"
        conf.update(self._conf)
        for key, options in java_options.items():
            conf[key] = f"{options} {conf.get(key, '')}".strip()
        return conf

    def run(self, plan: QueryPlan, limits: Limits, control: JobControl) -> ResultSet:
        """Run the plan on the shared session; stop with EngineError('cancelled') when asked."""
        job = uuid.uuid4().hex[:12]
        names = {table.view: f"{table.view}_{job}" for table in plan.inputs}
        sql = to_spark_sql(_rename_views(plan.tree, names))
        if control.cancelled.is_set():
            raise EngineError("cancelled", "the job was cancelled before it started")
        spark = self._session_or_error()
        try:
            with self._cancellable(spark, job, control):
                for table in plan.inputs:
                    self._view(spark, table).createOrReplaceTempView(names[table.view])
                frame = spark.sql(sql)
                columns = tuple(frame.columns)
                types = tuple(
                    maxcompute_type(_type_name(field.dataType)) for field in frame.schema.fields
                )
                frame = _json_as_text(frame, types)
                rows = naive_timestamps(frame).limit(limits.max_rows + 1).collect()
        except EngineError:
            raise
        except Exception as exc:
            raise _engine_error(exc, control) from exc
        finally:
            for name in names.values():
                with suppress(Exception):
                    spark.catalog.dropTempView(name)
        control.progress = 1.0
        return ResultSet(
            columns,
            types,
            [[json_value(_plain(value)) for value in row] for row in rows[: limits.max_rows]],
            len(rows) > limits.max_rows,
        )

    def _session_or_error(self) -> Any:
        try:
            return self.session()
        except Exception as exc:
            raise EngineError("other", f"Spark did not start: {_first_line(exc)}") from exc

    def _view(self, spark: Any, table: TableInput) -> Any:
        """A DataFrame of one audit table over exactly its files, or empty with its columns.

        The schema is given, so Spark reads each file's columns by name and a column a file of
        an older schema version lacks as NULL.
        """
        if not table.files:
            return spark.sql(_empty_view_sql(table.columns))
        from pyspark.sql.types import StringType, StructField, StructType

        schema = StructType([StructField(name, StringType()) for name in table.columns])
        # Absolute: a Spark Connect server would resolve `--data-dir ./x` against its own cwd.
        files = [path.absolute() for path in table.files]
        base = files[0].parent.parent  # <table>/ds=YYYYMMDD/part-*.parquet
        reader = spark.read.schema(schema).option("basePath", str(base))
        return reader.parquet(*(str(path) for path in files)).select(*table.columns)

    @contextmanager
    def _cancellable(self, spark: Any, job: str, control: JobControl) -> Iterator[None]:
        """Tag the jobs this thread starts so `control.cancel()` interrupts them."""
        if self.is_connect:
            spark.addTag(job)
            self._connect_progress.follow(control)

            def interrupt() -> None:
                spark.interruptTag(job)
        else:
            context = spark.sparkContext
            context.setJobGroup(job, "trailhouse SQL job", interruptOnCancel=True)

            def interrupt() -> None:
                context.cancelJobGroup(job)

        control.on_cancel.append(interrupt)
        watcher = _progress_watcher(spark, job, control, interrupt, classic=not self.is_connect)
        watcher.start()
        try:
            if control.cancelled.is_set():
                raise EngineError("cancelled", "the job was cancelled")
            yield
            if control.cancelled.is_set():
                raise EngineError("cancelled", "the job was cancelled")
        finally:
            watcher.stop()
            control.on_cancel.remove(interrupt)
            if self.is_connect:
                spark.removeTag(job)
                self._connect_progress.follow(None)
            else:
                for key in _JOB_GROUP_PROPERTIES:
                    spark.sparkContext.setLocalProperty(key, None)

    def evaluate_constant(self, expression: exp.Expr) -> Any:
        """Evaluate a column-free expression (MaxCompute SQL) with DuckDB, which gives the same."""
        return self._constants.evaluate_constant(expression)

    def close(self) -> None:
        """Stop the session (Spark Connect: only this client's session)."""
        with self._lock:
            spark, self._spark = self._spark, None
        if spark is not None:
            spark.stop()


def _progress_watcher(
    spark: Any, job: str, control: JobControl, interrupt: Callable[[], None], *, classic: bool
) -> Periodic:
    """Copies the job's task progress into the job control; re-sends a cancel that came early."""

    def step() -> None:
        if control.cancelled.is_set():
            # A job started after cancel() ran is not in the cancelled group: cancel again.
            interrupt()
        elif classic:
            # A query may start another Spark job (its total grows): never go back.
            control.progress = max(control.progress, _progress(spark, job))

    return Periodic("spark-progress", _PROGRESS_EVERY, step, wait_first=True)


def _progress(spark: Any, job: str) -> float:
    """The share of the job group's tasks that are done (at most 0.99 while it runs)."""
    tracker = spark.sparkContext.statusTracker()
    done = total = 0
    for job_id in tracker.getJobIdsForGroup(job):
        info = tracker.getJobInfo(job_id)
        for stage_id in info.stageIds if info is not None else ():
            stage = tracker.getStageInfo(stage_id)
            if stage is not None:
                done += stage.numCompletedTasks
                total += stage.numTasks
    return min(done / total, 0.99) if total else 0.0


class _ConnectProgress:
    """Spark Connect reports the stages of an operation to the thread that runs it: each thread
    copies the share of tasks done into the job control it follows (at most 0.99 while it runs)."""

    def __init__(self) -> None:
        self._following = threading.local()

    def follow(self, control: JobControl | None) -> None:
        """Copy this thread's progress into `control` from now on (None: stop)."""
        self._following.control = control

    def __call__(
        self, stages: Any, inflight_tasks: int, operation_id: str | None, done: bool
    ) -> None:
        control: JobControl | None = getattr(self._following, "control", None)
        if control is None or done or not stages:
            return
        total = sum(stage.num_tasks for stage in stages)
        if total:
            finished = sum(stage.num_completed_tasks for stage in stages)
            # A job runs a few operations (the views, the query): never go back.
            control.progress = max(control.progress, min(finished / total, 0.99))


def _app_name() -> str:
    """The application's name on the cluster: which trailhouse process it is."""
    return f"trailhouse {socket.gethostname()} pid {os.getpid()}"


def _quiet_pyspark_query_logs() -> None:
    from pyspark.logger import PySparkLogger

    for name in _PYSPARK_QUERY_LOGGERS:
        PySparkLogger.getLogger(name).setLevel(logging.CRITICAL)


def naive_timestamps(frame: Any) -> Any:
    """The frame with TIMESTAMP columns as TIMESTAMP_NTZ: PySpark would shift the former into
    this process's local time zone, the latter it hands over as the naive UTC values they are."""
    from pyspark.sql import functions
    from pyspark.sql.types import TimestampType

    fields = frame.schema.fields
    if not any(isinstance(field.dataType, TimestampType) for field in fields):
        return frame
    positional = frame.toDF(*(f"c{i}" for i in range(len(fields))))
    return positional.select(
        *(
            functions.col(f"c{i}").cast("timestamp_ntz")
            if isinstance(field.dataType, TimestampType)
            else functions.col(f"c{i}")
            for i, field in enumerate(fields)
        )
    )


def _plain(value: Any) -> Any:
    """A Spark Row (struct) as a dict, recursively; other values as they are."""
    from pyspark.sql import Row

    if isinstance(value, Row):
        return {key: _plain(item) for key, item in value.asDict().items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value


_TYPE_NAMES = {
    "StringType": "VARCHAR",
    "VarcharType": "VARCHAR",
    "CharType": "VARCHAR",
    "LongType": "BIGINT",
    "IntegerType": "INTEGER",
    "ShortType": "SMALLINT",
    "ByteType": "TINYINT",
    "DoubleType": "DOUBLE",
    "FloatType": "FLOAT",
    "BooleanType": "BOOLEAN",
    "TimestampType": "TIMESTAMP",
    "TimestampNTZType": "TIMESTAMP",
    "DateType": "DATE",
    "BinaryType": "BLOB",
    "NullType": '"NULL"',
    # MaxCompute's JSON values are Spark's VARIANTs (json_type.py).
    "VariantType": "JSON",
}


def _json_as_text(frame: Any, types: tuple[str, ...]) -> Any:
    """The frame with each JSON (VARIANT) column as its compact text, as MaxCompute prints a
    JSON value (an object's keys sorted, as Spark's VARIANT keeps them)."""
    if "JSON" not in types:
        return frame
    from pyspark.sql import functions

    names = list(frame.columns)
    positional = frame.toDF(*(f"c{i}" for i in range(len(names))))
    return positional.select(
        *(
            (functions.to_json(f"c{i}") if kind == "JSON" else functions.col(f"c{i}")).alias(name)
            for i, (name, kind) in enumerate(zip(names, types, strict=True))
        )
    )


def _type_name(data_type: Any) -> str:
    """A Spark type named as DuckDB names it, so a result's types read the same on both."""
    from pyspark.sql.types import ArrayType, DecimalType, MapType, StructType

    if isinstance(data_type, DecimalType):
        return f"DECIMAL({data_type.precision},{data_type.scale})"
    if isinstance(data_type, ArrayType):
        return f"{_type_name(data_type.elementType)}[]"
    if isinstance(data_type, MapType):
        return f"MAP({_type_name(data_type.keyType)}, {_type_name(data_type.valueType)})"
    if isinstance(data_type, StructType):
        fields = ", ".join(f"{f.name} {_type_name(f.dataType)}" for f in data_type.fields)
        return f"STRUCT({fields})"
    return _TYPE_NAMES.get(type(data_type).__name__, str(data_type.simpleString()).upper())


def _engine_error(exc: Exception, control: JobControl) -> EngineError:
    """The EngineError kind of a Spark failure, as the DuckDB engine reports its own."""
    from pyspark.errors import AnalysisException, ParseException

    if control.cancelled.is_set():
        return EngineError("cancelled", "the job was cancelled")
    text = str(exc)
    if any(sign in text for sign in _MEMORY_SIGNS):
        return EngineError(
            "memory", f"the job needed more memory than Spark has for it: {_first_line(exc)}"
        )
    if isinstance(exc, AnalysisException) and not isinstance(exc, ParseException):
        return EngineError("binder", _first_line(exc))
    return EngineError("other", _first_line(exc))
