"""The unindexed tail answers LookupEvents exactly as the day files do: the same queries, by every
one of the 12 keys and their pairs, in both directions and page by page, against a store whose
indexer has indexed everything and one whose indexer is held, and one half-indexed; and pages
stay whole when the indexer catches up between them."""

from __future__ import annotations

import itertools
import signal
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import orjson
import pytest

from trailhouse.events.lookup import LookupRequest, LookupService
from trailhouse.events.model import Direction, EventRecord, LookupKey, LookupQuery
from trailhouse.store.sqlite.event_log import SqliteEventLog
from trailhouse.store.sqlite.records import LogRecord
from trailhouse.store.sqlite.tail import Tail, memory_of

ACCOUNT = "1234567890123456"
OTHER = "6543210987654321"
BASE_TIME = 1_740_787_200  # 2025-03-01T00:00:00Z
HOUR = 3600
EVENT_TYPES = ("ApiCall", "ConsoleOperation", "ConsoleSignin", "AliyunServiceEvent", "")


def record(n: int, account: str = ACCOUNT) -> EventRecord:
    """Event `n`: every key's values varied, empty ones included; several events share each
    second (ties are ordered by seq), spread over two day files out of seq order."""
    body = orjson.dumps({"eventId": f"T{n:04d}-{account[:2]}", "n": n})
    return EventRecord(
        account_id=account,
        event_id=f"T{n:04d}-{account[:2]}",
        event_time=BASE_TIME + (n * 37 % 72 // 3) * 2 * HOUR,  # not in seq order
        event_name=("DescribeThings", "DeleteThing", "RunInstances")[n % 3],
        service_name=("Ecs", "Ram", "Oss", "")[n % 4],
        event_rw=("Read", "Write")[n % 2],
        user_name=(None, "alice", "bob", "")[n % 4],
        access_key_id=(None, "LTAIkey1", "STS.key2")[n % 3],
        resource_types=(("ACS::ECS::Instance",), (), ("ACS::ECS::Instance", "ACS::RAM::User"))[
            n % 3
        ],
        resource_names=((f"i-{n % 5}",), (), ("i-1", "shared"), ("",))[n % 4],
        body=body,
        recorder="" if n % 5 else '{"by":"test"}',
        event_type=EVENT_TYPES[n % 5],
        source_ip=("203.0.113.9", "42.120.*.*", "")[n % 3],
        sensitive=("false", "true", "false", "")[n % 4],
        role_name=("", "ops-role", "", "audit")[n % 4],
    )


RECORDS = [record(n) for n in range(72)] + [record(n, OTHER) for n in range(0, 72, 7)]

# Every key with values that match and do not, the empty string included.
VALUES: dict[LookupKey, tuple[str, ...]] = {
    LookupKey.EVENT_ID: ("T0007-12", "T0007-65", "nope", ""),
    LookupKey.EVENT_NAME: ("DescribeThings", "RunInstances", "describethings", ""),
    LookupKey.SERVICE_NAME: ("Ecs", "Oss", "", "Nope"),
    LookupKey.USER: ("alice", "bob", "", "carol"),
    LookupKey.EVENT_RW: ("Read", "Write", "All"),
    LookupKey.EVENT_ACCESS_KEY_ID: ("LTAIkey1", "STS.key2", ""),
    LookupKey.RESOURCE_TYPE: ("ACS::ECS::Instance", "ACS::RAM::User", "", "ACS::OSS::Bucket"),
    LookupKey.RESOURCE_NAME: ("i-1", "shared", "", "i-9"),
    LookupKey.EVENT_TYPE: (*EVENT_TYPES, "PasswordReset"),
    LookupKey.SOURCE_IP_ADDRESS: ("203.0.113.9", "42.120.*.*", ""),
    LookupKey.SENSITIVE_ACTION: ("true", "false", ""),
    LookupKey.ROLE_NAME: ("ops-role", "audit", ""),
}
SINGLE = [((key, value),) for key, values in VALUES.items() for value in values]
PAIRS = [
    ((a, values_a[0]), (b, values_b[i % len(values_b)]))
    for i, ((a, values_a), (b, values_b)) in enumerate(itertools.combinations(VALUES.items(), 2))
]
QUERIES = [(), *SINGLE, *PAIRS]


def all_pages(
    log: SqliteEventLog,
    conditions: tuple[tuple[LookupKey, str], ...],
    direction: Direction,
    limit: int,
    between: Callable[[], None] = lambda: None,
    start: int = BASE_TIME - HOUR,
    end: int = BASE_TIME + 3 * 86400,
) -> list[str]:
    """Every page's event ids in order, with NextToken-style positions; `between` runs after
    each page."""
    query = LookupQuery(ACCOUNT, start, end, direction, conditions, limit)
    ids: list[str] = []
    for _ in range(1000):
        page = log.lookup(query)
        assert len(page.events) <= limit
        ids.extend(event.event_id for event in page.events)
        between()
        if page.next_position is None:
            return ids
        query = replace(query, after=page.next_position)
    raise AssertionError("paging did not end")


@pytest.fixture
def open_log(tmp_path: Path) -> Iterator[Callable[[str], SqliteEventLog]]:
    opened: list[SqliteEventLog] = []

    def make(name: str) -> SqliteEventLog:
        log = SqliteEventLog(tmp_path / name, gather_seconds=0.0, train_after=0)
        opened.append(log)
        return log

    yield make
    for log in opened:
        log.close()


@pytest.fixture
def logs(open_log: Callable[[str], SqliteEventLog]) -> dict[str, SqliteEventLog]:
    """The same events, in the same seq order, in three stores: all indexed, none indexed, the
    first half indexed (its times interleave with the second's)."""
    indexed = open_log("indexed")
    assert indexed.append(RECORDS) == [True] * len(RECORDS)
    assert indexed.catch_up()
    tail = open_log("tail")
    tail.pause_indexing()
    assert tail.append(RECORDS) == [True] * len(RECORDS)
    half = open_log("half")
    middle = len(RECORDS) // 2
    assert half.append(RECORDS[:middle]) == [True] * middle
    assert half.catch_up()
    half.pause_indexing()
    assert half.append(RECORDS[middle:]) == [True] * (len(RECORDS) - middle)
    assert tail.stats().indexed_seq == 0
    assert half.stats().indexed_seq == middle
    return {"indexed": indexed, "tail": tail, "half": half}


def test_the_tail_matches_every_key_as_the_index_does(logs: dict[str, SqliteEventLog]) -> None:
    nonempty = 0
    for conditions in QUERIES:
        for direction in Direction:
            wanted = all_pages(logs["indexed"], conditions, direction, 50)
            nonempty += bool(wanted)
            for name in ("tail", "half"):
                assert all_pages(logs[name], conditions, direction, 50) == wanted, (
                    name,
                    conditions,
                    direction,
                )
    assert nonempty >= len(QUERIES)  # not answered by empty pages alone


@pytest.mark.parametrize("limit", [1, 4, 7])
@pytest.mark.parametrize("direction", list(Direction))
def test_pages_merged_from_the_tail_and_the_index_are_whole(
    logs: dict[str, SqliteEventLog], limit: int, direction: Direction
) -> None:
    for conditions in [(), ((LookupKey.EVENT_RW, "Write"),), ((LookupKey.USER, "alice"),)]:
        wanted = all_pages(logs["indexed"], conditions, direction, 50)
        assert len(wanted) > limit
        for name in ("tail", "half"):
            assert all_pages(logs[name], conditions, direction, limit) == wanted
        # A narrower window (one day) pages the same way.
        day = (BASE_TIME + 86400, BASE_TIME + 2 * 86400 - 1)
        assert all_pages(logs["half"], conditions, direction, limit, start=day[0], end=day[1]) == (
            all_pages(logs["indexed"], conditions, direction, 50, start=day[0], end=day[1])
        )


@pytest.mark.parametrize("direction", list(Direction))
def test_an_event_indexed_between_two_pages_is_neither_repeated_nor_skipped(
    open_log: Callable[[str], SqliteEventLog], direction: Direction
) -> None:
    indexed = open_log("indexed")
    indexed.append(RECORDS)
    assert indexed.catch_up()
    wanted = all_pages(indexed, (), direction, 50)
    log = open_log("moving")
    log.append(RECORDS[:20])
    assert log.catch_up()
    log.pause_indexing()
    log.append(RECORDS[20:])

    def index_some() -> None:  # the indexer runs between pages, as it does under load
        log.pause_indexing(False)
        assert log.catch_up()
        log.pause_indexing()

    assert all_pages(log, (), direction, 5, between=index_some) == wanted


def test_a_held_indexer_leaves_every_key_searchable_at_once(
    open_log: Callable[[str], SqliteEventLog],
) -> None:
    log = open_log("held")
    log.pause_indexing()
    event = replace(  # every key has a value
        record(1),
        resource_types=("ACS::ECS::Instance",),
        resource_names=("i-held",),
        source_ip="198.51.100.7",
    )
    assert event.user_name and event.access_key_id and event.source_ip and event.role_name
    assert log.append([event]) == [True]
    values = {
        LookupKey.EVENT_ID: event.event_id,
        LookupKey.EVENT_NAME: event.event_name,
        LookupKey.SERVICE_NAME: event.service_name,
        LookupKey.USER: event.user_name,
        LookupKey.EVENT_RW: event.event_rw,
        LookupKey.EVENT_ACCESS_KEY_ID: event.access_key_id,
        LookupKey.RESOURCE_TYPE: event.resource_types[0],
        LookupKey.RESOURCE_NAME: event.resource_names[0],
        LookupKey.EVENT_TYPE: event.event_type,
        LookupKey.SOURCE_IP_ADDRESS: event.source_ip,
        LookupKey.SENSITIVE_ACTION: event.sensitive,
        LookupKey.ROLE_NAME: event.role_name,
    }
    assert set(values) == set(LookupKey)
    for key, value in values.items():
        assert all_pages(log, ((key, value),), Direction.BACKWARD, 20) == [event.event_id], key
    assert log.stats().indexed_seq == 0  # nothing came from a day file


def test_the_tail_is_bounded_and_the_rest_is_found_once_indexed(tmp_path: Path) -> None:
    log = SqliteEventLog(tmp_path / "bounded", gather_seconds=0.0, train_after=0, tail_records=10)
    try:
        log.pause_indexing()
        for n in range(30):
            assert log.append([record(n)]) == [True]
        # only the newest ten are held; the older unindexed ones wait for the indexer
        assert sorted(all_pages(log, (), Direction.FORWARD, 50)) == [
            record(n).event_id for n in range(20, 30)
        ]
        log.pause_indexing(False)
        assert log.catch_up()
        assert sorted(all_pages(log, (), Direction.FORWARD, 50)) == [
            record(n).event_id for n in range(30)
        ]
    finally:
        log.close()


def test_lookup_events_hides_data_and_other_regions_global_events_in_the_tail(
    open_log: Callable[[str], SqliteEventLog],
) -> None:
    log = open_log("visible")
    log.pause_indexing()
    shown = replace(record(3), event_id="TV-shown", body=b'{"eventId":"TV-shown"}')
    data = replace(
        record(4), event_id="TV-data", body=b'{"eventId":"TV-data","eventCategory":"Data"}'
    )
    global_event = replace(
        record(5), event_id="TV-global", body=b'{"eventId":"TV-global","isGlobal":true}'
    )
    assert log.append([shown, data, global_event]) == [True] * 3
    service = LookupService(log, retention_days=90 * 365, slack_seconds=0)

    def ids(region: str | None) -> list[str]:
        request = LookupRequest(
            ACCOUNT,
            BASE_TIME - HOUR,
            BASE_TIME + 3 * 86400,
            Direction.FORWARD,
            (),
            50,
            region=region,
            global_region="cn-hangzhou",
        )
        result = service.lookup(request, now=BASE_TIME + 3 * 86400)
        return sorted(orjson.loads(body)["eventId"] for body in result.bodies)

    assert ids("cn-shanghai") == ["TV-shown"]
    assert ids("cn-hangzhou") == ["TV-global", "TV-shown"]
    assert log.stats().indexed_seq == 0


_CHILD = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    sys.path.insert(0, sys.argv[2])
    from test_sqlite_tail import RECORDS
    from trailhouse.store.sqlite.event_log import SqliteEventLog

    log = SqliteEventLog(Path(sys.argv[1]), gather_seconds=0.0, train_after=0)
    log.append(RECORDS[:10])
    assert log.catch_up()
    log.pause_indexing()
    log.append(RECORDS[10:40])
    print("acknowledged", flush=True)
    time.sleep(60)
    """
)


def test_after_a_kill_the_unindexed_log_is_searchable_from_the_tail(tmp_path: Path) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(tmp_path / "killed"), str(Path(__file__).parent)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "acknowledged"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
        if child.stdout is not None:
            child.stdout.close()
    indexed = SqliteEventLog(tmp_path / "indexed", gather_seconds=0.0, train_after=0)
    log = SqliteEventLog(tmp_path / "killed", gather_seconds=0.0, train_after=0, index_paused=True)
    try:
        indexed.append(RECORDS[:10])
        indexed.append(RECORDS[10:40])
        assert indexed.catch_up()
        assert log.stats().indexed_seq <= 10  # the rest is in the log only
        for conditions in [(), ((LookupKey.USER, "alice"),), ((LookupKey.EVENT_ID, "T0033-12"),)]:
            for direction in Direction:
                wanted = all_pages(indexed, conditions, direction, 50)
                assert wanted
                assert all_pages(log, conditions, direction, 7) == wanted
    finally:
        log.close()
        indexed.close()


def _day_rows(directory: Path) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every day file under `directory`, but the acceptance times."""
    found: dict[str, list[tuple[object, ...]]] = {}
    for path in sorted((directory / "days").glob("*.sqlite")):
        conn = sqlite3.connect(path)
        try:
            for table in ("names", "events", "resources"):
                cursor = conn.execute(f"SELECT * FROM {table} ORDER BY 1, 2")
                columns = [d[0] for d in cursor.description]
                keep = [i for i, name in enumerate(columns) if name != "accepted_ms"]
                found[f"{path.name}/{table}"] = [tuple(row[i] for i in keep) for row in cursor]
        finally:
            conn.close()
    return found


def test_indexing_from_the_tail_writes_what_indexing_from_the_log_writes(tmp_path: Path) -> None:
    """The indexer takes what the tail holds instead of reading the segments back; a tail that
    let go of its groups makes it read them. Both give the same day files."""
    from_tail = SqliteEventLog(tmp_path / "from-tail", gather_seconds=0.0, train_after=0)
    from_log = SqliteEventLog(
        tmp_path / "from-log", gather_seconds=0.0, train_after=0, tail_records=1
    )
    try:
        from_tail.pause_indexing()
        from_log.pause_indexing()
        assert from_tail.append(RECORDS) == [True] * len(RECORDS)
        for one in RECORDS:  # one group each: the tail keeps only the newest
            assert from_log.append([one]) == [True]
        for log in (from_tail, from_log):
            log.pause_indexing(False)
            assert log.catch_up()
    finally:
        from_tail.close()
        from_log.close()
    rows = _day_rows(tmp_path / "from-tail")
    assert rows == _day_rows(tmp_path / "from-log")
    assert sum(len(found) for name, found in rows.items() if name.endswith("/events")) == len(
        RECORDS
    )


def test_the_tail_hands_the_indexer_whole_groups_right_after_its_position() -> None:
    def group(first: int, count: int) -> list[LogRecord]:
        return [
            LogRecord(s, 0, 0, 0, ACCOUNT, f"e{s}", "", "", "", "", "", (), (), "", b"")
            for s in range(first, first + count)
        ]

    tail = Tail(0, limit=100)
    assert tail.following(0, 10) is None  # nothing held: the log is read
    for first in (1, 4, 7):
        tail.add(group(first, 3))
    held = tail.following(0, 5)
    assert held is not None
    assert [r.seq for r in held] == [1, 2, 3]  # whole groups, the first even beyond the limit
    held = tail.following(0, 100)
    assert held is not None
    assert [r.seq for r in held] == list(range(1, 10))
    assert tail.following(3, 10) is None  # not the first held group's start
    tail.indexed(3)
    held = tail.following(3, 3)
    assert held is not None
    assert [r.seq for r in held] == [4, 5, 6]


def test_the_tail_is_bounded_in_memory_too() -> None:
    """Large events fill the tail's memory bound before its record bound: the oldest groups are
    let go (the newest always kept), and what leaves gives its bytes back."""

    def group(first: int, body_bytes: int) -> list[LogRecord]:
        return [
            LogRecord(
                s, 0, 0, 0, ACCOUNT, f"e{s:04d}", "", "", "", "", "", (), (), "", b"x" * body_bytes
            )
            for s in range(first, first + 2)
        ]

    one = memory_of(group(1, 10_000))
    tail = Tail(0, limit=1_000, limit_bytes=3 * one)
    for n in range(5):
        tail.add(group(1 + 2 * n, 10_000))
    assert len(tail) == 6 and tail.memory == 3 * one  # three groups of two, far below 1,000
    assert tail.let_go == 4
    tail.add(group(11, 100_000))  # alone beyond the bound: kept, the older groups let go
    assert len(tail) == 2 and tail.memory == memory_of(group(11, 100_000))
    tail.indexed(12)
    assert len(tail) == 0 and tail.memory == 0
