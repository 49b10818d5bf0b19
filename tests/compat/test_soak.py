"""The soak: a mixed workload on a real server killed with SIGKILL every few tens of seconds,
ending with the crash-point checks (nothing acknowledged lost or doubled, verify passes).

`make soak` runs it for 10 minutes (TRAILHOUSE_SOAK_SECONDS=600); the suite runs a short one.
Ingest with several producers, lookups, SQL jobs, delivery to two trails, compaction and digests
all run at once; the kills come at random moments, so they land on whatever step is under way.
"""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from pathlib import Path

import pytest
from compat_support import Server, put_events, rpc_client, run_sql_job, sdk
from crash_support import (
    BASE_ENV,
    RECENT_SECONDS,
    Store,
    batch_of,
    check_after_crash,
    prepare,
)

from server_process import free_port
from trailhouse.warehouse.model import project_name

SOAK_SECONDS = float(os.environ.get("TRAILHOUSE_SOAK_SECONDS", "30"))
KILL_EVERY = (10.0, 40.0)  # seconds between kills, drawn at random


def _workload(
    server: Server, store: Store, stop: threading.Event, seed: int, problems: list[str]
) -> None:
    """Run producers, readers and SQL until `stop` or the server dies; add to `problems` what
    is not the kill itself (an answer that is neither a success nor a lost connection)."""

    def produce(offset: int) -> None:
        client = sdk(server, store.keys)
        n = 0
        while not stop.is_set():
            batch = batch_of(store.keys.account_id, 100, RECENT_SECONDS, seed * 1000 + offset + n)
            n += 2
            try:
                answer = put_events(client, batch)
            except Exception:
                with store.ledger.lock:
                    store.ledger.unknown.append(batch)
                return
            if answer.get("Accepted") != len(batch):
                problems.append(f"PutEvents answered {answer}")
            store.ledger.add(batch)
            time.sleep(0.2)  # a steady load: the final check reads every event back

    def look() -> None:
        while not stop.is_set():
            try:
                with rpc_client(server, store.keys) as rpc:
                    rpc.call("LookupEvents", {"MaxResults": "50"})
            except Exception:
                return
            time.sleep(0.05)

    def query() -> None:
        project = project_name(store.keys.account_id)
        while not stop.is_set():
            try:
                run_sql_job(
                    server,
                    store.keys,
                    project,
                    "SELECT event_name, COUNT(*) FROM actiontrail_crash_a GROUP BY event_name",
                    timeout=30,
                )
            except Exception:
                return
            time.sleep(0.5)

    threads = [threading.Thread(target=produce, args=(k,)) for k in (0, 1)]
    threads += [threading.Thread(target=look), threading.Thread(target=query)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


@pytest.mark.slow
@pytest.mark.timeout(SOAK_SECONDS + 600)  # the soak, then the checks
def test_soak_with_kills_loses_and_doubles_nothing(tmp_path: Path) -> None:
    store = prepare(tmp_path / "data")
    rng = random.Random(2026)
    env = {**os.environ, **BASE_ENV}
    deadline = time.monotonic() + SOAK_SECONDS
    kills = 0
    problems: list[str] = []
    startups: list[float] = []
    while time.monotonic() < deadline:
        server = Server(store.data_dir, free_port())
        started = time.monotonic()
        server.start(env=env)
        startups.append(time.monotonic() - started)
        client = sdk(server, store.keys)
        for batch in store.ledger.unknown:  # what the clients retry after the outage
            put_events(client, batch)
            store.ledger.add(batch)
        store.ledger.unknown.clear()
        stop = threading.Event()
        worker = threading.Thread(
            target=_workload, args=(server, store, stop, kills, problems), daemon=True
        )
        worker.start()
        time.sleep(min(rng.uniform(*KILL_EVERY), max(deadline - time.monotonic(), 1.0)))
        assert server.process is not None
        server.process.send_signal(signal.SIGKILL)
        server.process.wait()
        kills += 1
        stop.set()
        worker.join(timeout=60)
    acknowledged = len(store.ledger.acknowledged)
    check_after_crash(store, tmp_path, {})
    print(
        f"\nsoak: {SOAK_SECONDS:.0f} s, {kills} kills, {acknowledged} events acknowledged, "
        f"0 lost, 0 duplicated; restart to /health {min(startups):.1f}-{max(startups):.1f} s"
    )
    assert not problems, problems[:5]
    assert kills >= 1
