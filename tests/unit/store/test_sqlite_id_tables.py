"""The day files' id tables: recent ids merged into the rest, found in either, purged with
their events, and brought in place from format 4's index `events_id`."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from test_sqlite_index import ACCOUNT, BASE_TIME, everything, logged, open_log, record

from older_releases import day_files_as_format_4
from trailhouse.events.model import LookupKey
from trailhouse.store.sqlite import days as days_module
from trailhouse.store.sqlite.days import INDEX_FORMAT, DayFiles, day_of
from trailhouse.store.sqlite.event_log import SqliteEventLog

__all__ = ["open_log"]  # a fixture, used by name

DAY = day_of(BASE_TIME)


@pytest.fixture
def days(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[DayFiles]:
    """Day files whose recent ids are merged once there are 100 of them."""
    monkeypatch.setattr(days_module, "_RECENT_IDS_MIN", 100)
    files = DayFiles(tmp_path / "days")
    yield files
    files.close()


def id_rows(days: DayFiles) -> tuple[int, int]:
    """How many rows `event_ids` and `event_ids_recent` hold."""
    with days.reading(DAY) as conn:
        assert conn is not None
        (merged,) = conn.execute("SELECT count(*) FROM event_ids").fetchone()
        (recent,) = conn.execute("SELECT count(*) FROM event_ids_recent").fetchone()
    return merged, recent


def test_ids_are_found_in_the_recent_table_and_after_it_is_merged(days: DayFiles) -> None:
    wanted: list[str] = []
    for first in range(1, 400, 40):
        batch = [logged(seq, f"EV-{seq}") for seq in range(first, first + 40)]
        assert days.index(DAY, batch) == 40
        wanted.extend(r.event_id for r in batch)
        merged, recent = id_rows(days)
        assert merged + recent == len(wanted)
        assert recent < 100  # merged as soon as it reaches 100
        assert days.known(DAY, ACCOUNT, [*wanted, "EV-none"]) == set(wanted)
        assert days.recorders(DAY, ACCOUNT, wanted[-3:]) == dict.fromkeys(wanted[-3:], "")
    assert id_rows(days) == (360, 40)
    # Indexed again (a restart re-reads what it had not saved as done): no id twice.
    assert days.index(DAY, [logged(seq, f"EV-{seq}") for seq in range(1, 101)]) == 0
    assert days.known(DAY, ACCOUNT, ["EV-5", "EV-399"]) == {"EV-5", "EV-399"}
    assert days.known(DAY, "another account", ["EV-5"]) == set()


def test_a_merge_is_part_of_its_batch_and_undone_with_it(
    days: DayFiles, monkeypatch: pytest.MonkeyPatch
) -> None:
    days.index(DAY, [logged(seq, f"EV-{seq}") for seq in range(1, 91)])
    assert id_rows(days) == (0, 90)
    merge = days_module._merge_recent_ids

    def merge_then_fail(conn: sqlite3.Connection) -> int:
        merge(conn)
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(days_module, "_merge_recent_ids", merge_then_fail)
    with pytest.raises(sqlite3.OperationalError):
        days.index(DAY, [logged(seq, f"EV-{seq}") for seq in range(91, 111)])
    assert id_rows(days) == (0, 90)  # neither the batch nor the merge
    monkeypatch.setattr(days_module, "_merge_recent_ids", merge)
    days.index(DAY, [logged(seq, f"EV-{seq}") for seq in range(91, 96)])
    assert id_rows(days) == (0, 95)  # the failed batch was not counted
    days.index(DAY, [logged(seq, f"EV-{seq}") for seq in range(96, 111)])
    assert id_rows(days) == (110, 0)
    assert days.known(DAY, ACCOUNT, ["EV-1", "EV-110"]) == {"EV-1", "EV-110"}


def test_purged_and_forgotten_events_take_their_ids_along(days: DayFiles) -> None:
    days.index(DAY, [logged(seq, f"EV-{seq}") for seq in range(1, 101)])  # merged
    days.index(DAY, [logged(seq, f"EV-{seq}") for seq in range(101, 151)])  # recent
    assert id_rows(days) == (100, 50)
    assert days.delete_before(DAY, BASE_TIME + 31) == 30  # seqs 1-30 are older
    assert id_rows(days) == (70, 50)
    assert days.forget_beyond(120) == 30
    assert id_rows(days) == (70, 20)
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
    files = day_files_as_format_4(tmp_path / "events")
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
