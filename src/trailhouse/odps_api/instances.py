"""MaxCompute instances over the warehouse's SQL jobs: `o.execute_sql` / `o.run_sql` submit an
instance with one SQL task, which IS a SQL job (`warehouse/jobs.py`): the instance id is the job
id, so it is queued under the project's quota, metered, billed and audited like a
`SubmitSqlJob` job, and `GetSqlJob`, `trailhouse warehouse jobs` and the console show it.

SQL that MaxCompute would reject while compiling (a parse or semantic error, an unknown table)
is still an instance, a Failed one, so PyODPS raises its `ParseError` / `ODPSError` with the
instance id and MaxCompute's `ODPS-01xxxxx:[line,column] …` message; refusals that come before a
job (no such project, no membership, a full quota queue, bad XML) answer the POST itself.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping
from typing import Any

import orjson

from trailhouse import errors
from trailhouse.odps_api import job_xml
from trailhouse.odps_api.catalog import CatalogCall, Reply
from trailhouse.odps_api.errors import InvalidArgument, NoSuchObject, OdpsWireError
from trailhouse.odps_api.odps_types import STRUCT, Kind, parse_kind
from trailhouse.odps_api.render import owner_of, rfc822
from trailhouse.warehouse import access
from trailhouse.warehouse.model import JobStatus, Privilege, Project, SqlJob

INSTANCE_RESOURCE = "ACS::MaxCompute::Instance"
PROJECT_RESOURCE = "ACS::MaxCompute::Project"
TASK_NAME = "AnonymousSQLTask"  # PyODPS's name for the one SQL task of execute_sql/run_sql
NULL = "\\N"  # how MaxCompute's CSV result writes NULL
TEXT = "text/plain"
JSON = "application/json"
# How long a blocking status poll holds its request (and a server thread) at most.
BLOCKING_WAIT_SECONDS = 2.0

# Settings PyODPS adds to every SQL task that describe the client, not the query: kept out of
# the SQL flags, which refuse what they do not know.
CLIENT_SETTINGS = frozenset(
    {"PYODPS_VERSION", "PYODPS_PYTHON_VERSION", "EXT_PLATFORM_ID", "EXT_TASK_ID"}
)
# Schema settings PyODPS sends with options.enable_schema: projects have one schema, default.
_NAMESPACE_SETTINGS = frozenset({"odps.namespace.schema", "odps.sql.allow.namespace.schema"})
_DEFAULT_SCHEMA = "odps.default.schema"
_QUOTA_SETTING = "odps.task.wlm.quota"
# How PyODPS submits a table's SQL (`create_table`, `delete_table`, `write_table`: "script" or
# ""): the text is run as it is either way, so the setting is dropped.
_SUBMIT_MODE = "odps.sql.submit.mode"

# Errors that MaxCompute reports as a failed instance (found while compiling the SQL).
_COMPILE_ERRORS = (
    errors.SqlParseError,
    errors.SqlSemanticError,
    errors.TableNotFound,
    errors.ProjectNotFound,
    errors.NoPermission,
)


class SlotExceeded(OdpsWireError):
    """The project's quota queue is full (PyODPS raises `errors.SlotExceeded`)."""

    code = "SlotExceeded"
    http_status = 429


# -- create ------------------------------------------------------------------------------------


def create_instance(call: CatalogCall, body: bytes) -> Reply:
    """POST /projects/<p>/instances: submit the job's SQL task as a SQL job; 201 + Location."""
    project = _project(call)
    task = job_xml.submitted_task(body)
    settings = sql_settings(task.settings, project)
    jobs = call.services.warehouse.jobs
    try:
        job = jobs.submit(call.caller, project, task.query, settings)
    except errors.QuotaExceeded as exc:
        raise SlotExceeded(f"ODPS-0010000:Quota exceeded - {exc.message}") from None
    except _COMPILE_ERRORS as exc:
        job = jobs.record_refused(call.caller, project, task.query, exc.code, exc.message)
    call.resources.append((INSTANCE_RESOURCE, job.job_id))
    location = f"/api/projects/{project.name}/instances/{job.job_id}"
    return Reply(b"", media_type=TEXT, headers={"Location": location}, status=201)


def sql_settings(given: Mapping[str, str], project: Project) -> dict[str, str]:
    """The SQL flags of a task's settings: client descriptions dropped, the schema and quota
    settings PyODPS may add checked against the project, the rest left to the SQL flags."""
    flags: dict[str, str] = {}
    for key, value in given.items():
        if key in CLIENT_SETTINGS or key in _NAMESPACE_SETTINGS:
            continue
        if key == _SUBMIT_MODE and value in ("", "script"):
            continue
        if key == _DEFAULT_SCHEMA:
            if value != "default":
                raise _invalid(f"{key}={value}: projects have one schema, default")
            continue
        if key == _QUOTA_SETTING:
            if value != project.quota:
                raise _invalid(
                    f"{key}={value}: project {project.name} runs its jobs under quota "
                    f"{project.quota}; name that quota or leave the setting out"
                )
            continue
        flags[key] = value
    return flags


# -- read --------------------------------------------------------------------------------------


def get_instance(call: CatalogCall) -> Reply:
    """GET /projects/<p>/instances/<id>: Running or Terminated, with the owner and times as
    headers. `?instancestatus` (PyODPS's blocking poll) waits up to BLOCKING_WAIT_SECONDS for
    the job to end first, so `wait_for_success` learns of the end at once instead of at its next
    one-second poll."""
    job = _job(call)
    if "instancestatus" in call.params and job.status not in JobStatus.FINAL:
        job = call.services.warehouse.jobs.wait(call.caller, job.job_id, BLOCKING_WAIT_SECONDS)
    headers = {"x-odps-owner": owner_of(job.account_id), "x-odps-start-time": ""}
    headers["x-odps-start-time"] = rfc822(job.submitted_at)
    if job.status in JobStatus.FINAL:
        headers["x-odps-end-time"] = rfc822(job.finished_at)
    return Reply(job_xml.instance_status(_instance_status(job)), headers=headers)


def task_status(call: CatalogCall) -> Reply:
    """`?taskstatus`: the instance's one SQL task."""
    job = _job(call)
    return Reply(job_xml.task_statuses(_instance_status(job), _task(job)))


def source(call: CatalogCall) -> Reply:
    """`?source`: the job as submitted, its SQL task and query."""
    job = _job(call)
    return Reply(job_xml.job_source(TASK_NAME, job.sql, {}, 9))


def result(call: CatalogCall) -> Reply:
    """`?result`: a finished query's rows as MaxCompute's CSV (header line, NULL as `\\N`) with
    their schema, a failed task's `ODPS-…` error, nothing while the job runs."""
    job = _job(call)
    task = _task(job)
    if job.status == JobStatus.TERMINATED and job.kind == "write":  # DDL and INSERT: no rows
        return Reply(job_xml.task_result(task, "OK", None, "text"))
    if job.status == JobStatus.TERMINATED:
        rows = call.services.warehouse.jobs.result(call.caller, job.job_id, 0, max(job.rows, 1))
        text = result_csv(rows.columns, rows.rows)
        descriptor: dict[str, object] = {
            "IsSelect": True,
            "SelectResultStatus": "TRUNCATED" if job.truncated else "OK",
            "Schema": {
                "Columns": [
                    {"Name": c, "Type": odps_type(t)}
                    for c, t in zip(rows.columns, rows.types, strict=True)
                ]
            },
        }
        return Reply(job_xml.task_result(task, text, descriptor, "csv"))
    if job.status in (JobStatus.FAILED, JobStatus.CANCELLED):
        return Reply(job_xml.task_result(task, failure_text(job), None, "text"))
    return Reply(job_xml.task_result(task, "", None, "text"))


def summary(call: CatalogCall) -> Reply:
    """`?instancesummary`: what the job read, cost and took, as JSON and as text."""
    job = _job(call)
    details: dict[str, Any] = {
        "Cost": {"Input": job.input_bytes},
        "Status": job.status,
        "InputBytes": job.input_bytes,
        "Complexity": job.complexity,
        "CostUSD": round(job.cost_usd, 8),
        "PartitionsRead": job.partitions_read,
        "PartitionsTotal": job.partitions_total,
        "Rows": job.rows,
        "QueueSeconds": round(job.queue_seconds, 3),
        "RunSeconds": round(job.run_seconds, 3),
        "Quota": job.quota,
    }
    text = "\n".join(f"{k}: {v}" for k, v in details.items() if k != "Cost")
    body = orjson.dumps(
        {"Instance": {"JsonSummary": orjson.dumps(details).decode(), "Summary": text}}
    )
    final = "true" if job.status in JobStatus.FINAL else "false"
    return Reply(body, media_type=JSON, headers={"x-odps-task-finalized": final})


def detail(call: CatalogCall) -> Reply:
    """`?detail` / `?instancedetail` (get_task_detail2): the task's state as JSON."""
    job = _job(call)
    task = _task(job)
    body = {
        "Instance": job.job_id,
        "Tasks": [
            {
                "Name": task.name,
                "Status": task.status,
                "Progress": round(job.progress, 3),
                "InputBytes": job.input_bytes,
                "Rows": job.rows,
                "QueueSeconds": round(job.queue_seconds, 3),
                "RunSeconds": round(job.run_seconds, 3),
            }
        ],
    }
    return Reply(orjson.dumps(body), media_type=JSON)


def progress(call: CatalogCall) -> Reply:
    """`?instanceprogress`: one stage whose percentage is the job's progress."""
    job = _job(call)
    return Reply(job_xml.stage_progress(job.job_id, job.status, job.progress))


# -- change ------------------------------------------------------------------------------------


def stop_instance(call: CatalogCall, body: bytes) -> Reply:
    """PUT /projects/<p>/instances/<id> with Status Terminated: cancel the job (free)."""
    if not job_xml.is_stop(body):
        raise _invalid("PUT an instance only to stop it: <Instance><Status>Terminated</Status>")
    job = _job(call)
    call.services.warehouse.jobs.cancel(call.caller, job.job_id)
    return Reply(b"", media_type=TEXT)


def bearer_token(call: CatalogCall, body: bytes) -> Reply:
    """POST /projects/<p>/authorization?sign_bearer_token, which PyODPS asks for a Logview link:
    trailhouse has no bearer tokens, so the link carries a placeholder that grants nothing."""
    _project(call)
    return Reply(job_xml.bearer_token("trailhouse-logview-needs-no-token"))


# -- helpers -----------------------------------------------------------------------------------


def _invalid(why: str) -> InvalidArgument:
    return InvalidArgument(f"ODPS-0420061:Invalid parameter in HTTP request - {why}")


def _project(call: CatalogCall) -> Project:
    name = call.segments[1].lower()
    call.resources.append((PROJECT_RESOURCE, name))
    project = call.services.warehouse.catalog.get_project(call.region, name)
    access.require(call.caller, project, Privilege.SELECT)
    return project


def _job(call: CatalogCall) -> SqlJob:
    project = _project(call).name
    job_id = call.segments[3]
    call.resources.append((INSTANCE_RESOURCE, job_id))
    try:
        job = call.services.warehouse.jobs.get(call.caller, job_id)
    except errors.JobNotFound:
        job = None
    if job is None or job.project != project or job.region != call.region:
        raise NoSuchObject(
            f"ODPS-0420111:Instance not found - no instance {job_id} in project {project} "
            f"({call.region}) that this key may see"
        )
    return job


def _instance_status(job: SqlJob) -> str:
    return "Terminated" if job.status in JobStatus.FINAL else "Running"


_TASK_STATUS = {
    JobStatus.WAITING: "Waiting",
    JobStatus.RUNNING: "Running",
    JobStatus.TERMINATED: "Success",
    JobStatus.FAILED: "Failed",
    JobStatus.CANCELLED: "Cancelled",
}


def _task(job: SqlJob) -> job_xml.TaskView:
    return job_xml.TaskView(
        TASK_NAME, _TASK_STATUS.get(job.status, "Running"), job.started_at, job.finished_at
    )


def failure_text(job: SqlJob) -> str:
    """A failed or cancelled task's result, as MaxCompute words it: `ODPS-NNNNNNN:message`."""
    message = job.error_message or job.status
    if message.startswith("ODPS-"):
        return message
    code = job.error_code if job.error_code.startswith("ODPS-") else "ODPS-0010000"
    return f"{code}:{message}"


def result_csv(columns: tuple[str, ...], rows: list[list[Any]]) -> str:
    """MaxCompute's CSV result: a header line of column names, then the rows, quoted where
    needed, NULL as `\\N`, booleans as true/false."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(v) for v in row])
    return out.getvalue()


def _cell(value: Any) -> str:
    if value is None:
        return NULL
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, dict)):
        return _nested_cell(value)
    return str(value)


def _nested_cell(value: Any) -> str:
    """An ARRAY, MAP or STRUCT value as its CSV cell, which PyODPS parses by the column's type
    (`odps/readers.py`): `[…]` and `{key:value,…}`, strings quoted, a NULL inside as `\\N`."""
    if value is None:
        return NULL
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ",".join(_nested_cell(item) for item in value) + "]"
    if isinstance(value, dict):
        return (
            "{" + ",".join(f"{_nested_cell(k)}:{_nested_cell(v)}" for k, v in value.items()) + "}"
        )
    if isinstance(value, str):
        return orjson.dumps(value).decode()
    return str(value)


def _nested_type(kind: Kind) -> str:
    parts = [_nested_type(part) if part.nested else odps_type(part.name) for part in kind.parts]
    if kind.name == STRUCT:
        fields = ",".join(f"{f}:{t}" for f, t in zip(kind.fields, parts, strict=True))
        return f"struct<{fields}>"
    return f"{kind.name}<{','.join(parts)}>"


_DECIMAL = re.compile(r"DECIMAL\((\d+),\s*(\d+)\)")
_TYPES = {
    "VARCHAR": "string",
    "STRING": "string",
    "BIGINT": "bigint",
    "INTEGER": "int",
    "INT": "int",
    "SMALLINT": "smallint",
    "TINYINT": "tinyint",
    "DOUBLE": "double",
    "FLOAT": "float",
    "REAL": "float",
    "BOOLEAN": "boolean",
    "DATE": "date",
    "DATETIME": "datetime",  # the name jobs report (warehouse/sql/types.py)
    "TIMESTAMP": "datetime",
    "TIMESTAMP WITH TIME ZONE": "datetime",
    "HUGEINT": "decimal(38,0)",
    "JSON": "json",  # PyODPS reads its text as the JSON value (a dict, a list, …)
}


def odps_type(engine_type: str) -> str:
    """The MaxCompute type a result column is shown as: ARRAY, MAP and STRUCT with their parts'
    types (`array<string>`), an unknown type as string (its values as text)."""
    if engine_type.strip().split("<", 1)[0].strip().upper() in ("ARRAY", "MAP", "STRUCT"):
        try:
            return _nested_type(parse_kind(engine_type))
        except ValueError:
            return "string"
    upper = engine_type.upper().strip()
    decimal = _DECIMAL.fullmatch(upper)
    if decimal is not None:
        return f"decimal({decimal.group(1)},{decimal.group(2)})"
    return _TYPES.get(upper, "string")
