"""kill -9 the writer at random moments: every event still lands in the table exactly once."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import orjson
import pytest
from builders import logged_events, open_test_warehouse

HERE = Path(__file__).parent


@pytest.mark.slow
def test_killed_writer_resumes_without_loss_or_duplicates(tmp_path: Path) -> None:
    events = logged_events(20000, days=3)
    events_file = tmp_path / "events.jsonl"
    events_file.write_bytes(
        b"\n".join(
            orjson.dumps(
                {
                    "seq": e.seq,
                    "account_id": e.account_id,
                    "event_id": e.event_id,
                    "event_time": e.event_time,
                    "accepted_ms": e.accepted_ms,
                    "body": e.body.decode(),
                }
            )
            for e in events
        )
    )
    data_dir = tmp_path / "data"
    command = [
        sys.executable,
        str(HERE / "crash_writer.py"),
        str(data_dir),
        str(events_file),
        "100",
    ]
    rng = random.Random(4)
    kills = 0
    for _ in range(10):
        child = subprocess.Popen(command, cwd=HERE, stdout=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.35, 0.9))
        if child.poll() is not None:
            break
        child.send_signal(signal.SIGKILL)
        child.wait()
        kills += 1
    finished = subprocess.run(command, cwd=HERE, capture_output=True, check=True, timeout=120)
    assert finished.stdout.strip() == b"done"
    assert kills >= 3, "the writer finished before it could be killed often enough"

    tw = open_test_warehouse(data_dir)
    try:
        files = [
            str(tw.settings.warehouse_path / f.path) for f in tw.warehouse.catalog.files(tw.table)
        ]
        with duckdb.connect() as con:
            ids = [
                r[0]
                for r in con.execute("SELECT event_id FROM read_parquet(?)", [files]).fetchall()
            ]
        assert len(ids) == len(set(ids)) == len(events)
        assert set(ids) == {e.event_id for e in events}
        assert sum(p.rows for p in tw.warehouse.catalog.list_partitions(tw.table)) == len(events)
    finally:
        tw.close()
