"""Every call of the official MaxCompute SDK, read from its own client: the reads trailhouse
serves route to their action by the SDK's method and path, and every other call (writes
included) routes to nothing, so it is refused by name (`MethodNotAllowed`), never a 404 text."""

from __future__ import annotations

import re
from pathlib import Path

import alibabacloud_maxcompute20220104.client as sdk_client
import pytest

from trailhouse.errors import JobNotFound, NoPermission, ProjectNotFound
from trailhouse.maxcompute_openapi.errors import wire_error
from trailhouse.maxcompute_openapi.routes import PREFIX, _match, _segments

SERVED = {
    "ListProjects",
    "GetProject",
    "ListTables",
    "GetTableInfo",
    "ListQuotas",
    "GetQuota",
    "ListJobInfos",
    "GetJobInfo",
}
_CALL = re.compile(
    r"action = '(?P<action>\w+)',.*?pathname = f'(?P<path>[^']*)',\s*method = '(?P<method>\w+)'",
    re.S,
)


def _sdk_calls() -> dict[str, tuple[str, str]]:
    """Action → (method, path with each {placeholder} as a sample name), from the SDK."""
    source = Path(sdk_client.__file__).read_text(encoding="utf-8")
    calls: dict[str, tuple[str, str]] = {}
    for found in _CALL.finditer(source):
        path = re.sub(r"\{[^}]*\}", "sample_name", found["path"])
        calls[found["action"]] = (found["method"], path)
    return calls


CALLS = _sdk_calls()


def test_the_sdk_was_read() -> None:
    assert len(CALLS) > 100
    assert set(CALLS) >= SERVED


@pytest.mark.parametrize("action", sorted(CALLS))
def test_each_sdk_call_routes_to_itself_or_nothing(action: str) -> None:
    method, path = CALLS[action]
    matched = _match(method, _segments(path)) if path.startswith(PREFIX + "/") else None
    if action in SERVED:
        assert matched is not None, (method, path)
        assert matched[0] == action
        assert all(name == "sample_name" for name in matched[2])
    else:
        assert matched is None, f"{action} ({method} {path}) would be answered as {matched}"


@pytest.mark.parametrize(
    ("error", "code", "status"),
    [
        (ProjectNotFound("ODPS-0420111:Project not found - 'p'"), "NoSuchObject", 404),
        (JobNotFound("no SQL job j"), "NoSuchObject", 404),
        (NoPermission("no Select privilege"), "NoPermission", 403),
    ],
)
def test_service_refusals_keep_their_message(error: Exception, code: str, status: int) -> None:
    wire = wire_error(error)
    assert wire is not None
    assert (wire.code, wire.http_status) == (code, status)
    assert wire.message == str(error)


def test_a_bug_is_not_a_refusal() -> None:
    assert wire_error(KeyError("x")) is None
