"""The instance XML: what PyODPS serialises is read back exactly (query, settings), what
trailhouse answers is parsed by PyODPS's own models, its CSV result by PyODPS's own reader, and
a body PyODPS would not send is refused with InvalidArgument before anything runs."""

from __future__ import annotations

from collections import OrderedDict
from types import SimpleNamespace
from typing import Any

import pytest
from odps import errors as odps_errors
from odps.models import Instance, SQLTask
from odps.models.job import Job
from odps.models.table import TableSchema
from odps.readers import CsvRecordReader

from trailhouse.odps_api import job_xml
from trailhouse.odps_api.errors import InvalidArgument
from trailhouse.odps_api.instances import (
    CLIENT_SETTINGS,
    failure_text,
    odps_type,
    result_csv,
    sql_settings,
)


def pyodps_body(sql: str, hints: dict[str, str] | None = None) -> bytes:
    task = SQLTask(query=sql)
    task.update_sql_settings(hints)
    job = Job(priority=9)
    job.add_task(task)
    body: str = Instance.AnonymousSubmitInstance(job=job).serialize()
    return body.encode()


def test_the_sql_task_pyodps_sends_is_read_back() -> None:
    sql = "SELECT 'a<b &c' AS x, event_id\nFROM t -- osprey"
    task = job_xml.submitted_task(pyodps_body(sql, {"odps.sql.allow.fullscan": "false"}))
    assert task.name == "AnonymousSQLTask" and task.priority == 9
    assert task.query.rstrip(";") == sql
    assert task.settings["odps.sql.allow.fullscan"] == "false"
    assert "PYODPS_VERSION" in task.settings


def test_client_settings_are_not_sql_flags() -> None:
    project = SimpleNamespace(name="p", quota="pay-as-you-go")
    given = dict.fromkeys(CLIENT_SETTINGS, "x") | {
        "odps.sql.allow.fullscan": "false",
        "odps.default.schema": "default",
        "odps.namespace.schema": "true",
        "odps.task.wlm.quota": "pay-as-you-go",
    }
    assert sql_settings(given, project) == {"odps.sql.allow.fullscan": "false"}  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match="runs its jobs under quota pay-as-you-go"):
        sql_settings({"odps.task.wlm.quota": "big"}, project)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match="one schema, default"):
        sql_settings({"odps.default.schema": "other"}, project)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"<Instance><Job><Tasks><SQL><Name>n</Name>", "not well-formed"),
        (
            b'<!DOCTYPE x [<!ENTITY a "aaaa">]><Instance><Job><Tasks><SQL><Name>n</Name>'
            b"<Query>&a;</Query></SQL></Tasks></Job></Instance>",
            "DTD",
        ),
        (b"<Job><Tasks/></Job>", "<Instance><Job>"),
        (b"<Instance><Job><Tasks/></Job></Instance>", "exactly one SQL task"),
        (
            b"<Instance><Job><Tasks><SQLCost><Name>n</Name></SQLCost></Tasks></Job></Instance>",
            "not: SQLCost",
        ),
        (b"<Instance><Job><Tasks><SQL><Name>n</Name></SQL></Tasks></Job></Instance>", "no Query"),
        (
            b"<Instance><Job><Tasks><SQL><Name>n</Name><Config><Property><Name>settings</Name>"
            b"<Value>[1]</Value></Property></Config><Query>SELECT 1</Query></SQL></Tasks></Job>"
            b"</Instance>",
            "JSON object",
        ),
        (
            b"<Instance><Job><Priority>high</Priority><Tasks><SQL><Name>n</Name>"
            b"<Query>SELECT 1</Query></SQL></Tasks></Job></Instance>",
            "whole number",
        ),
    ],
)
def test_a_body_pyodps_would_not_send_is_refused(body: bytes, says: str) -> None:
    with pytest.raises(InvalidArgument, match=says) as refused:
        job_xml.submitted_task(body)
    assert refused.value.message.startswith("ODPS-0420061:")


def _parse(model: Any, body: bytes) -> Any:
    return model.parse(None, body.decode())


def test_pyodps_reads_the_answers() -> None:
    task = job_xml.TaskView("AnonymousSQLTask", "Success", 1_800_000_000.0, 1_800_000_005.0)
    statuses = _parse(Instance, job_xml.task_statuses("Terminated", task))
    (parsed,) = statuses._tasks
    assert parsed.name == "AnonymousSQLTask" and parsed.status.name == "SUCCESS"
    assert (parsed.end_time - parsed.start_time).total_seconds() == 5
    descriptor = {"IsSelect": True, "SelectResultStatus": "OK", "Schema": {"Columns": []}}
    result = _parse(Instance.InstanceResult, job_xml.task_result(task, "x\n1\n", descriptor, "csv"))
    (task_result,) = result.task_results
    assert str(task_result.result) == "x\n1\n" and task_result.result_descriptor.is_select
    source = _parse(Job, job_xml.job_source("AnonymousSQLTask", "SELECT 1;", {}, 9))
    assert [t.name for t in source.tasks] == ["AnonymousSQLTask"]
    assert source.tasks[0].query == "SELECT 1;"
    progress = _parse(Instance.Task.TaskProgress, job_xml.stage_progress("j", "Running", 0.5))
    assert progress.stages[0].finished_percentage == 50


def test_the_csv_result_reads_back_typed_through_pyodps() -> None:
    columns = ("s", "n", "d", "b", "t", "nothing", "dec")
    types = ("STRING", "BIGINT", "DOUBLE", "BOOLEAN", "DATETIME", "STRING", "DECIMAL(18,3)")
    rows = [['a,"b"\nc\\d é', 7, 1.5, True, "2026-12-06 11:30:00", None, "1.250"]]
    text = result_csv(columns, rows)
    assert text.splitlines()[0] == ",".join(columns)
    schema = TableSchema.from_lists(list(columns), [odps_type(t) for t in types])
    with CsvRecordReader(schema, text) as reader:
        (record,) = list(reader)
    assert record["s"] == 'a,"b"\nc\\d é'
    assert record["n"] == 7 and record["d"] == 1.5 and record["b"] is True
    assert record["t"].year == 2026 and record["nothing"] is None
    assert str(record["dec"]) == "1.250"
    assert odps_type("STRUCT(a INTEGER)") == "string"


@pytest.mark.parametrize(
    ("code", "message", "pyodps_class"),
    [
        ("ODPS-0130161", "[1,8] Parse exception - osprey", odps_errors.ParseError),
        ("ODPS-0130071", "[1,8] Semantic analysis exception - osprey", odps_errors.ODPSError),
        ("ODPS-0130131", "ODPS-0130131:Table not found - p.t", odps_errors.NoSuchTable),
        ("QuotaExceeded", "needed more memory (quota q)", odps_errors.InternalServerError),
    ],
)
def test_a_failed_task_is_raised_as_pyodps_parses_it(
    code: str, message: str, pyodps_class: type[Exception]
) -> None:
    job = SimpleNamespace(error_code=code, error_message=message, status="Failed")
    text = failure_text(job)  # type: ignore[arg-type]
    raised = odps_errors.parse_instance_error(text)
    assert type(raised) is pyodps_class
    assert message.split(" - ")[-1] in str(raised)


def test_settings_order_survives() -> None:
    body = pyodps_body("SELECT 1", OrderedDict([("odps.sql.allow.fullscan", "true")]))
    assert job_xml.submitted_task(body).settings["odps.sql.allow.fullscan"] == "true"
