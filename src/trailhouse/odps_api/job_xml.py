"""The instance XML PyODPS sends and reads (`odps/models/instance.py`, `job.py`, `tasks/`): the
submitted `<Instance><Job>` with its one SQL task, and the status, task status, result and source
bodies of an instance.

A submitted body is parsed only when it holds no DTD (PyODPS never sends one, and a DTD is how
entity expansion attacks start) and is at most `MAX_BODY` bytes.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

import orjson

from trailhouse.odps_api.errors import InvalidArgument
from trailhouse.odps_api.render import document, rfc822

MAX_BODY = 4 * 1024 * 1024  # the SQL text may be 2 MB (MaxCompute's limit), plus the XML
SQL_TASK = "SQL"


@dataclass(frozen=True, slots=True)
class SubmittedTask:
    """The one SQL task of a submitted job: its name, query and settings (SET flags)."""

    name: str
    query: str
    settings: dict[str, str]
    priority: int


def _invalid(why: str) -> InvalidArgument:
    return InvalidArgument(f"ODPS-0420061:Invalid parameter in HTTP request - {why}")


def _parse(body: bytes) -> ET.Element:
    if len(body) > MAX_BODY:
        raise _invalid(f"the instance XML is {len(body)} bytes; at most {MAX_BODY} are taken")
    if b"<!DOCTYPE" in body.upper() or b"<!ENTITY" in body.upper():
        raise _invalid("the instance XML may not hold a DTD or entity declarations")
    try:
        return ET.fromstring(body)  # noqa: S314 (no DTD, so no entity can expand)
    except ET.ParseError as exc:
        raise _invalid(f"the body is not well-formed XML ({exc})") from None


def _text(element: ET.Element | None) -> str:
    return (element.text or "") if element is not None else ""


def submitted_task(body: bytes) -> SubmittedTask:
    """The SQL task of `<Instance><Job>…<Tasks><SQL>…</SQL></Tasks></Job></Instance>`."""
    root = _parse(body)
    job = root.find("Job") if root.tag == "Instance" else None
    if job is None:
        raise _invalid("the body must be <Instance><Job>…</Job></Instance>, as PyODPS sends it")
    tasks = list(job.find("Tasks") or [])
    if len(tasks) != 1 or tasks[0].tag != SQL_TASK:
        kinds = ", ".join(t.tag for t in tasks) or "none"
        raise _invalid(
            f"a job must hold exactly one SQL task (trailhouse runs SQL only), not: {kinds}"
        )
    task = tasks[0]
    name = _text(task.find("Name")).strip()
    query = _text(task.find("Query"))
    if not name:
        raise _invalid("the SQL task has no Name")
    if not query.strip():
        raise _invalid("the SQL task has no Query; put the SQL text in <Query>")
    priority_text = _text(job.find("Priority")).strip() or "9"
    if not priority_text.isdigit():
        raise _invalid(f"Priority must be a whole number of 0 or more, not {priority_text!r}")
    return SubmittedTask(name, query, _settings(task), int(priority_text))


def _settings(task: ET.Element) -> dict[str, str]:
    for prop in task.findall("Config/Property"):
        if _text(prop.find("Name")) != "settings":
            continue
        raw = _text(prop.find("Value"))
        try:
            found = orjson.loads(raw) if raw.strip() else {}
        except orjson.JSONDecodeError:
            found = None
        if not isinstance(found, dict) or not all(
            isinstance(v, (str, bool, int, float)) for v in found.values()
        ):
            raise _invalid(
                "the SQL task's settings must be a JSON object of flags and values, such as "
                '{"odps.sql.allow.fullscan": "false"}'
            )
        return {
            str(k): (str(v).lower() if isinstance(v, bool) else str(v)) for k, v in found.items()
        }
    return {}


def is_stop(body: bytes) -> bool:
    """Whether a PUT body is `<Instance><Status>Terminated</Status></Instance>` (stop)."""
    root = _parse(body)
    return root.tag == "Instance" and _text(root.find("Status")).strip() == "Terminated"


# -- answers ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TaskView:
    """An instance's one task as the answers show it."""

    name: str
    status: str  # Waiting, Running, Success, Failed, Cancelled
    started_at: float
    finished_at: float


def _child(parent: ET.Element, tag: str, text: str | None = None) -> ET.Element:
    element = ET.SubElement(parent, tag)
    if text is not None:
        element.text = text
    return element


def instance_status(status: str) -> bytes:
    """GET an instance: `<Instance><Status>Running|Terminated</Status></Instance>`."""
    root = ET.Element("Instance")
    _child(root, "Status", status)
    return document(root)


def task_statuses(status: str, task: TaskView) -> bytes:
    """`?taskstatus`: the instance's status and its task's."""
    root = ET.Element("Instance")
    _child(root, "Status", status)
    tasks = _child(root, "Tasks")
    element = _child(tasks, "Task")
    element.set("Type", SQL_TASK)
    _child(element, "Name", task.name)
    if task.started_at:
        _child(element, "StartTime", rfc822(task.started_at))
    if task.finished_at:
        _child(element, "EndTime", rfc822(task.finished_at))
    _child(element, "Status", task.status)
    _child(element, "Histories")
    return document(root)


def task_result(
    task: TaskView, text: str, descriptor: dict[str, object] | None, result_format: str
) -> bytes:
    """`?result`: the task's result text (CSV rows, or the error of a failed task), and for a
    query the JSON descriptor with the result's schema, so PyODPS types the values."""
    root = ET.Element("Instance")
    tasks = _child(root, "Tasks")
    element = _child(tasks, "Task")
    element.set("Type", SQL_TASK)
    _child(element, "Name", task.name)
    result = _child(element, "Result", text)
    result.set("Format", result_format)
    if descriptor is not None:
        _child(element, "ResultDescriptor", orjson.dumps(descriptor).decode())
    _child(element, "Status", task.status)
    return document(root)


def job_source(task_name: str, query: str, settings: dict[str, str], priority: int) -> bytes:
    """`?source`: the job as submitted (PyODPS reads its task names and query from it)."""
    root = ET.Element("Job")
    _child(root, "Priority", str(priority))
    tasks = _child(root, "Tasks")
    sql = _child(tasks, SQL_TASK)
    _child(sql, "Name", task_name)
    config = _child(sql, "Config")
    prop = _child(config, "Property")
    _child(prop, "Name", "settings")
    _child(prop, "Value", orjson.dumps(settings).decode())
    _child(sql, "Query", query)
    return document(root)


def stage_progress(job_id: str, status: str, progress: float) -> bytes:
    """`?instanceprogress`: one stage, its one worker running or done."""
    root = ET.Element("Progress")
    stage = _child(root, "Stage")
    stage.set("ID", f"{job_id}_Stg1")
    done = status in ("Terminated", "Failed", "Cancelled")
    values = {
        "BackupWorkers": 0,
        "TerminatedWorkers": 1 if done else 0,
        "RunningWorkers": 0 if done else 1,
        "TotalWorkers": 1,
        "InputRecords": 0,
        "OutputRecords": 0,
        "FinishedPercentage": 100 if done else int(progress * 100),
    }
    for tag, value in values.items():
        _child(stage, tag, str(value))
    return document(root)


def bearer_token(token: str) -> bytes:
    """`?sign_bearer_token`: `<Authorization><Result>token</Result></Authorization>`."""
    root = ET.Element("Authorization")
    _child(root, "Result", token)
    return document(root)
