"""The trailhouse command against a real server: configure, events put, events lookup, purge."""

from __future__ import annotations

import json
from pathlib import Path
from subprocess import CompletedProcess

import orjson
from compat_support import Fixture, cli_environment, run_cli
from factory import make_event


def _run(*arguments: str, env: dict[str, str], stdin: str | None = None) -> CompletedProcess[str]:
    return run_cli(*arguments, env=env, stdin=stdin)


def _environment(running: Fixture, tmp_path: Path, **extra: str) -> dict[str, str]:
    return {**cli_environment(running.server, tmp_path), **extra}


def test_events_put_from_a_file_then_lookup_from_a_profile(
    running: Fixture, tmp_path: Path
) -> None:
    env = _environment(running, tmp_path)
    configured = _run(
        "configure",
        "--profile",
        "ops",
        "--access-key-id",
        running.root.access_key_id,
        "--access-key-secret",
        running.root.access_key_secret,
        env=env,
    )
    assert configured.returncode == 0, configured.stderr
    assert oct((tmp_path / "config.json").stat().st_mode & 0o777) == "0o600"
    events = [make_event(running.root.account_id, 30, eventName="CliRecorded") for _ in range(1200)]
    events[7]["eventRW"] = "Sometimes"
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"".join(orjson.dumps(event) + b"\n" for event in events))

    put = _run("events", "put", str(path), "--profile", "ops", env=env)
    assert put.returncode == 1  # one event failed
    assert json.loads(put.stdout) == {"Sent": 1200, "Accepted": 1199, "Failed": 1}
    assert "line 8: InvalidEvent.InvalidField: eventRW" in put.stderr

    lookup = _run(
        "events",
        "lookup",
        "--attribute",
        "EventName=CliRecorded",
        "--max-results",
        "50",
        "--pages",
        "30",
        "--output",
        "jsonl",
        "--profile",
        "ops",
        env=env,
    )
    assert lookup.returncode == 0, lookup.stderr
    found = [json.loads(line)["eventId"] for line in lookup.stdout.splitlines()]
    assert len(found) == 1199
    assert set(found) == {e["eventId"] for i, e in enumerate(events) if i != 7}


def test_credentials_from_the_environment_and_a_table(running: Fixture, tmp_path: Path) -> None:
    env = _environment(
        running,
        tmp_path,
        ALIBABA_CLOUD_ACCESS_KEY_ID=running.root.access_key_id,
        ALIBABA_CLOUD_ACCESS_KEY_SECRET=running.root.access_key_secret,
    )
    event = make_event(running.root.account_id, 30, eventName="CliFromStdin")
    put = _run("events", "put", "-", env=env, stdin=orjson.dumps(event).decode() + "\n")
    assert put.returncode == 0, put.stderr
    lookup = _run("events", "lookup", "--attribute", f"EventId={event['eventId']}", env=env)
    assert lookup.returncode == 0, lookup.stderr
    lines = lookup.stdout.splitlines()
    assert lines[0].split() == [
        "EventTime",
        "Service",
        "Event",
        "RW",
        "User",
        "SourceIp",
        "Error",
        "EventId",
    ]
    assert "CliFromStdin" in lines[1] and event["eventId"] in lines[1]


def test_errors_are_one_line_with_the_code(running: Fixture, tmp_path: Path) -> None:
    env = _environment(
        running,
        tmp_path,
        ALIBABA_CLOUD_ACCESS_KEY_ID=running.root.access_key_id,
        ALIBABA_CLOUD_ACCESS_KEY_SECRET="wrong",
    )
    lookup = _run("events", "lookup", env=env)
    assert lookup.returncode == 1
    assert lookup.stderr.startswith("trailhouse: SignatureDoesNotMatch:")
    no_credentials = _run("events", "lookup", env=_environment(running, tmp_path))
    assert no_credentials.returncode == 1
    assert "no credentials" in no_credentials.stderr
