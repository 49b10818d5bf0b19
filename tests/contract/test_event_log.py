"""The EventLog contract: appending, sequencing, durability, purge and stats, on every adapter."""

from __future__ import annotations

import itertools
import threading
import time

from records import ACCOUNT, BASE_TIME, OTHER_ACCOUNT, history, make_record

from trailhouse.events.model import Direction, LookupQuery
from trailhouse.settings import Settings
from trailhouse.store import StoreKind, Stores, open_stores, store_kind


def test_append_tells_new_from_duplicate(stores: Stores) -> None:
    first, second, third = history(3)
    assert stores.events.append([first, second]) == [True, True]
    assert stores.events.append([second, third, first]) == [False, True, False]
    assert len(stores.events.read_after(0, 100)) == 3


def test_duplicate_inside_one_batch_keeps_the_first_copy(stores: Stores) -> None:
    original = make_record(event_id="DUP-1")
    retry = make_record(event_id="DUP-1", event_time=original.event_time)
    other = make_record(event_id="DUP-2")
    assert stores.events.append([original, other, retry]) == [True, True, False]
    stored = stores.events.read_after(0, 100)
    assert [event.event_id for event in stored].count("DUP-1") == 1
    assert next(e.body for e in stored if e.event_id == "DUP-1") == original.body


def test_same_event_id_in_another_account_is_not_a_duplicate(stores: Stores) -> None:
    mine = make_record(event_id="SHARED-ID")
    theirs = make_record(event_id="SHARED-ID", account_id=OTHER_ACCOUNT)
    assert stores.events.append([mine, theirs]) == [True, True]


def test_empty_append_stores_nothing(stores: Stores) -> None:
    assert stores.events.append([]) == []
    assert stores.events.last_seq() == 0


def test_seqs_strictly_increase_batch_after_batch(stores: Stores) -> None:
    batches = [history(7, seed=seed) for seed in range(4)]
    seqs_by_batch = []
    for batch in batches:
        stores.events.append(batch)
        ids = {record.event_id for record in batch}
        logged = [e for e in stores.events.read_after(0, 1000) if e.event_id in ids]
        seqs_by_batch.append(sorted(e.seq for e in logged))
    for earlier, later in itertools.pairwise(seqs_by_batch):
        assert max(earlier) < min(later)
    seqs = [e.seq for e in stores.events.read_after(0, 1000)]
    assert seqs == sorted(set(seqs))
    assert len(seqs) == 28


def test_logged_events_carry_the_record(stores: Stores) -> None:
    record = make_record()
    before_ms = int(time.time() * 1000)
    stores.events.append([record])
    (logged,) = stores.events.read_after(0, 10)
    assert logged.seq >= 1
    assert (logged.account_id, logged.event_id, logged.event_time) == (
        record.account_id,
        record.event_id,
        record.event_time,
    )
    assert logged.body == record.body
    assert before_ms - 1000 <= logged.accepted_ms <= int(time.time() * 1000) + 1000


def test_read_after_pages_through_everything_once(stores: Stores) -> None:
    records = history(25)
    stores.events.append(records[:10])
    stores.events.append(records[10:])
    seen: list[int] = []
    position = 0
    while page := stores.events.read_after(position, 7):
        assert len(page) <= 7
        assert all(event.seq > position for event in page)
        seen.extend(event.seq for event in page)
        position = page[-1].seq
    assert seen == sorted(set(seen))
    assert len(seen) == 25
    assert stores.events.read_after(stores.events.last_seq(), 10) == []


def test_last_seq_is_the_highest_committed(stores: Stores) -> None:
    assert stores.events.last_seq() == 0
    records = history(5)
    stores.events.append(records)
    highest = max(e.seq for e in stores.events.read_after(0, 100))
    assert stores.events.last_seq() == highest
    stores.events.append(records[:2])
    assert stores.events.last_seq() == highest


def test_pending_counts_events_after_a_seq_up_to_a_bound(stores: Stores) -> None:
    stores.events.append(history(5))
    seqs = [e.seq for e in stores.events.read_after(0, 100)]
    assert stores.events.pending_after(seqs[0]) == 4
    assert stores.events.pending_after(seqs[0], up_to=seqs[2]) == 2
    assert stores.events.pending_after(seqs[0], cap=1, up_to=seqs[3]) == 1
    assert stores.events.pending_after(seqs[2], up_to=seqs[2]) == 0
    assert stores.events.pending_after(seqs[0], up_to=seqs[-1] + 1000) == 4


def test_events_survive_close_and_reopen(stores: Stores, store_settings: Settings) -> None:
    records = history(12)
    stores.events.append(records)
    before = stores.events.read_after(0, 100)
    stores.close()
    reopened = open_stores(store_settings)
    try:
        assert reopened.events.read_after(0, 100) == before
        assert reopened.events.last_seq() == before[-1].seq
        assert reopened.events.append([records[0], make_record(event_id="AFTER-REOPEN")]) == [
            False,
            True,
        ]
        (newest,) = reopened.events.read_after(before[-1].seq, 10)
        assert newest.event_id == "AFTER-REOPEN"
    finally:
        reopened.close()


def test_purge_removes_only_old_events(stores: Stores) -> None:
    records = history(60)  # 30 timestamps 3700 s apart from 2025-03-01T00:00Z, over two days
    stores.events.append(records)
    cutoff = BASE_TIME + 25 * 3700 + 1  # on the second day: one whole day goes, one is cut
    old = {r.event_id for r in records if r.event_time < cutoff}
    assert stores.events.purge(cutoff) == len(old) == 52
    left = stores.events.read_after(0, 100)
    assert {e.event_id for e in left} == {r.event_id for r in records} - old
    assert all(e.event_time >= cutoff for e in left)
    assert stores.events.purge(cutoff) == 0
    assert stores.events.catch_up()
    assert stores.events.stats().events == 8
    page = stores.events.lookup(
        LookupQuery(ACCOUNT, BASE_TIME, BASE_TIME + 3 * 86400, Direction.FORWARD, (), 50)
    )
    assert [e.event_id for e in page.events] == [e.event_id for e in left]


def test_purge_across_whole_days(stores: Stores) -> None:
    day = 86400
    records = [make_record(event_time=BASE_TIME + offset * day) for offset in range(4)]
    stores.events.append(records)
    assert stores.events.purge(BASE_TIME + 2 * day) == 2
    assert [e.event_time for e in stores.events.read_after(0, 10)] == [
        BASE_TIME + 2 * day,
        BASE_TIME + 3 * day,
    ]
    # A day whose events were purged may receive events again.
    assert stores.events.append([make_record(event_time=BASE_TIME)]) == [True]


def test_stats_count_what_the_log_holds(stores: Stores) -> None:
    empty = stores.events.stats()
    assert (empty.events, empty.last_seq) == (0, 0)
    stores.events.append(history(30))
    stores.events.append(history(5))  # same seed: all duplicates
    assert stores.events.catch_up()
    stats = stores.events.stats()
    assert stats.events == 30
    assert stats.last_seq == stores.events.last_seq()
    assert stats.indexed_seq == stats.last_seq
    assert stats.bytes_on_disk > 0


def test_concurrent_writers_never_reorder_what_a_reader_sees(
    stores: Stores, store_settings: Settings
) -> None:
    writers, batches, batch_size = 4, 25, 8
    # PostgreSQL writers are separate processes in production: give each its own stores.
    postgres = store_kind(store_settings) is StoreKind.POSTGRES
    logs = [open_stores(store_settings) if postgres else stores for _ in range(writers)]
    expected: set[str] = set()
    for writer in range(writers):
        for batch in range(batches):
            for index in range(batch_size):
                expected.add(f"W{writer}-B{batch:03d}-E{index}")
    done = threading.Event()
    failures: list[BaseException] = []

    def write(writer: int) -> None:
        try:
            for batch in range(batches):
                records = [
                    make_record(
                        event_id=f"W{writer}-B{batch:03d}-E{index}",
                        event_time=BASE_TIME + batch * 600 + index,
                    )
                    for index in range(batch_size)
                ]
                assert all(logs[writer].events.append(records))
        except BaseException as exc:  # reported by the main thread
            failures.append(exc)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    seen: list[str] = []
    position = 0
    try:
        for thread in threads:
            thread.start()
        while True:
            finished = done.is_set()
            page = stores.events.read_after(position, 50)
            for event in page:
                assert event.seq > position, "a reader saw seqs out of order"
                position = event.seq
                seen.append(event.event_id)
            if finished and not page:
                break
            if all(not t.is_alive() for t in threads):
                done.set()
    finally:
        for thread in threads:
            thread.join()
        if postgres:
            for opened in logs:
                opened.close()
    assert not failures, failures
    assert len(seen) == len(set(seen)), "a reader saw an event twice"
    assert set(seen) == expected, f"a reader missed {len(expected - set(seen))} events"


def test_other_accounts_events_stay_apart_in_the_log(stores: Stores) -> None:
    stores.events.append(history(4) + history(4, account_id=OTHER_ACCOUNT))
    logged = stores.events.read_after(0, 100)
    assert sorted(e.account_id for e in logged) == [ACCOUNT] * 4 + [OTHER_ACCOUNT] * 4
