"""A real crash: a process appending in a loop is killed with SIGKILL, then its log is reopened."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from trailhouse.events.model import Direction, LookupQuery
from trailhouse.store.sqlite.event_log import SqliteEventLog

ACCOUNT = "1234567890123456"
BASE_TIME = 1740787200  # 2025-03-01T00:00:00Z

# Two threads append batches of 10 and print the ids of each batch once append returned:
# those are acknowledged, so they must survive the kill.
_CHILD = textwrap.dedent(
    """
    import sys, threading
    from pathlib import Path
    import orjson
    from trailhouse.events.model import EventRecord
    from trailhouse.store.sqlite.event_log import SqliteEventLog

    log = SqliteEventLog(Path(sys.argv[1]), gather_seconds=0.001, train_after=300)
    lock = threading.Lock()

    def record(event_id, n):
        event_time = {base} + n * 97
        body = {{"eventId": event_id, "eventTime": event_time, "n": n, "pad": "p" * (n % 300)}}
        return EventRecord("{account}", event_id, event_time, "RunInstances", "Ecs", "Write",
                           "bob", None, ("ACS::ECS::Instance",), ("i-" + str(n % 7),),
                           orjson.dumps(body))

    def run(prefix):
        n = 0
        while True:
            batch = [record(f"{{prefix}}{{n + i:07d}}", n + i) for i in range(10)]
            stored = log.append(batch)
            assert all(stored)
            with lock:
                sys.stdout.write(" ".join(r.event_id for r in batch) + "\\n")
                sys.stdout.flush()
            n += 10

    threads = [threading.Thread(target=run, args=(p,)) for p in ("A", "B")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    """
).format(base=BASE_TIME, account=ACCOUNT)


def test_every_acknowledged_event_survives_kill_9_exactly_once(tmp_path: Path) -> None:
    directory = tmp_path / "events"
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(directory)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    acknowledged: list[str] = []
    deadline = time.monotonic() + 60
    try:
        while len(acknowledged) < 3_000 and time.monotonic() < deadline:
            line = child.stdout.readline()
            if not line:
                break
            acknowledged.extend(line.split())
    finally:
        os.kill(child.pid, signal.SIGKILL)
        rest, errors = child.communicate(timeout=30)
    # Lines already written before the kill were acknowledged too; a cut last line was not.
    complete = rest if rest.endswith("\n") else rest[: rest.rfind("\n") + 1]
    acknowledged.extend(complete.split())
    assert child.returncode == -signal.SIGKILL, errors
    assert len(acknowledged) >= 3_000, errors

    log = SqliteEventLog(directory, gather_seconds=0.001)
    try:
        logged = log.read_after(0, 1_000_000)
        ids = [event.event_id for event in logged]
        assert len(ids) == len(set(ids)), "an event was stored twice"
        assert not set(acknowledged) - set(ids), "an acknowledged event was lost"
        assert [event.seq for event in logged] == list(range(1, len(logged) + 1))
        assert log.last_seq() == len(logged)
        assert all(event.body.startswith(b'{"eventId":"') for event in logged)
        # The index behind the log catches up after the restart, with no duplicates either.
        assert log.catch_up(timeout=60)
        found: list[str] = []
        query = LookupQuery(ACCOUNT, BASE_TIME, BASE_TIME + 30 * 86400, Direction.FORWARD, (), 500)
        while True:
            page = log.lookup(query)
            found.extend(event.event_id for event in page.events)
            if page.next_position is None:
                break
            query = LookupQuery(
                ACCOUNT, query.start, query.end, query.direction, (), 500, page.next_position
            )
        assert sorted(found) == sorted(ids)
        assert log.stats().events == len(ids)
        # The restarted log goes on numbering where the survivors end.
        assert log.append([]) == []
    finally:
        log.close()
