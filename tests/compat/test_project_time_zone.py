"""A project's time zone through a real server: CreateProject gives the region's default, the
owner's SetProjectProperty (and `trailhouse warehouse project set --timezone`) changes it, jobs
answer in it, and a wrong name or property is refused by name."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from compat_support import Fixture, Keys, Server, cli_environment, run_cli, run_sql_job

from trailhouse.client import RpcClient
from trailhouse.errors import RequestFailed

PROJECT = "tz_compat"
PROPERTY = "odps.sql.timezone"


def _call(server: Server, keys: Keys, action: str, params: dict[str, str]) -> dict[str, object]:
    with RpcClient(server.url, keys.access_key_id, keys.access_key_secret) as rpc:
        answer: dict[str, object] = rpc.call(action, params)
    return answer


def _answers(server: Server, keys: Keys, sql: str) -> list[list[object]]:
    job, _, rows = run_sql_job(server, keys, PROJECT, sql)
    assert job["Status"] == "Terminated", job["ErrorMessage"]
    return rows


def test_the_owner_sets_the_projects_time_zone(running: Fixture, tmp_path: Path) -> None:
    server, root = running.server, running.root
    created = _call(server, root, "CreateProject", {"Project": PROJECT})["Project"]
    assert isinstance(created, dict) and created["TimeZone"] == "Asia/Shanghai"  # cn-hangzhou
    assert _answers(server, root, "SELECT CURRENT_TIMEZONE(), FROM_UNIXTIME(0)") == [
        ["Asia/Shanghai", "1970-01-01 08:00:00"]
    ]
    params = {"Project": PROJECT, "Name": PROPERTY, "Value": "europe/berlin"}
    changed = _call(server, root, "SetProjectProperty", params)["Project"]
    assert isinstance(changed, dict) and changed["TimeZone"] == "Europe/Berlin"
    assert _answers(server, root, "SELECT CURRENT_TIMEZONE(), FROM_UNIXTIME(0)") == [
        ["Europe/Berlin", "1970-01-01 01:00:00"]
    ]
    script = "SET odps.sql.timezone=America/New_York;\nSELECT FROM_UNIXTIME(0)"
    assert _answers(server, root, script) == [["1969-12-31 19:00:00"]]

    env = cli_environment(server, tmp_path, root)
    done = run_cli(
        "warehouse", "project", "set", PROJECT, "--timezone", "Asia/Tokyo", "-o", "json", env=env
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["TimeZone"] == "Asia/Tokyo"
    listed = _call(server, root, "ListProjects", {})["Projects"]
    assert isinstance(listed, list)
    assert [p["TimeZone"] for p in listed if p["Name"] == PROJECT] == ["Asia/Tokyo"]


@pytest.mark.parametrize(
    ("params", "says"),
    [
        ({"Name": PROPERTY, "Value": "Mars/Olympus"}, "unknown time zone 'Mars/Olympus'"),
        ({"Name": PROPERTY, "Value": "GMT+8"}, "offsets such as GMT+8 are not time zone names"),
        ({"Name": "odps.sql.allow.fullscan", "Value": "false"}, "sets odps.sql.timezone only"),
    ],
)
def test_a_wrong_zone_or_property_is_refused_by_name(
    running: Fixture, params: dict[str, str], says: str
) -> None:
    with pytest.raises(RequestFailed) as refused:
        _call(running.server, running.root, "SetProjectProperty", {"Project": "p", **params})
    assert refused.value.code == "InvalidParameter" and says in refused.value.message
