"""The day files' id filters (`store/sqlite/id_filter.py`): a filter never rules out an id it
holds, and with one built the writer's duplicate check still refuses every retry, of events
indexed before the filter was built and after, while SQLite is asked about almost none of the
new ids (in the server's index process and in-process alike)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from pathlib import Path

import pytest
from test_sqlite_index import BASE_TIME, record

from trailhouse.store.sqlite.days import day_of, id_hash
from trailhouse.store.sqlite.event_log import SqliteEventLog
from trailhouse.store.sqlite.id_filter import FILTER_BYTES, DayIdFilters, IdFilter

DAY = day_of(BASE_TIME)


def test_a_filter_holds_every_id_added_and_rules_out_nearly_all_others() -> None:
    held = [id_hash(str(uuid.uuid4())) for _ in range(200_000)]
    built = IdFilter.of(held)
    assert all(built.may_hold(h) for h in held)
    others = [id_hash(str(uuid.uuid4())) for _ in range(100_000)]
    # Expected at 200,000 ids: ~0.004% (two bits of 2^26) plus shared CRC-32s (~0.005%).
    assert sum(built.may_hold(h) for h in others) < 100
    again = IdFilter(built.to_bytes())
    assert all(again.may_hold(h) for h in held)
    with pytest.raises(ValueError, match=f"{FILTER_BYTES} bytes"):
        IdFilter(b"\0" * 10)


def test_a_day_is_wanted_after_enough_checks_and_the_least_used_goes_first() -> None:
    filters = DayIdFilters(kept_days=2, want_after=3)
    for _ in range(2):
        assert filters.get(1) is None
    assert filters.wanted() == []
    assert filters.get(1) is None
    assert filters.wanted() == [1]
    filters.install(1, IdFilter())
    assert filters.wanted() == [] and filters.get(1) is not None
    filters.install(2, IdFilter())
    assert filters.get(1) is not None  # 2 is now the least used
    filters.install(3, IdFilter())
    assert filters.get(2) is None and filters.get(1) is not None and filters.get(3) is not None
    filters.forget(3)
    assert filters.get(3) is None


def open_log(directory: Path, index_process: bool) -> SqliteEventLog:
    return SqliteEventLog(directory, gather_seconds=0.0, index_process=index_process)


def append(log: SqliteEventLog, numbers: Sequence[int]) -> list[bool]:
    return log.append([record(n, BASE_TIME + n) for n in numbers])


def asked_of_sqlite(log: SqliteEventLog) -> list[str]:
    """Every id the writer's duplicate check asks the day files about from now on."""
    asked: list[str] = []
    known = log._days.known

    def recording(day: int, account: str, event_ids: Sequence[str]) -> set[str]:
        asked.extend(event_ids)
        return known(day, account, event_ids)

    log._days.known = recording  # type: ignore[method-assign]
    return asked


@pytest.mark.parametrize("index_process", [True, False], ids=["index process", "in-process"])
def test_with_a_filter_every_retry_is_refused_and_sqlite_hears_of_few_new_ids(
    tmp_path: Path, index_process: bool
) -> None:
    log = open_log(tmp_path, index_process)
    try:
        for at in range(0, 3000, 100):
            assert append(log, range(at, at + 100)) == [True] * 100
        assert log.catch_up()
        asked = asked_of_sqlite(log)
        # Appends of new events of the day until the indexer has built its filter.
        number = 3000
        deadline = time.monotonic() + 30
        while log._filters.get(DAY) is None:
            assert time.monotonic() < deadline, "no filter was built for a busy day"
            assert append(log, [number]) == [True]
            assert log.catch_up()
            number += 1
        assert asked  # SQLite was asked until then
        asked.clear()
        fresh = range(number, number + 2000)
        for at in range(fresh.start, fresh.stop, 100):
            assert append(log, range(at, at + 100)) == [True] * 100
        assert len(asked) < 10  # the filter's false positives alone
        assert log.catch_up()  # now in the day file and no longer pending
        # Retries of events indexed before the filter was built, and after.
        retries = [*range(0, 3000, 7), *range(fresh.start, fresh.stop, 7)]
        assert append(log, retries) == [False] * len(retries)
        assert set(retries) <= {int(event_id[3:]) for event_id in asked}
    finally:
        log.close()
    reopened = open_log(tmp_path, index_process)  # the filters start again, empty
    try:
        assert append(reopened, [0, 2999, fresh.stop - 1, fresh.stop]) == [
            False,
            False,
            False,
            True,
        ]
    finally:
        reopened.close()
