"""A real server whose data directory is a small tmpfs that fills up: writes are refused with
`503 ServiceUnavailable.DiskFull`, reads keep answering, and once space is freed PutEvents works
again with no restart and every acknowledged event is found exactly once."""

from __future__ import annotations

import errno
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from compat_support import Keys, Server, rpc_client, trailhouse
from factory import make_event

from server_process import free_port
from trailhouse.client import RpcClient
from trailhouse.errors import RequestFailed

ACCOUNT = "9999888877776666"
EVENT_NAME = "DiskFullProbe"
TMPFS_SIZE = "8m"


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A fresh 8 MB tmpfs at `tmp_path/data`, unmounted afterwards."""
    mount_point = tmp_path / "data"
    mount_point.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={TMPFS_SIZE}", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"mount -t tmpfs was refused here: {mounted.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def fill(directory: Path) -> Path:
    """Write a filler file until the disk is full; return it."""
    filler = directory / "filler"
    chunk = b"\0" * 65536
    with filler.open("wb", buffering=0) as handle:
        while True:
            try:
                handle.write(chunk)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
                break
    return filler


def put(client: RpcClient, events: list[dict[str, Any]]) -> None:
    client.call("PutEvents", body={"Events": events})


def refusal(client: RpcClient, action: str, params: dict[str, str], body: Any = None) -> Any:
    """The RequestFailed a call is answered with, or None when it succeeds."""
    try:
        client.call(action, params, body)
    except RequestFailed as failed:
        return failed
    return None


def found_ids(client: RpcClient) -> list[str]:
    """The event ids LookupEvents finds for the probe's event name, every page."""
    ids: list[str] = []
    params = {
        "LookupAttribute.1.Key": "EventName",
        "LookupAttribute.1.Value": EVENT_NAME,
        "MaxResults": "50",
    }
    while True:
        answer = client.call("LookupEvents", params)
        ids.extend(event["eventId"] for event in answer["Events"])
        if not answer.get("NextToken"):
            return ids
        params = {**params, "NextToken": answer["NextToken"]}


def wait_found(client: RpcClient, expected: list[str], timeout: float = 30) -> list[str]:
    deadline = time.monotonic() + timeout
    while True:
        ids = found_ids(client)
        if sorted(set(ids)) == sorted(expected) or time.monotonic() > deadline:
            return ids
        time.sleep(0.2)


def batch(size: int) -> list[dict[str, Any]]:
    return [make_event(ACCOUNT, 60, eventName=EVENT_NAME) for _ in range(size)]


def test_a_full_disk_refuses_writes_keeps_reads_and_recovers_by_itself(
    small_disk: Path,
) -> None:
    created = trailhouse(
        "account", "create", "--data-dir", str(small_disk), "--account-id", ACCOUNT
    )
    keys = Keys(created["AccountId"], created["AccessKeyId"], created["AccessKeySecret"])
    server = Server(small_disk, free_port())
    server.start()
    try:
        with rpc_client(server, keys) as client:
            acknowledged: list[str] = []
            first = batch(20)
            put(client, first)
            acknowledged += [event["eventId"] for event in first]
            assert sorted(wait_found(client, acknowledged)) == sorted(acknowledged)

            filler = fill(small_disk)
            refused: list[dict[str, Any]] = []
            for _ in range(20):  # the segment's last page may still take a little
                events = batch(20)
                failed = refusal(client, "PutEvents", {}, {"Events": events})
                if failed is not None:
                    assert (failed.status, failed.code) == (503, "ServiceUnavailable.DiskFull")
                    assert "disk" in failed.message and "full" in failed.message
                    refused = events
                    break
                acknowledged += [event["eventId"] for event in events]
            assert refused, "PutEvents was never refused on a full disk"

            # Reads keep answering, each with a fresh nonce that the full disk cannot record.
            assert sorted(wait_found(client, acknowledged)) == sorted(acknowledged)
            assert client.call("DescribeRegions")["Regions"]
            assert client.call("DescribeTrails")["TrailList"] == []
            # A control-plane write may fit in a page SQLite already has, but is never a 500.
            trail = {"Name": "full-disk-trail", "OssBucketName": "audit-logs"}
            failed = refusal(client, "CreateTrail", trail)
            assert failed is None or failed.status == 503, failed

            filler.unlink()  # space returns: no restart
            put(client, refused)  # the refused batch, retried
            acknowledged += [event["eventId"] for event in refused]
            last = batch(20)
            put(client, last)
            acknowledged += [event["eventId"] for event in last]
            ids = wait_found(client, acknowledged)
            assert sorted(ids) == sorted(acknowledged)  # each exactly once
    finally:
        assert server.stop() == 0
    log = (small_disk.parent / "server.log").read_text(errors="replace")
    assert "Traceback" not in log  # refused and logged as a warning, never an internal error
