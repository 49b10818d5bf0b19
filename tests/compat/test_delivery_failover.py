"""Delivery by leases across processes: three `trailhouse deliver` workers share the trails of a
server on PostgreSQL; one is killed with SIGKILL while events stream in, the others take its
trails within the lease period, and every accepted event is in each trail's table exactly once."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from pathlib import Path

import pytest
from alibabacloud_actiontrail20200706 import models
from compat_support import (
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

LEASE_SECONDS = 4.0
TRAILS_PER_ACCOUNT = 3
_LEASE_LINE = re.compile(
    r'^trailhouse_delivery_lease\{account="(\d+)",trail="([^"]+)",worker="[^"]*-(\d+)-\w+"\} 1',
    re.MULTILINE,
)


def lease_holders(server: Server) -> dict[tuple[str, str], int]:
    """Which worker process (by pid) holds each trail's lease now, from GET /metrics."""
    with urllib.request.urlopen(f"{server.url}/metrics", timeout=10) as answer:
        text = answer.read().decode()
    return {(account, trail): int(pid) for account, trail, pid in _LEASE_LINE.findall(text)}


def wait_for(check: object, timeout: float, what: str) -> float:
    """Poll `check()` until true; the seconds it took. Fails naming `what` on timeout."""
    assert callable(check)
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < timeout, f"{what} did not happen in {timeout} s"
        time.sleep(0.1)
    return time.monotonic() - started


@pytest.mark.postgres
def test_three_workers_share_trails_and_survive_a_kill(tmp_path: Path, postgres_url: str) -> None:
    data_dir = tmp_path / "data"
    env = {
        "TRAILHOUSE_DATABASE_URL": postgres_url,
        "TRAILHOUSE_DELIVERY_FLUSH_SECONDS": "0.2",
        "TRAILHOUSE_DELIVERY_LEASE_SECONDS": str(LEASE_SECONDS),
    }
    accounts = []
    for _ in range(2):
        created = trailhouse("account", "create", "--data-dir", str(data_dir), env=env)
        accounts.append(
            Keys(created["AccountId"], created["AccessKeyId"], created["AccessKeySecret"])
        )
    server = Server(data_dir, free_port())
    server.start("--no-delivery", env=env)
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "trailhouse", "deliver", "--data-dir", str(data_dir)],
            env={**os.environ, **env},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(3)
    ]
    trails = [(keys, f"share-{n}") for keys in accounts for n in range(TRAILS_PER_ACCOUNT)]
    accepted: dict[str, list[str]] = {keys.account_id: [] for keys in accounts}
    stop = threading.Event()
    try:
        for keys, name in trails:
            client = sdk(server, keys)
            arn = project_arn(keys.account_id)
            client.create_trail(models.CreateTrailRequest(name=name, max_compute_project_arn=arn))
            client.start_logging(models.StartLoggingRequest(name=name))
        pids = {w.pid for w in workers}

        def evenly_spread() -> bool:
            holders = lease_holders(server)
            return len(holders) == len(trails) and Counter(holders.values()) == dict.fromkeys(
                pids, 2
            )

        wait_for(evenly_spread, 10 * LEASE_SECONDS, "two trails per worker")

        def produce() -> None:
            clients = [(keys, sdk(server, keys)) for keys in accounts]
            while not stop.is_set():
                for keys, client in clients:
                    batch = [
                        make_event(keys.account_id, 60, eventName="Failover") for _ in range(50)
                    ]
                    assert put_events(client, batch)["Accepted"] == 50
                    accepted[keys.account_id].extend(e["eventId"] for e in batch)
                time.sleep(0.05)

        producer = threading.Thread(target=produce)
        producer.start()
        time.sleep(2)
        victim = workers[0]
        victims_trails = {k for k, pid in lease_holders(server).items() if pid == victim.pid}
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        survivors = {w.pid for w in workers[1:]}

        def taken_over() -> bool:
            holders = lease_holders(server)
            return all(holders.get(key) in survivors for key in victims_trails)

        failover = wait_for(
            taken_over, 3 * LEASE_SECONDS, "the takeover of the killed worker's trails"
        )
        time.sleep(2)
        stop.set()
        producer.join(timeout=60)
        for keys, name in trails:
            wait_delivered(server, keys, name, timeout=120)
        for keys, name in trails:
            table = "actiontrail_" + name.replace("-", "_")
            rows = sql_rows(
                server,
                keys,
                f"SELECT event_id, COUNT(*) FROM {table} WHERE event_name = 'Failover' "
                "GROUP BY event_id",
            )
            counts = dict(rows)
            mine = accepted[keys.account_id]
            assert len(mine) > 500
            assert set(counts) == set(mine), f"{name}: an accepted event is missing or foreign"
            assert all(n == 1 for n in counts.values()), f"{name}: an event was delivered twice"
    finally:
        stop.set()
        for worker in workers:
            if worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
        codes = [w.wait(timeout=60) for w in workers[1:]]
        server.stop()
    assert len(victims_trails) == 2
    assert failover <= LEASE_SECONDS + 2, f"takeover took {failover:.1f} s"
    assert codes == [0, 0]
