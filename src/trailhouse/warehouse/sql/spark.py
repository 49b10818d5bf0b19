"""The Spark engine: the same plans as the embedded DuckDB engine, run on Apache Spark.

A session is started on first use (`local[N]`, a `spark://` cluster, or Spark Connect at
`sc://host:port`) and shared by every job. Each job registers its own temporary views, named
after the job so concurrent jobs never see each other's, reading exactly the committed files the
planner left (`ds` from the folder, as a string), and runs the plan translated to Spark SQL.

The translation gives the results DuckDB gives. MaxCompute datetimes are naive and in UTC: the
session's time zone is UTC, and timestamps leave Spark as naive datetimes whatever the time zone
of this process. Where sqlglot's Spark generator differs from the MaxCompute meaning (datetime
format letters, DATEADD/DATEDIFF units, JSON paths, WEEKDAY, `/` and division by zero), the tree
is rewritten first.

On a cluster (`spark://`, or a Connect server with executors elsewhere) the executors read the
Parquet files by the paths this process sees: the warehouse folder must be on storage mounted at
the same path on every host. The executors need the same Spark version, not Python: every plan is
plain Spark SQL. Spark settings other than the master (driver address, cores, memory) come from
Spark's own `spark-defaults.conf` in `SPARK_CONF_DIR`; see docs/spark.md.

The session is shared, so a job's quota (threads, memory) is not applied to it: Spark's own
configuration (`local[N]`, the driver's and executors' memory) bounds every job together.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from sqlglot import exp
from sqlglot.errors import ErrorLevel, UnsupportedError

from trailhouse.background import Periodic
from trailhouse.warehouse.sql.dialect import UnsupportedSql
from trailhouse.warehouse.sql.duckdb_engine import DuckDbEngine
from trailhouse.warehouse.sql.engine import (
    VIEW_COLUMNS,
    EngineError,
    JobControl,
    Limits,
    QueryPlan,
    ResultSet,
    TableInput,
    json_value,
)

_PROGRESS_EVERY = 0.2

# strftime codes (as the MaxCompute dialect writes them) and the Java pattern letters that format
# them; parsing takes the one-letter forms, which accept one or two digits as DuckDB's strptime.
_JAVA_FORMAT = {
    "Y": "yyyy",
    "y": "yy",
    "m": "MM",
    "d": "dd",
    "H": "HH",
    "I": "hh",
    "M": "mm",
    "S": "ss",
    "f_three": "SSS",
    "f": "SSSSSS",
    "B": "MMMM",
    "b": "MMM",
    "A": "EEEE",
    "a": "EEE",
    "p": "a",
    "j": "DDD",
}
_JAVA_PARSE = {**_JAVA_FORMAT, "m": "M", "d": "d", "H": "H", "I": "h", "M": "m", "S": "s"}
_STRFTIME_CODE = re.compile(r"%(f_three|.)", re.DOTALL)

_UNIT_NAMES = {"YEAR", "MONTH", "DAY", "HOUR", "MINUTE", "SECOND"}

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
_MEMORY_SIGNS = ("OutOfMemoryError", "UNABLE_TO_ACQUIRE_MEMORY", "Java heap space")


def _strftime_pieces(fmt: str) -> list[tuple[bool, str]]:
    """The format as (is_field, text) pieces: strftime codes and the literal text between."""
    pieces: list[tuple[bool, str]] = []
    position = 0
    for match in _STRFTIME_CODE.finditer(fmt):
        code = match.group(1)
        pieces.append((False, fmt[position : match.start()]))
        position = match.end()
        if code == "%":
            pieces.append((False, "%"))
        elif code in _JAVA_FORMAT:
            pieces.append((True, code))
        else:
            raise UnsupportedSql(f"datetime format {fmt!r}: %{code} has no Spark equivalent")
    pieces.append((False, fmt[position:]))
    merged: list[tuple[bool, str]] = []
    for is_field, text in pieces:
        if not is_field and merged and not merged[-1][0]:
            merged[-1] = (False, merged[-1][1] + text)
        elif is_field or text:
            merged.append((is_field, text))
    return merged


def strftime_to_java(fmt: str, *, parsing: bool = False) -> str:
    """The Java (Spark) datetime pattern of a strftime format; text is quoted literally.

    For parsing, a field between two literals takes its one-letter form, which accepts one or two
    digits as DuckDB's strptime does; next to another field it keeps its fixed width, or
    `yyyymmdd` could not be split.
    """
    pieces = _strftime_pieces(fmt)
    out: list[str] = []
    for index, (is_field, text) in enumerate(pieces):
        if not is_field:
            out.append("'" + text.replace("'", "''") + "'")
            continue
        before = pieces[index - 1][0] if index > 0 else False
        after = pieces[index + 1][0] if index + 1 < len(pieces) else False
        lenient = parsing and not before and not after
        out.append((_JAVA_PARSE if lenient else _JAVA_FORMAT)[text])
    return "".join(out)


def spark_json_path(path: str) -> str:
    """A JSONPath as the MaxCompute dialect writes it (`$."k"`), in Spark's syntax (`$['k']`)."""

    def bracket(match: re.Match[str]) -> str:
        key = match.group(1)
        if "'" in key or "]" in key:
            raise UnsupportedSql(f"GET_JSON_OBJECT: Spark cannot read the key {key!r}")
        return f"['{key}']"

    return re.sub(r'\."([^"]*)"', bracket, path)


def _function(name: str, *args: exp.Expression) -> exp.Anonymous:
    return exp.Anonymous(this=name, expressions=list(args))


def _unit_of(node: exp.Func) -> str:
    unit = node.args.get("unit")
    name = (unit.name if isinstance(unit, exp.Expression) else str(unit or "DAY")).upper()
    if name not in _UNIT_NAMES:
        raise UnsupportedSql(f"{node.sql_name()}: unsupported unit {name!r} on Spark")
    return name


def _string_literal(node: exp.Expression | None, what: str) -> str:
    if not isinstance(node, exp.Literal) or not node.is_string:
        raise UnsupportedSql(f"{what} must be a string literal on Spark")
    return str(node.this)


def _time_to_str(node: exp.TimeToStr) -> exp.Expression:
    fmt = _string_literal(node.args.get("format"), "a datetime format")
    return _function("DATE_FORMAT", node.this, exp.Literal.string(strftime_to_java(fmt)))


def _str_to_time(node: exp.StrToTime) -> exp.Expression:
    fmt = _string_literal(node.args.get("format"), "a datetime format")
    pattern = exp.Literal.string(strftime_to_java(fmt, parsing=True))
    # TRY_: a string that does not match gives NULL (MaxCompute's TO_DATE), not an error.
    return _function(
        "TRY_TO_TIMESTAMP" if node.args.get("safe") else "TO_TIMESTAMP", node.this, pattern
    )


def _date_add(node: exp.DateAdd) -> exp.Expression:
    # Spark's DATE_ADD returns a DATE and counts days only; TIMESTAMPADD keeps the time and
    # clamps month ends (Jan 31 + 1 month = Feb 28/29) as DuckDB's interval arithmetic does.
    return _function("TIMESTAMPADD", exp.var(_unit_of(node)), node.expression, node.this)


def _date_diff(node: exp.DateDiff) -> exp.Expression:
    # MaxCompute drops the parts below the unit before subtracting (unit boundaries crossed);
    # Spark's TIMESTAMPDIFF counts whole units elapsed, so both ends are truncated first.
    unit = _unit_of(node)

    def truncated(side: exp.Expression) -> exp.Expression:
        return exp.TimestampTrunc(this=side, unit=exp.var(unit))

    return _function(
        "TIMESTAMPDIFF", exp.var(unit), truncated(node.expression), truncated(node.this)
    )


def _at_time_zone(node: exp.AtTimeZone) -> exp.Expression:
    # The dialect writes `<instant> AT TIME ZONE 'UTC'` for a naive UTC datetime; with the
    # session's time zone UTC, Spark's TIMESTAMP of that instant reads the same.
    zone = node.args.get("zone")
    inner = node.this
    is_utc = isinstance(zone, exp.Literal) and str(zone.this).upper() == "UTC"
    if not is_utc or not isinstance(inner, (exp.CurrentTimestamp, exp.UnixToTime)):
        raise UnsupportedSql(f"AT TIME ZONE is not supported on Spark: {node.sql()}")
    if isinstance(inner, exp.UnixToTime):
        if inner.args.get("scale") is not None or inner.args.get("format") is not None:
            raise UnsupportedSql("FROM_UNIXTIME with a scale or format is not supported on Spark")
        seconds = exp.cast(inner.this, exp.DataType.Type.DOUBLE)
        return _function("TIMESTAMP_SECONDS", seconds)
    return inner


def _time_to_unix(node: exp.TimeToUnix) -> exp.Expression:
    # Seconds with their fraction, as DuckDB's EPOCH: UNIX_TIMESTAMP would drop it, which rounds
    # times before 1970 the wrong way under the FLOOR the dialect puts around it.
    micros = _function("UNIX_MICROS", node.this)
    return exp.paren(exp.Div(this=micros, expression=exp.Literal.number(1_000_000)), copy=False)


def _json_extract(node: exp.JSONExtractScalar) -> exp.Expression:
    # Spark's GET_JSON_OBJECT gives NULL for invalid JSON already, as MaxCompute does.
    path = spark_json_path(_string_literal(node.expression, "a JSON path"))
    return _function("GET_JSON_OBJECT", node.this, exp.Literal.string(path))


def _day_of_week_iso(node: exp.DayOfWeekIso) -> exp.Expression:
    # Spark's WEEKDAY counts from Monday = 0; ISO counts from Monday = 1.
    return exp.paren(_function("WEEKDAY", node.this) + 1, copy=False)


def _ts_or_ds_to_date(node: exp.TsOrDsToDate) -> exp.Expression:
    if node.args.get("format") is not None:
        raise UnsupportedSql("TO_DATE with a format is not supported here on Spark")
    target = exp.DataType.build("DATE")
    return (
        exp.TryCast(this=node.this, to=target, safe=True)
        if node.args.get("safe")
        else exp.cast(node.this, target)
    )


def _without_try(node: exp.Try) -> exp.Expression:
    # DuckDB needs TRY around a JSON extraction for invalid JSON; Spark does not.
    inner: exp.Expression = node.this
    return inner if isinstance(inner, exp.Anonymous) and inner.name == "GET_JSON_OBJECT" else node


def _divide(node: exp.Div) -> exp.Expression:
    # DuckDB's `/` gives a DOUBLE whatever the operands (Spark's: a DECIMAL for decimals, which
    # would reach JSON as text), and MaxCompute's division by zero gives NULL (Spark's: an error).
    if node.args.get("typed"):
        return node
    divisor = node.expression
    if node.args.get("safe"):
        divisor = exp.Nullif(this=divisor, expression=exp.Literal.number(0))
    dividend = exp.cast(node.this, exp.DataType.Type.DOUBLE)
    return exp.Div(this=dividend, expression=divisor)


def _lateral(node: exp.Lateral) -> exp.Expression:
    # LATERAL VIEW JSON_TUPLE(t.event, 'k', 't') j AS k, t became a lateral subquery whose
    # columns are named like the view's. Spark resolves `t.event` in a later column against an
    # earlier column named `t` (a lateral column alias) before the outer table `t`: inside, the
    # columns get names nobody refers to, and the alias list outside names them as written.
    alias = node.args.get("alias")
    select = node.this.this if isinstance(node.this, exp.Subquery) else None
    if not isinstance(select, exp.Select) or not isinstance(alias, exp.TableAlias):
        return node
    if len(alias.columns) != len(select.expressions):
        return node
    for index, projection in enumerate(select.expressions):
        if isinstance(projection, exp.Alias):
            projection.set("alias", exp.to_identifier(f"__c{index}"))
    return node


_REWRITES: dict[type[exp.Expr], Callable[[Any], exp.Expression]] = {
    exp.TimeToStr: _time_to_str,
    exp.StrToTime: _str_to_time,
    exp.DateAdd: _date_add,
    exp.DateDiff: _date_diff,
    exp.AtTimeZone: _at_time_zone,
    exp.TimeToUnix: _time_to_unix,
    exp.JSONExtractScalar: _json_extract,
    exp.DayOfWeekIso: _day_of_week_iso,
    exp.TsOrDsToDate: _ts_or_ds_to_date,
    exp.Try: _without_try,
    exp.Lateral: _lateral,
    exp.Div: _divide,
}


def to_spark_sql(tree: exp.Expr) -> str:
    """The plan's tree (MaxCompute canonical expressions) as Spark SQL with the same results."""
    translated = tree.copy()
    # Children before parents: a rewrite builds on the already rewritten arguments.
    for node in reversed(list(translated.walk(bfs=False))):
        rewrite = _REWRITES.get(type(node))
        if rewrite is None:
            continue
        replacement = rewrite(node)
        if replacement is not node:
            if node is translated:
                translated = replacement
            else:
                node.replace(replacement)
    try:
        return translated.sql(dialect="spark", unsupported_level=ErrorLevel.RAISE)
    except UnsupportedError as exc:
        raise UnsupportedSql(f"cannot translate to Spark: {exc}") from exc


def _empty_view_sql() -> str:
    nulls = ", ".join(f"CAST(NULL AS STRING) AS `{name}`" for name in VIEW_COLUMNS)
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


class SparkEngine:
    """Runs plans on Apache Spark; one session for the process, started on first use."""

    name = "spark"

    def __init__(self, master: str, work_dir: Path, conf: Mapping[str, str] | None = None) -> None:
        self._master = master
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
                types = tuple(_type_name(field.dataType) for field in frame.schema.fields)
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
        """A DataFrame of one audit table over exactly its files, or empty with its columns."""
        if not table.files:
            return spark.sql(_empty_view_sql())
        from pyspark.sql.types import StringType, StructField, StructType

        schema = StructType([StructField(name, StringType()) for name in VIEW_COLUMNS])
        # Absolute: a Spark Connect server would resolve `--data-dir ./x` against its own cwd.
        files = [path.absolute() for path in table.files]
        base = files[0].parent.parent  # <table>/ds=YYYYMMDD/part-*.parquet
        reader = spark.read.schema(schema).option("basePath", str(base))
        return reader.parquet(*(str(path) for path in files)).select(*VIEW_COLUMNS)

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
}


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
