"""trailhouse's own audit events on a full disk: the calls were answered, the batch the log
refused is lost, and the server says so in one error line, not a traceback."""

from __future__ import annotations

import errno
import logging
import os
import time
from collections.abc import Callable

import orjson
import pytest

from trailhouse.api.audit import AuditWriter
from trailhouse.events.model import EventRecord
from trailhouse.runtime import open_services
from trailhouse.settings import Settings

ACCOUNT = "1234567890123456"


def audit_event(event_id: str) -> EventRecord:
    now = int(time.time())
    body = {"eventId": event_id, "eventTime": now, "eventName": "DescribeTrails"}
    return EventRecord(
        account_id=ACCOUNT,
        event_id=event_id,
        event_time=now,
        event_name="DescribeTrails",
        service_name="Actiontrail",
        event_rw="Read",
        user_name="root",
        access_key_id="LTAI5tRootKey00000001",
        resource_types=(),
        resource_names=(),
        body=orjson.dumps(body),
    )


class FullDisk:
    """`os.write` that fails with ENOSPC while `full` is set, as a full disk does."""

    def __init__(self, write: Callable[[int, bytes], int]) -> None:
        self.write = write
        self.full = False

    def __call__(self, fd: int, data: bytes) -> int:
        if self.full:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return self.write(fd, data)


def test_audit_events_the_disk_refuses_are_named_in_one_error_line(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    services = open_services(settings)
    disk = FullDisk(os.write)
    monkeypatch.setattr(os, "write", disk)
    try:
        writer = AuditWriter(services.ingest)
        disk.full = True
        with caplog.at_level(logging.ERROR, logger="trailhouse.api.audit"):
            writer.submit(audit_event("audit-1"))
            writer.submit(audit_event("audit-2"))
            writer.close()
        disk.full = False
    finally:
        services.close()
    [line] = [r for r in caplog.records if r.name == "trailhouse.api.audit"]
    assert line.levelno == logging.ERROR
    assert line.getMessage().startswith("could not record 2 audit events: ")
    assert "full" in line.getMessage()
    assert line.exc_info is None  # an operating condition, not a traceback
