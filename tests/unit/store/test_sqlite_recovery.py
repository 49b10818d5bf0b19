"""Opening the embedded log trusts no file it has not checked: what a crash or a damaged disk
leaves in the index, the state or the segments is rebuilt from the log, and start-up succeeds."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from test_sqlite_index import BASE_TIME, DAY, everything, record

from trailhouse.events.model import LookupKey
from trailhouse.store.sqlite.event_log import SqliteEventLog
from trailhouse.store.sqlite.state import LogState

EVENTS = 60  # one every 15 minutes: 15 hours of one day


@pytest.fixture
def stored(tmp_path: Path) -> Iterator[Callable[[], SqliteEventLog]]:
    """A log holding EVENTS indexed events, closed; the callable opens it again."""
    directory = tmp_path / "events"
    first = SqliteEventLog(directory, gather_seconds=0.0, train_after=0)
    first.append([record(n) for n in range(EVENTS)])
    assert first.catch_up()
    first.close()
    opened: list[SqliteEventLog] = []

    def reopen() -> SqliteEventLog:
        log = SqliteEventLog(directory, gather_seconds=0.0, train_after=0)
        opened.append(log)
        assert log.catch_up(timeout=30)
        return log

    yield reopen
    for log in opened:
        log.close()


def expected() -> list[str]:
    return [f"EV-{n:06d}" for n in reversed(range(EVENTS))]


def test_a_day_file_created_without_its_tables_is_rebuilt(
    stored: Callable[[], SqliteEventLog], tmp_path: Path
) -> None:
    # What a kill between creating a day file and creating its tables left (issue 15): a day
    # file of another day with no tables made start-up fail with "no such table: events".
    days = tmp_path / "events" / "days"
    sqlite3.connect(days / "20250310.sqlite").close()
    (days / "20250311.sqlite").write_bytes(b"")
    log = stored()
    assert everything(log) == expected()
    assert everything(log, (LookupKey.EVENT_NAME, "DescribeEcsThings")) == [
        f"EV-{n:06d}" for n in reversed(range(0, EVENTS, 3))
    ]
    assert sorted(p.name for p in days.glob("*.sqlite")) == ["20250301.sqlite"]


@pytest.mark.parametrize(
    "damage", ["DROP TABLE event_ids", "DROP TABLE event_ids_recent", "DROP INDEX events_time"]
)
def test_a_day_file_missing_a_table_or_an_index_is_rebuilt(
    stored: Callable[[], SqliteEventLog], tmp_path: Path, damage: str
) -> None:
    day_file = tmp_path / "events" / "days" / "20250301.sqlite"
    with sqlite3.connect(day_file) as conn:
        conn.execute(damage)
    log = stored()
    assert everything(log) == expected()
    assert log.append([record(5)]) == [False]  # the duplicate check uses the id tables


def test_a_day_file_that_is_not_a_database_is_rebuilt(
    stored: Callable[[], SqliteEventLog], tmp_path: Path
) -> None:
    day_file = tmp_path / "events" / "days" / "20250301.sqlite"
    day_file.write_bytes(b"garbage" * 1000)
    log = stored()
    assert everything(log) == expected()


def test_a_day_file_left_half_made_under_its_temporary_name_is_deleted(
    stored: Callable[[], SqliteEventLog], tmp_path: Path
) -> None:
    days = tmp_path / "events" / "days"
    (days / "20250302.sqlite.new").write_bytes(b"half")
    (days / "20250302.sqlite.new-wal").write_bytes(b"half")
    log = stored()
    assert everything(log) == expected()
    assert not list(days.glob("*.new*"))


def test_an_unreadable_state_file_is_kept_aside_and_the_index_rebuilt(
    stored: Callable[[], SqliteEventLog], tmp_path: Path
) -> None:
    state = tmp_path / "events" / "state.json"
    state.write_text('{"indexed_seq": "many"}')
    log = stored()
    assert everything(log) == expected()
    assert (tmp_path / "events" / "state.json.damaged").read_text() == '{"indexed_seq": "many"}'
    assert log.stats().events == EVENTS


def test_a_side_file_that_does_not_match_its_segment_is_ignored(tmp_path: Path) -> None:
    directory = tmp_path / "events"
    log = SqliteEventLog(directory, gather_seconds=0.0, train_after=0, segment_bytes=2_000)
    for n in range(EVENTS):
        log.append([record(n)])
    log.close()
    sides = sorted((directory / "log").glob("*.idx"))
    assert len(sides) >= 2
    # Same size, wrong marks: the mark's frame names another seq.
    side = sides[0].read_text().replace('"marks": [[', '"marks": [[7')
    sides[0].write_text(side)
    reopened = SqliteEventLog(directory, gather_seconds=0.0, train_after=0, segment_bytes=2_000)
    try:
        assert [e.event_id for e in reopened.read_after(0, 1000)] == [
            f"EV-{n:06d}" for n in range(EVENTS)
        ]
    finally:
        reopened.close()


def test_a_purge_interrupted_after_its_rule_is_finished_on_open(tmp_path: Path) -> None:
    directory = tmp_path / "events"
    log = SqliteEventLog(directory, gather_seconds=0.0, train_after=0, segment_bytes=2_000)
    for n in range(0, 120, 4):  # five days, hourly
        log.append([record(m, BASE_TIME + m * 3600) for m in range(n, n + 4)])
    assert log.catch_up()
    segments_before = len(list((directory / "log").glob("*.log")))
    log.close()
    # The rule saved, then the kill: no file deleted yet.
    state = LogState(directory / "state.json", 2)
    state.add_purge(BASE_TIME + 2 * DAY, 120)
    reopened = SqliteEventLog(directory, gather_seconds=0.0, train_after=0, segment_bytes=2_000)
    try:
        assert sorted(p.name for p in (directory / "days").glob("*.sqlite")) == [
            "20250303.sqlite",
            "20250304.sqlite",
            "20250305.sqlite",
        ]
        assert len(list((directory / "log").glob("*.log"))) < segments_before
        assert {e.event_time for e in reopened.read_after(0, 1000)} == {
            BASE_TIME + m * 3600 for m in range(48, 120)
        }
    finally:
        reopened.close()
