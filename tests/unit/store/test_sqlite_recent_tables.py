"""The day files' recent tables: rows of keys at random places (id hashes, resources) kept
apart until merged in one pass, found in either table, purged with their events, and brought in
place from format 4."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import msgspec
import pytest
from test_sqlite_index import ACCOUNT, BASE_TIME, everything, logged, open_log, record

from older_releases import day_files_as_format
from trailhouse.events.model import Direction, LookupKey, LookupQuery
from trailhouse.store.sqlite import days as days_module
from trailhouse.store.sqlite.days import INDEX_FORMAT, DayFiles, day_of
from trailhouse.store.sqlite.event_log import SqliteEventLog
from trailhouse.store.sqlite.lookup import lookup_rows, position_of
from trailhouse.store.sqlite.records import LogRecord

__all__ = ["open_log"]  # a fixture, used by name

DAY = day_of(BASE_TIME)
TABLES = ("event_ids", "event_ids_recent", "resources", "resources_recent")


@pytest.fixture
def days(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[DayFiles]:
    """Day files whose recent rows are merged once they are 100 events'."""
    monkeypatch.setattr(days_module, "_RECENT_MIN", 100)
    files = DayFiles(tmp_path / "days")
    yield files
    files.close()


def events(first: int, last: int) -> list[LogRecord]:
    """Seqs `first` to `last`, each with one resource name of its own and one they share."""
    return [
        msgspec.structs.replace(logged(seq, f"EV-{seq}"), resource_names=(f"res-{seq}", "shared"))
        for seq in range(first, last + 1)
    ]


def rows(days: DayFiles) -> dict[str, int]:
    """How many rows each id and resource table holds."""
    with days.reading(DAY) as conn:
        assert conn is not None
        return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}


def found(days: DayFiles, *conditions: tuple[LookupKey, str]) -> list[int]:
    """The seqs of every matching event, newest first, following pages of 7."""
    seqs: list[int] = []
    query = LookupQuery(ACCOUNT, BASE_TIME, BASE_TIME + 86399, Direction.BACKWARD, conditions, 7)
    while True:
        page, more = lookup_rows(days, query)
        seqs.extend(row[0] for row in page)
        if not more:
            return seqs
        query = dataclasses.replace(query, after=position_of(page[-1]))


def test_rows_are_found_in_the_recent_tables_and_after_they_are_merged(days: DayFiles) -> None:
    for first in range(1, 400, 40):
        days.index(DAY, events(first, first + 39))
        indexed = first + 39
        counts = rows(days)
        assert counts["event_ids"] + counts["event_ids_recent"] == indexed
        assert counts["resources"] + counts["resources_recent"] == 3 * indexed
        assert counts["event_ids_recent"] < 100  # merged as soon as it reaches 100
        newest = list(range(indexed, 0, -1))
        assert found(days, (LookupKey.RESOURCE_NAME, "shared")) == newest
        assert found(days, (LookupKey.RESOURCE_NAME, f"res-{indexed - 50}")) == (
            [indexed - 50] if indexed > 50 else []
        )
        assert found(days, (LookupKey.USER, "alice"), (LookupKey.RESOURCE_TYPE, "ACS::X::A")) == [
            seq for seq in newest if seq % 2 == 0
        ]
        assert found(days, (LookupKey.EVENT_ID, f"EV-{indexed - 45}")) == (
            [indexed - 45] if indexed > 45 else []
        )
        wanted = [f"EV-{seq}" for seq in range(1, indexed + 1)]
        assert days.known(DAY, ACCOUNT, [*wanted, "EV-none"]) == set(wanted)
        assert days.recorders(DAY, ACCOUNT, wanted[-3:]) == dict.fromkeys(wanted[-3:], "")
    assert rows(days) == {
        "event_ids": 360,
        "event_ids_recent": 40,
        "resources": 3 * 360,
        "resources_recent": 3 * 40,
    }
    # Indexed again (a restart re-reads what it had not saved as done): nothing twice.
    assert days.index(DAY, events(1, 120)) == 0
    assert rows(days)["resources_recent"] == 3 * 40
    assert found(days, (LookupKey.RESOURCE_NAME, "shared")) == list(range(400, 0, -1))
    assert days.known(DAY, "another account", ["EV-5"]) == set()


def test_a_merge_is_part_of_its_batch_and_undone_with_it(
    days: DayFiles, monkeypatch: pytest.MonkeyPatch
) -> None:
    days.index(DAY, events(1, 90))
    assert rows(days)["event_ids_recent"] == 90
    merge = days_module._merge_recent

    def merge_then_fail(conn: sqlite3.Connection) -> int:
        merge(conn)
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(days_module, "_merge_recent", merge_then_fail)
    with pytest.raises(sqlite3.OperationalError):
        days.index(DAY, events(91, 110))
    assert rows(days) == {  # neither the batch nor the merge
        "event_ids": 0,
        "event_ids_recent": 90,
        "resources": 0,
        "resources_recent": 270,
    }
    monkeypatch.setattr(days_module, "_merge_recent", merge)
    days.index(DAY, events(91, 95))
    assert rows(days)["event_ids_recent"] == 95  # the failed batch was not counted
    days.index(DAY, events(96, 110))
    assert rows(days) == {
        "event_ids": 110,
        "event_ids_recent": 0,
        "resources": 330,
        "resources_recent": 0,
    }
    assert days.known(DAY, ACCOUNT, ["EV-1", "EV-110"]) == {"EV-1", "EV-110"}


def test_purged_and_forgotten_events_take_their_rows_along(days: DayFiles) -> None:
    days.index(DAY, events(1, 100))  # merged
    days.index(DAY, events(101, 150))  # recent
    assert days.delete_before(DAY, BASE_TIME + 31) == 30  # seqs 1-30 are older
    assert rows(days) == {
        "event_ids": 70,
        "event_ids_recent": 50,
        "resources": 210,
        "resources_recent": 150,
    }
    assert days.forget_beyond(120) == 30
    assert rows(days) == {
        "event_ids": 70,
        "event_ids_recent": 20,
        "resources": 210,
        "resources_recent": 60,
    }
    assert found(days, (LookupKey.RESOURCE_NAME, "shared")) == list(range(120, 30, -1))
    assert days.known(DAY, ACCOUNT, ["EV-1", "EV-31", "EV-120", "EV-121"]) == {"EV-31", "EV-120"}
    # A seq given again to another event (the log was cut back) finds that event, not the old.
    days.index(DAY, [logged(121, "EV-other")])
    assert days.known(DAY, ACCOUNT, ["EV-121", "EV-other"]) == {"EV-other"}


def test_a_format_4_index_moves_its_ids_into_the_id_tables_in_place(
    tmp_path: Path, open_log: Callable[..., SqliteEventLog]
) -> None:
    records = [record(n) for n in range(300)]  # about three days
    log = open_log()
    log.append(records)
    assert log.catch_up()
    log.close()
    files = day_files_as_format(tmp_path / "events", 4)
    assert len(files) >= 3
    inodes = {path: path.stat().st_ino for path in files}

    reopened = open_log()
    assert {path: path.stat().st_ino for path in files} == inodes  # the same files, not rebuilt
    state = json.loads((tmp_path / "events" / "state.json").read_text())
    assert state["index_format"] == INDEX_FORMAT
    for path in files:
        with contextlib.closing(sqlite3.connect(path)) as day:
            names = {name for (name,) in day.execute("SELECT name FROM sqlite_master")}
            (events,) = day.execute("SELECT count(*) FROM events").fetchone()
            (ids,) = day.execute("SELECT count(*) FROM event_ids").fetchone()
        assert "events_id" not in names
        assert ids == events > 0
    for r in records[::37]:
        assert everything(reopened, (LookupKey.EVENT_ID, r.event_id)) == [r.event_id]
    assert reopened.append(records[:5]) == [False] * 5  # retries of stored events
