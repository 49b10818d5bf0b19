"""The sample events Alibaba publishes go PutEvents → LookupEvents (the official SDK) → a
trail's warehouse table, each unchanged: the body sent is the body stored and delivered, and
what ActionTrail leaves out (eventRW, sourceIpAddress...) is only derived for the index."""

from __future__ import annotations

import http.client
import re
import time
import uuid
from pathlib import Path
from typing import Any

import orjson
from alibabacloud_actiontrail20200706 import models
from compat_support import (
    Fixture,
    Keys,
    Server,
    project_arn,
    sdk,
    sql_rows,
    wait_delivered,
)

from trailhouse.events.validation import format_event_time
from trailhouse.iam.signatures import sign_request_v3

PUBLISHED = Path(__file__).parents[1] / "data" / "published_events"
_TIME = re.compile(rb'"eventTime": "[^"]*"')
_ID = re.compile(rb'"eventId": "[^"]*"')


def _sample(path: Path, when: int, tag: str) -> tuple[bytes, str]:
    """The published event as its file holds it, with a recent eventTime and a new eventId
    (added at the front when the sample has none); nothing else changed."""
    raw = _TIME.sub(b'"eventTime": "' + format_event_time(when).encode() + b'"', path.read_bytes())
    event_id = f"PUB-{tag}-{uuid.uuid4().hex[:12].upper()}"
    if _ID.search(raw):
        raw = _ID.sub(b'"eventId": "' + event_id.encode() + b'"', raw, 1)
    else:
        raw = b'{\n  "eventId": "' + event_id.encode() + b'",' + raw.lstrip()[1:]
    return raw.strip(), event_id


def _put_raw(server: Server, keys: Keys, events: list[bytes]) -> dict[str, Any]:
    """PutEvents with the events' own bytes in the body (the SDK would re-serialize them)."""
    body = b'{"Events": [' + b",".join(events) + b"]}"
    query, headers = sign_request_v3(
        "POST",
        server.endpoint,
        "PutEvents",
        "2020-07-06",
        {},
        body,
        keys.access_key_id,
        keys.access_key_secret,
        content_type="application/json",
    )
    connection = http.client.HTTPConnection(server.endpoint, timeout=30)
    try:
        connection.request("POST", f"/?{query}", body=body, headers=headers)
        response = connection.getresponse()
        answer: dict[str, Any] = orjson.loads(response.read())
    finally:
        connection.close()
    assert response.status == 200, answer
    return answer


def test_published_samples_are_stored_looked_up_and_delivered_unchanged(
    running: Fixture,
) -> None:
    keys, server = running.root, running.server
    client = sdk(server, keys)
    name = "published-samples"
    client.create_trail(
        models.CreateTrailRequest(
            name=name, max_compute_project_arn=project_arn(keys.account_id), event_rw="All"
        )
    )
    try:
        client.start_logging(models.StartLoggingRequest(name=name))
        now = int(time.time())
        paths = sorted(PUBLISHED.glob("*.json"))
        assert len(paths) >= 7
        samples = [_sample(path, now - 30 - n, str(n)) for n, path in enumerate(paths)]
        answer = _put_raw(server, keys, [raw for raw, _ in samples])
        assert answer == {"Accepted": len(samples), "Failed": [], **_request_id(answer)}

        for raw, event_id in samples:
            sent = orjson.loads(raw)
            found = _lookup_by_id(client, event_id, now)
            assert len(found) == 1, event_id
            shown = dict(found[0])
            shown.pop("trailhouseRecorder", None)  # who recorded it, added when shown
            # every field as sent; only the fields trailhouse fills when absent are added
            assert {k: v for k, v in shown.items() if k in sent} == sent
            assert set(shown) - set(sent) <= {"eventVersion", "eventCategory", "recipientAccountId"}
            assert "eventRW" in shown or "eventRW" not in sent

        by_file = {path.stem: event_id for path, (_, event_id) in zip(paths, samples, strict=True)}
        # the index holds what ActionTrail derives; each sample is found by it
        for stem, key, value in (
            ("actiontrail_lookup_events_as_role", "RoleName", "custom-role-for-actiontrail"),
            ("actiontrail_lookup_events_as_role", "EventRW", "Read"),  # derived: no eventRW
            ("sts_assume_role", "EventRW", "Write"),  # derived: AssumeRole writes
            ("sts_assume_role", "SourceIpAddress", "192.168.XX.XX"),
            ("eventbridge_ecs_delete_disk", "SensitiveAction", "true"),
            ("eventbridge_ecs_delete_disk", "SourceIpAddress", "ecs.aliyuncs.com"),
            ("actiontrail_update_trail_console", "EventType", "ApiCall"),
            ("actiontrail_update_trail_console", "SensitiveAction", "false"),
            (
                "actiontrail_update_trail_console",
                "SourceIpAddress",
                "2409:8a20:4d15:e150:90f5:26ed:cc45:6922",
            ),
            ("actiontrail_update_trail_ram_user_console_2016", "User", "Bob"),
            ("actiontrail_update_trail_ram_user_console_2016", "EventRW", "Write"),  # derived
            ("actiontrail_update_trail_ram_user_sdk_2016", "EventAccessKeyId", "f6IzzFZMmzNwEI4d"),
            ("ims_create_user_console", "ServiceName", "Ims"),  # a global event, isGlobal true
        ):
            found = _lookup_by_id(client, by_file[stem], now, (key, value))
            assert len(found) == 1, (stem, key, value)

        wait_delivered(server, keys, name)
        ids = ", ".join(f"'{event_id}'" for _, event_id in samples)
        rows = sql_rows(
            server,
            keys,
            "SELECT event_id, event, event_rw, source_ip_address "
            f"FROM actiontrail_published_samples WHERE event_id IN ({ids})",
        )
        delivered = {row[0]: row for row in rows}
        assert set(delivered) == {event_id for _, event_id in samples}
        for raw, event_id in samples:
            sent = orjson.loads(raw)
            _, event, event_rw, source = delivered[event_id]
            stored = orjson.loads(event)
            # the producer's bytes verbatim, after the fields trailhouse fills at the front
            assert event.encode().endswith(raw[1:]), event_id
            assert {k: v for k, v in stored.items() if k in sent} == sent
            assert event_rw == sent.get("eventRW")  # NULL where the sample has none
            assert source == sent.get("sourceIpAddress")
    finally:
        client.delete_trail(models.DeleteTrailRequest(name=name))


def _lookup_by_id(client: Any, event_id: str, now: int, *more: tuple[str, str]) -> list[Any]:
    """LookupEvents by EventId (and `more` attributes), asked again for a few seconds while the
    index catches up."""
    deadline = time.monotonic() + 15
    attributes = [("EventId", event_id), *more]
    while True:
        found: list[Any] = client.lookup_events(
            models.LookupEventsRequest(
                lookup_attribute=[
                    models.LookupEventsRequestLookupAttribute(key=key, value=value)
                    for key, value in attributes
                ],
                start_time=format_event_time(now - 3600),
            )
        ).body.events
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.3)


def _request_id(answer: dict[str, Any]) -> dict[str, Any]:
    return {"RequestId": answer["RequestId"]} if "RequestId" in answer else {}
