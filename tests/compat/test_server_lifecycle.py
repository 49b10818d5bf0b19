"""The server process: SIGTERM while events arrive loses nothing acknowledged; --demo works."""

from __future__ import annotations

import http.client
import subprocess
import sys
import threading
import time
from pathlib import Path

import orjson
from compat_support import Fixture, Server, free_port, trailhouse
from factory import make_event

from trailhouse.client import RpcClient
from trailhouse.errors import RequestFailed


def test_sigterm_during_ingest_loses_no_acknowledged_event(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    keys = trailhouse("account", "create", "--data-dir", str(data_dir))
    server = Server(data_dir, free_port())
    server.start()
    acknowledged: list[str] = []
    stop = threading.Event()

    def produce() -> None:
        with RpcClient(server.url, keys["AccessKeyId"], keys["AccessKeySecret"]) as client:
            while not stop.is_set():
                batch = [make_event(keys["AccountId"], 60, eventName="Shutdown") for _ in range(50)]
                try:
                    answer = client.call("PutEvents", body={"Events": batch})
                except RequestFailed:
                    return  # the server has gone: nothing more can be acknowledged
                assert answer["Accepted"] == 50
                acknowledged.extend(event["eventId"] for event in batch)

    producers = [threading.Thread(target=produce) for _ in range(3)]
    for thread in producers:
        thread.start()
    time.sleep(1.0)
    assert server.stop() == 0
    stop.set()
    for thread in producers:
        thread.join(timeout=30)
    assert len(acknowledged) > 0

    server.start()
    found: set[str] = set()
    try:
        client = RpcClient(server.url, keys["AccessKeyId"], keys["AccessKeySecret"], timeout=60)
        token = None
        while True:
            params = {
                "MaxResults": "50",
                "LookupAttribute.1.Key": "EventName",
                "LookupAttribute.1.Value": "Shutdown",
            }
            if token:
                params["NextToken"] = token
            answer = client.call("LookupEvents", params)
            found.update(event["eventId"] for event in answer["Events"])
            token = answer.get("NextToken")
            if not token:
                break
        client.close()
    finally:
        assert server.stop() == 0
    assert set(acknowledged) <= found


def test_demo_fills_an_empty_data_directory_and_prints_credentials(tmp_path: Path) -> None:
    data_dir = tmp_path / "demo"
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "trailhouse",
            "serve",
            "--demo",
            "--data-dir",
            str(data_dir),
            "--port",
            str(port),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        lines = []
        for line in process.stdout:
            lines.append(line)
            if " events lookup --endpoint " in line:
                break
        output = "".join(lines)
        assert f"serving http://127.0.0.1:{port}" in output
        credentials = orjson.loads((data_dir / "demo-credentials.json").read_bytes())["root"]
        assert credentials["AccessKeyId"] in output
        endpoint = f"127.0.0.1:{port}"
        with RpcClient(
            endpoint, credentials["AccessKeyId"], credentials["AccessKeySecret"]
        ) as client:
            page = client.call("LookupEvents", {"MaxResults": "50"})
            signins = client.call(
                "LookupEvents",
                {"LookupAttribute.1.Key": "EventName", "LookupAttribute.1.Value": "ConsoleSignin"},
            )
        assert len(page["Events"]) == 50
        assert signins["Events"]
    finally:
        process.terminate()
        status = process.wait(timeout=60)
        assert process.stdout is not None
        process.stdout.close()
    assert status == 0


def test_keep_alive_round_trips_do_not_stall(running: Fixture) -> None:
    """A delayed-ACK stall costs ~40 ms a request; a healthy round trip here takes ~1 ms."""
    connection = http.client.HTTPConnection(running.server.endpoint, timeout=10)
    try:
        timings = []
        for _ in range(21):
            started = time.perf_counter()
            connection.request("GET", "/health")
            connection.getresponse().read()
            timings.append(time.perf_counter() - started)
    finally:
        connection.close()
    assert sorted(timings)[10] < 0.02
