"""The system scenes' templates are statements trailhouse runs: each parses, ids are unique and
stable, and each template finds the event it promises and not a plain read."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from trailhouse.advanced_query.scenes import SCENES, scene, scenes
from trailhouse.advanced_query.statements import parse

TEMPLATES = [(s, t) for s in SCENES for t in s.templates]
PLAIN: dict[str, Any] = {
    "eventName": "DescribeInstances",
    "eventRW": "Read",
    "serviceName": "Ecs",
    "userIdentity": {"type": "ram-user"},
}
FOUND: dict[str, dict[str, Any]] = {
    "root-console-signin": {"eventName": "ConsoleSignin", "userIdentity": {"type": "root-account"}},
    "failed-console-signin": {"eventName": "ConsoleSignin", "errorCode": "Failed"},
    "accesskey-calls": {"userIdentity": {"accessKeyId": "LTAI5tX"}},
    "accesskey-errors": {"errorCode": "NoPermission", "userIdentity": {"accessKeyId": "LTAI5tX"}},
    "root-accesskey-calls": {"userIdentity": {"type": "root-account", "accessKeyId": "LTAI5tX"}},
    "write-events": {"eventRW": "Write"},
    "deletions": {"eventName": "ReleaseEipAddress"},
    "trail-changes": {"eventName": "StopLogging", "serviceName": "Actiontrail"},
}


@pytest.mark.parametrize(("owner", "template"), TEMPLATES, ids=[t.token for _, t in TEMPLATES])
def test_each_template_finds_what_it_promises(owner: Any, template: Any) -> None:
    statement = parse(template.sql)
    found = FOUND[template.token]
    assert statement.matches(found, orjson.dumps(found).decode())
    assert not statement.matches(PLAIN, orjson.dumps(PLAIN).decode())
    assert scene(owner.scene_id) is owner


def test_ids_are_unique_and_search_codes_filter() -> None:
    ids = [s.scene_id for s in SCENES] + [t.template_id for _, t in TEMPLATES]
    assert len(set(ids)) == len(ids) and all(len(i) == 25 for i in ids)
    assert [s.token for s in scenes("ACCESSKEY")] == ["accesskey-audit"]
    assert scenes(None) == list(SCENES) and scenes("nothing") == []
    assert scene("sc-unknown") is None
