"""ENOSPC and EIO injected at each write point of the embedded event log (`trailhouse.faults`):
the write that meets it is refused with DiskFull or DiskFailed, nothing acknowledged is lost,
and once the disk is back the retries are stored exactly once and everything is searchable."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from test_sqlite_index import BASE_TIME, everything, record

from trailhouse import faults
from trailhouse.errors import DiskError, DiskFailed, DiskFull
from trailhouse.store.sqlite.event_log import SqliteEventLog

# The write points an append, the indexer and the dictionary trainer reach in this process, and
# the hit to fail (the first segment is made when the log opens). Progress is saved each second
# and on close, so the last two may fail only when the log closes.
POINTS = {
    "log.segment.created": 2,
    "log.segment.sealed": 1,
    "log.append.written": 1,
    "dictionary.staged": 1,
    "index.day_file.staged": 1,
    "index.day_file.created": 1,
    "index.transaction.committed": 1,
    "index.synced": 1,
    "state.staged": 1,
}
EVENTS = 300
BATCH = 10


@pytest.fixture(autouse=True)
def _disarmed() -> Iterator[None]:
    yield
    faults.disarm()


@pytest.mark.parametrize("action", ["enospc", "eio"])
@pytest.mark.parametrize("point", POINTS)
def test_a_disk_error_at_the_point_loses_nothing_acknowledged(
    point: str, action: str, tmp_path: Path
) -> None:
    faults.arm(point, action, hit=POINTS[point])
    directory = tmp_path / "events"
    log = SqliteEventLog(directory, gather_seconds=0.0, train_after=100, segment_bytes=4_000)
    records = [record(n, BASE_TIME + n * 600) for n in range(EVENTS)]  # about two days
    acknowledged: set[str] = set()
    refused: list[DiskError] = []
    try:
        for at in range(0, EVENTS, BATCH):
            batch = records[at : at + BATCH]
            while True:  # a client retries a refused batch
                try:
                    log.append(batch)
                except DiskError as error:
                    refused.append(error)
                    continue
                acknowledged.update(r.event_id for r in batch)
                break
        assert log.catch_up(timeout=30)
        expected = DiskFull if action == "enospc" else DiskFailed
        assert all(isinstance(error, expected) for error in refused)
        stored = [event.event_id for event in log.read_after(0, 10 * EVENTS)]
        assert sorted(stored) == sorted(acknowledged) == sorted(r.event_id for r in records)
        assert sorted(everything(log)) == sorted(acknowledged)
    finally:
        log.close()
    assert faults.fired(), f"{point} was never reached"
    # And after a restart, as the next process sees it.
    reopened = SqliteEventLog(directory, gather_seconds=0.0, train_after=0, segment_bytes=4_000)
    try:
        assert reopened.catch_up(timeout=30)
        assert sorted(everything(reopened)) == sorted(acknowledged)
        assert len(reopened.read_after(0, 10 * EVENTS)) == EVENTS
    finally:
        reopened.close()
