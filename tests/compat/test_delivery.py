"""Trails deliver into the warehouse, driven by the official SDK against a real server: the
happy path with status and StopLogging, and exactly-once delivery while the server is killed."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from alibabacloud_actiontrail20200706 import models
from compat_support import (
    ACCOUNT_B,
    Fixture,
    Keys,
    Server,
    free_port,
    project_arn,
    put_events,
    sdk,
    sql_rows,
    trailhouse,
    wait_delivered,
)
from factory import make_event

from trailhouse.warehouse.model import project_name

REGION = "cn-hangzhou"


def test_sdk_trail_delivers_put_events_and_stops(running: Fixture) -> None:
    keys, server = running.other, running.server
    client = sdk(server, keys)
    name = "sdk-delivery"
    client.create_trail(
        models.CreateTrailRequest(name=name, max_compute_project_arn=project_arn(ACCOUNT_B))
    )
    client.start_logging(models.StartLoggingRequest(name=name))
    events = [make_event(ACCOUNT_B, 10, eventName="CreateBucket") for _ in range(120)]
    started = time.time()
    assert put_events(client, events)["Accepted"] == 120

    status = wait_delivered(server, keys, name)
    delivered_in = time.time() - started
    rows = sql_rows(
        server,
        keys,
        "SELECT event_id FROM actiontrail_sdk_delivery WHERE event_name = 'CreateBucket'",
    )
    assert sorted(r[0] for r in rows) == sorted(e["eventId"] for e in events)
    audited = sql_rows(
        server,
        keys,
        "SELECT COUNT(*) FROM actiontrail_sdk_delivery WHERE service_name = 'Actiontrail'",
    )
    assert audited[0][0] >= 1  # trailhouse's own audit events of the account are delivered too
    assert delivered_in < 15

    official = client.get_trail_status(models.GetTrailStatusRequest(name=name)).body
    assert official.is_logging is True
    assert official.latest_delivery_time and not official.latest_delivery_error
    assert status["DeliveryTable"] == f"{project_name(ACCOUNT_B)}.actiontrail_sdk_delivery"
    assert status["DeliveredEvents"] >= 120
    assert (
        0 < status["DeliveryLagP50Ms"] <= status["DeliveryLagP99Ms"] <= status["DeliveryLagMaxMs"]
    )

    client.stop_logging(models.StopLoggingRequest(name=name))
    assert put_events(client, [make_event(ACCOUNT_B, 5) for _ in range(10)])["Accepted"] == 10
    time.sleep(3)
    later = sql_rows(
        server,
        keys,
        "SELECT COUNT(*) FROM actiontrail_sdk_delivery WHERE event_name = 'DescribeInstances'",
    )
    assert later == [[0]]
    client.delete_trail(models.DeleteTrailRequest(name=name))


def test_exactly_once_while_the_server_is_killed(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    created = trailhouse("account", "create", "--data-dir", str(data_dir))
    keys = Keys(created["AccountId"], created["AccessKeyId"], created["AccessKeySecret"])
    server = Server(data_dir, free_port())
    env = {
        "TRAILHOUSE_DELIVERY_FLUSH_SECONDS": "0.1",
        "TRAILHOUSE_DELIVERY_RETRY_SECONDS": "0.5",
        "TRAILHOUSE_SQL_RESULT_ROWS": "1000000",
        # Every batch's file made in the encoder's helper process, killed with its server.
        "TRAILHOUSE_DELIVERY_ENCODE_PROCESS_EVENTS": "1",
    }
    server.start(env=env)
    client = sdk(server, keys)
    client.create_trail(
        models.CreateTrailRequest(
            name="killed", max_compute_project_arn=project_arn(keys.account_id)
        )
    )
    client.start_logging(models.StartLoggingRequest(name="killed"))

    accepted: list[str] = []
    unknown: list[str] = []  # sent when the server died: maybe stored, maybe not
    rng = random.Random(11)
    for _ in range(6):
        stop = threading.Event()

        def produce(stop: threading.Event = stop) -> None:
            producer = sdk(server, keys)
            while not stop.is_set():
                batch = [
                    make_event(keys.account_id, rng.randrange(0, 5 * 86400)) for _ in range(100)
                ]
                try:
                    answer = put_events(producer, batch)
                except Exception:
                    unknown.extend(e["eventId"] for e in batch)
                    return
                assert answer["Accepted"] == 100
                accepted.extend(e["eventId"] for e in batch)

        thread = threading.Thread(target=produce)
        thread.start()
        time.sleep(rng.uniform(0.5, 1.5))
        assert server.process is not None
        server.process.send_signal(signal.SIGKILL)
        server.process.wait()
        stop.set()
        thread.join(timeout=30)
        server.start(env=env)
    try:
        wait_delivered(server, keys, "killed", timeout=120)
        rows = sql_rows(
            server,
            keys,
            "SELECT event_id, COUNT(*) FROM actiontrail_killed "
            "WHERE service_name = 'Ecs' GROUP BY event_id",  # the test's events, not self-audit
        )
    finally:
        assert server.stop() == 0
    counts: dict[str, int] = dict(rows)
    assert len(accepted) > 1000
    assert set(accepted) <= set(counts), "an accepted event never reached the table"
    assert set(counts) <= set(accepted) | set(unknown)
    assert all(n == 1 for n in counts.values()), "an event was delivered twice"


@pytest.mark.postgres
def test_a_separate_deliver_worker_delivers_for_a_server_on_postgresql(
    tmp_path: Path, postgres_url: str
) -> None:
    data_dir = tmp_path / "data"
    env = {"TRAILHOUSE_DATABASE_URL": postgres_url, "TRAILHOUSE_DELIVERY_FLUSH_SECONDS": "0.2"}
    created = trailhouse("account", "create", "--data-dir", str(data_dir), env=env)
    keys = Keys(created["AccountId"], created["AccessKeyId"], created["AccessKeySecret"])
    server = Server(data_dir, free_port())
    server.start("--no-delivery", env=env)
    worker = subprocess.Popen(
        [sys.executable, "-m", "trailhouse", "deliver", "--data-dir", str(data_dir)],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        client = sdk(server, keys)
        client.create_trail(
            models.CreateTrailRequest(
                name="worker-trail", max_compute_project_arn=project_arn(keys.account_id)
            )
        )
        client.start_logging(models.StartLoggingRequest(name="worker-trail"))
        events = [make_event(keys.account_id, 30, eventName="RunInstances") for _ in range(300)]
        assert put_events(client, events)["Accepted"] == 300
        wait_delivered(server, keys, "worker-trail")
        rows = sql_rows(
            server,
            keys,
            "SELECT COUNT(DISTINCT event_id) FROM actiontrail_worker_trail "
            "WHERE event_name = 'RunInstances'",
        )
        assert rows == [[300]]
    finally:
        worker.send_signal(signal.SIGTERM)
        output, _ = worker.communicate(timeout=60)
        assert server.stop() == 0
    assert worker.returncode == 0, output
    assert b"delivering trails" in output


def test_sdk_delivery_history_job_backfills_earlier_events(running: Fixture) -> None:
    keys, server = running.other, running.server
    client = sdk(server, keys)
    earlier = [make_event(ACCOUNT_B, 3600, eventName="HistoryMarker") for _ in range(80)]
    assert put_events(client, earlier)["Accepted"] == 80
    name = "sdk-history"
    client.create_trail(
        models.CreateTrailRequest(name=name, max_compute_project_arn=project_arn(ACCOUNT_B))
    )
    client.start_logging(models.StartLoggingRequest(name=name))
    marker = (
        "SELECT COUNT(*), COUNT(DISTINCT event_id) FROM actiontrail_sdk_history "
        "WHERE event_name = 'HistoryMarker'"
    )
    wait_delivered(server, keys, name)
    assert sql_rows(server, keys, marker) == [[0, 0]]  # a trail records from its start

    created = client.create_delivery_history_job(
        models.CreateDeliveryHistoryJobRequest(trail_name=name, client_token="sdk-backfill")
    ).body
    again = client.create_delivery_history_job(
        models.CreateDeliveryHistoryJobRequest(trail_name=name, client_token="sdk-backfill")
    ).body
    assert again.job_id == created.job_id
    deadline = time.monotonic() + 60
    while True:
        job = client.get_delivery_history_job(
            models.GetDeliveryHistoryJobRequest(job_id=created.job_id)
        ).body
        if job.job_status in (2, 3):
            break
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert job.job_status == 2 and job.trail_name == name and job.home_region == REGION
    assert [(s.region, s.status) for s in job.status] == [(REGION, 2)]
    assert sql_rows(server, keys, marker) == [[80, 80]]
    listed = client.list_delivery_history_jobs(models.ListDeliveryHistoryJobsRequest()).body
    assert created.job_id in [j.job_id for j in listed.delivery_history_jobs]
    client.delete_delivery_history_job(
        models.DeleteDeliveryHistoryJobRequest(job_id=created.job_id)
    )
    client.delete_trail(models.DeleteTrailRequest(name=name))
