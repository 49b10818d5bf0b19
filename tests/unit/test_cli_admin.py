"""Administration commands on a data directory: accounts, users, service keys, purge, settings."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from trailhouse.cli import main
from trailhouse.events.validation import ValidationLimits, format_event_time, validate_event
from trailhouse.settings import Settings
from trailhouse.store import open_stores


def _run(capsys: pytest.CaptureFixture[str], *arguments: str) -> tuple[int, str, str]:
    status = main(list(arguments))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_account_user_and_service_keys_are_printed_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = str(tmp_path)
    status, out, _ = _run(
        capsys, "account", "create", "--account-id", "1234567890123456", "--data-dir", data
    )
    assert status == 0
    account = json.loads(out)
    assert account["AccountId"] == "1234567890123456"
    assert account["AccessKeyId"].startswith("LTAI") and len(account["AccessKeySecret"]) == 30

    status, out, _ = _run(
        capsys,
        "user",
        "create",
        "--account-id",
        "1234567890123456",
        "--user-name",
        "alice",
        "--data-dir",
        data,
    )
    user = json.loads(out)
    assert (status, user["UserName"], user["AccountId"]) == (0, "alice", "1234567890123456")
    assert user["AccessKeyId"] != account["AccessKeyId"]

    status, out, _ = _run(capsys, "service", "create", "billing", "--data-dir", data)
    assert (status, json.loads(out)["ServiceName"]) == (0, "billing")

    status, out, _ = _run(capsys, "account", "create", "--data-dir", data)
    assert status == 0 and len(json.loads(out)["AccountId"]) == 16
    status, out, _ = _run(capsys, "account", "list", "--data-dir", data)
    assert "1234567890123456" in out


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (("account", "create", "--account-id", "12345"), "must be exactly 16 digits"),
        (
            ("user", "create", "--account-id", "9999999999999999", "--user-name", "bob"),
            "does not exist",
        ),
        (
            ("user", "create", "--account-id", "1234567890123456", "--user-name", "bad name"),
            "user name",
        ),
        (("service", "create", "Bad Name"), "service name"),
    ],
)
def test_bad_input_is_one_line_and_changes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], arguments: tuple[str, ...], message: str
) -> None:
    data = str(tmp_path)
    _run(capsys, "account", "create", "--account-id", "1234567890123456", "--data-dir", data)
    status, out, err = _run(capsys, *arguments, "--data-dir", data)
    assert status == 1 and out == ""
    assert err.startswith("trailhouse: ") and message in err
    _, listing, _ = _run(capsys, "account", "list", "--data-dir", data)
    assert len(listing.strip().splitlines()) == 2  # header + the one account


def test_a_duplicate_account_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    arguments = (
        "account",
        "create",
        "--account-id",
        "1234567890123456",
        "--data-dir",
        str(tmp_path),
    )
    assert _run(capsys, *arguments)[0] == 0
    status, _, err = _run(capsys, *arguments)
    assert status == 1 and "1234567890123456" in err


def test_purge_removes_only_events_older_than_the_retention(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = Settings.load({"data_dir": tmp_path}, environ={})
    today = int(time.time())
    limits = ValidationLimits(
        now=today, retention_seconds=90 * 86400, max_future_seconds=900, max_event_bytes=1 << 20
    )
    event = {
        "eventSource": "ecs.aliyuncs.com",
        "eventName": "StopInstance",
        "eventType": "ApiCall",
        "eventRW": "Write",
        "acsRegion": "cn-hangzhou",
        "serviceName": "Ecs",
        "sourceIpAddress": "10.0.0.1",
        "userAgent": "test",
        "userIdentity": {"type": "root-account"},
    }
    records = [
        validate_event(
            {**event, "eventTime": format_event_time(today - age * 86400), "requestId": str(age)},
            account_id="1234567890123456",
            limits=limits,
        )
        for age in (0, 1, 3, 5, 10)
    ]
    stores = open_stores(settings)
    try:
        assert stores.events.append(records) == [True] * 5
        assert stores.events.catch_up()
    finally:
        stores.close()
    status, out, _ = _run(
        capsys, "events", "purge", "--retention-days", "4", "--data-dir", str(tmp_path)
    )
    assert status == 0
    assert json.loads(out) == {"Purged": 2, "RetentionDays": 4}
    stores = open_stores(settings)
    try:
        kept = [event.event_time for event in stores.events.read_after(0, 10)]
    finally:
        stores.close()
    assert kept == [record.event_time for record in records[:3]]


def test_the_event_log_refuses_a_second_process(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stores = open_stores(Settings.load({"data_dir": tmp_path}, environ={}))
    try:
        status, _, err = _run(capsys, "events", "purge", "--data-dir", str(tmp_path))
    finally:
        stores.close()
    assert status == 1
    assert "in use by another trailhouse process" in err
