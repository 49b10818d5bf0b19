"""PyODPS from PyPI, unchanged, saving results in a project of the account's own: CREATE TABLE …
AS SELECT, `o.create_table`, INSERT INTO/OVERWRITE a partition, tunnel uploads, reading the saved
table back with SQL (joined with the audit table) and through the table tunnel (`open_reader`,
`read_table`, `to_pandas`, `head`, records and Arrow), `o.delete_table`; another account, Admin
member or not, may not write there, a non-member may not read, and a table named
`actiontrail_*` is refused (attacker tests)."""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from decimal import Decimal

import pandas as pd
import pyarrow as pa
import pytest
from compat_support import Fixture
from odps import errors
from odps.tunnel import TableTunnel
from pyodps_support import Warehouse, client, make_warehouse, pyodps_state

from trailhouse.client import RpcClient
from trailhouse.odps_api.tunnel_wire import arrow as arrow_stream
from trailhouse.odps_api.tunnel_wire import typed_records

ACCOUNT = "7777000012340077"
OTHER = "7777000012340078"
STRANGER = "7777000012340079"  # an account no project of ACCOUNT's names
TABLE = "actiontrail_pyodps_own_wren"
OWN = "wren_results"


@pytest.fixture(scope="module")
def accounts(running: Fixture) -> Iterator[tuple[Warehouse, Warehouse]]:
    mine = make_warehouse(running.server, ACCOUNT, TABLE, events=60)
    theirs = make_warehouse(running.server, OTHER, "actiontrail_other_wren", events=5)
    keys = mine.root
    with RpcClient(running.server.url, keys.access_key_id, keys.access_key_secret) as rpc:
        rpc.call("CreateProject", {"Project": OWN})
        rpc.call("SetProjectMember", {"Project": OWN, "Principal": OTHER, "Role": "Admin"})
        rpc.call(
            "SetProjectMember",
            {"Project": OWN, "Principal": f"{ACCOUNT}/odps_reader", "Role": "Reader"},
        )
        rpc.call(
            "SetProjectMember",
            {"Project": mine.project, "Principal": OTHER, "Role": "Reader"},
        )
    with pyodps_state():
        yield mine, theirs


def test_a_result_table_is_saved_read_and_dropped(
    running: Fixture, accounts: tuple[Warehouse, Warehouse]
) -> None:
    mine, _ = accounts
    o = client(running.server, mine.root, OWN)
    o.execute_sql(
        f"CREATE TABLE by_event AS SELECT event_name, COUNT(*) AS n "
        f"FROM {mine.project}.{TABLE} GROUP BY event_name"
    )
    assert o.exist_table("by_event")
    saved = o.get_table("by_event")
    assert [(c.name, str(c.type).lower()) for c in saved.table_schema.simple_columns] == [
        ("event_name", "string"),
        ("n", "bigint"),
    ]
    with o.execute_sql("SELECT SUM(n) AS total FROM by_event").open_reader() as reader:
        assert [r["total"] for r in reader] == [mine.rows]
    joined = o.execute_sql(
        f"SELECT COUNT(*) AS c FROM {mine.project}.{TABLE} a JOIN by_event b "
        "ON a.event_name = b.event_name"
    )
    with joined.open_reader() as reader:
        assert [r["c"] for r in reader] == [mine.rows]
    o.delete_table("by_event")
    assert not o.exist_table("by_event")
    o.delete_table("by_event", if_exists=True)


def test_create_table_and_insert_into_partitions(
    running: Fixture, accounts: tuple[Warehouse, Warehouse]
) -> None:
    mine, _ = accounts
    o = client(running.server, mine.root, OWN)
    o.create_table("daily", ("event_name string, n bigint, share double", "day string"))
    o.create_table("daily", ("event_name string", "day string"), if_not_exists=True)
    select = (
        f"SELECT event_name, COUNT(*), COUNT(*) / {mine.rows} FROM {mine.project}.{TABLE} "
        "GROUP BY event_name"
    )
    for day in mine.days:
        o.execute_sql(f"INSERT INTO TABLE daily PARTITION (day='{day}') {select}")
    o.execute_sql(f"INSERT OVERWRITE TABLE daily PARTITION (day='{mine.days[0]}') {select}")
    table = o.get_table("daily")
    assert [p.name for p in table.table_schema.partitions] == ["day"]
    assert sorted(str(p) for p in table.partitions) == sorted(f"day='{d}'" for d in mine.days)
    instance = o.execute_sql("SELECT day, SUM(n) AS n FROM daily GROUP BY day ORDER BY day")
    with instance.open_reader() as reader:
        per_day = [(r["day"], r["n"]) for r in reader]
    assert per_day == [(day, mine.rows) for day in sorted(mine.days)]
    with pytest.raises(errors.ODPSError, match="the query gives 2 columns and the table has 3"):
        o.execute_sql("INSERT INTO daily PARTITION (day='x') SELECT 1, 2")
    with pytest.raises(errors.ODPSError, match="name day='…'"):
        o.execute_sql(f"INSERT INTO daily {select}")
    with table.open_reader(partition=f"day={mine.days[0]}") as reader:
        assert sum(r["n"] for r in reader) == mine.rows
    o.delete_table("daily")


def test_nobody_but_the_owner_accounts_writers_writes_there(
    running: Fixture, accounts: tuple[Warehouse, Warehouse]
) -> None:
    """Attacker tests: another account (an Admin member of the project) may not create, insert
    or drop; a Reader of the account may not; an `actiontrail_*` table is refused in any
    project; nothing changes."""
    mine, theirs = accounts
    owner = client(running.server, mine.root, OWN)
    owner.execute_sql("CREATE TABLE guarded AS SELECT 1 AS a")
    other = client(running.server, theirs.root, OWN)
    for sql in (
        "CREATE TABLE planted (a BIGINT)",
        "INSERT OVERWRITE TABLE guarded SELECT 2",
        "DROP TABLE guarded",
        "CREATE TABLE stolen AS SELECT * FROM guarded",
    ):
        with pytest.raises(errors.NoPermission, match="only that account's own principals"):
            other.execute_sql(sql)
    with pytest.raises(errors.NoPermission):
        other.delete_table("guarded")
    from_theirs = client(running.server, theirs.root, theirs.project)
    with pytest.raises(errors.NoPermission, match="only that account's own principals"):
        from_theirs.execute_sql(f"INSERT INTO {OWN}.guarded SELECT 3")
    reader = client(running.server, mine.member, OWN)
    with pytest.raises(errors.NoPermission, match="no Write privilege"):
        reader.execute_sql("DROP TABLE guarded")
    for sql in (
        "CREATE TABLE actiontrail_fake (a BIGINT)",
        f"CREATE TABLE {mine.project}.results AS SELECT 1 AS a",
        f"INSERT INTO {mine.project}.{TABLE} SELECT * FROM {mine.project}.{TABLE}",
    ):
        with pytest.raises(errors.NoPermission, match="only from ActionTrail delivery"):
            owner.execute_sql(sql)
    assert sorted(t.name for t in owner.list_tables()) == ["guarded"]
    with owner.execute_sql("SELECT a FROM guarded").open_reader() as rows:
        assert [r["a"] for r in rows] == [1]
    owner.delete_table("guarded")


UPLOADED = "name string, n bigint, share double, ok boolean, at datetime, amount decimal(10,2)"


def _rows(o: object, sql: str) -> list[tuple[object, ...]]:
    with o.execute_sql(sql).open_reader() as reader:  # type: ignore[attr-defined]
        return [tuple(record.values) for record in reader]


def test_open_writer_and_write_table_upload_rows_once(
    running: Fixture, accounts: tuple[Warehouse, Warehouse]
) -> None:
    mine, _ = accounts
    o = client(running.server, mine.root, OWN)
    o.create_table("uploaded", (UPLOADED, "day string"))
    table = o.get_table("uploaded")
    at = datetime.datetime(2026, 12, 5, 10, 30, 15)
    first = [
        ["a", 1, 0.5, True, at, Decimal("1.25")],
        ["b", None, None, False, None, None],
    ]
    with table.open_writer(partition="day=d1", create_partition=True) as writer:
        writer.write(first)
    o.write_table("uploaded", [["c", 3, 1.5, True, at, Decimal("7.10")]], partition="day=d1")
    o.write_table(
        "uploaded",
        [["d", 4, 2.0, False, at, Decimal("0")]],
        partition="day=d2",
        create_partition=True,
    )
    got = _rows(o, "SELECT name, n, share, ok, at, amount, day FROM uploaded ORDER BY name")
    assert got == [
        ("a", 1, 0.5, True, at, Decimal("1.25"), "d1"),
        ("b", None, None, False, None, None, "d1"),
        ("c", 3, 1.5, True, at, Decimal("7.10"), "d1"),
        ("d", 4, 2.0, False, at, Decimal("0.00"), "d2"),
    ]
    with table.open_writer(partition="day=d1", overwrite=True) as writer:
        writer.write([["z", 9, 9.0, True, at, Decimal("9.99")]])
    assert _rows(o, "SELECT day, COUNT(*) FROM uploaded GROUP BY day ORDER BY day") == [
        ("d1", 1),
        ("d2", 1),
    ]
    session = TableTunnel(o).create_upload_session(
        "uploaded", partition_spec="day=d3", create_partition=True
    )
    with session.open_record_writer(0) as writer:
        writer.write(session.new_record(["once", 1, 1.0, True, at, Decimal("1")]))
    session.commit([0])
    session.commit([0])  # sent again: listed once
    assert _rows(o, "SELECT COUNT(*) FROM uploaded WHERE day = 'd3'") == [(1,)]
    o.delete_table("uploaded")


def _put_block(session: object, data: bytes, *, arrow: bool = False) -> None:
    """Send `data` as block 0 of the session through PyODPS's own signed client."""
    client_ = session._client  # type: ignore[attr-defined]
    url = session._table.table_resource()  # type: ignore[attr-defined]
    params = session.get_common_params(uploadid=session.id, blockid=0)  # type: ignore[attr-defined]
    if arrow:
        params["arrow"] = ""
    response = client_.put(url, data=data, params=params, headers=session.get_common_headers())  # type: ignore[attr-defined]
    if not client_.is_ok(response):
        from odps.tunnel.errors import TunnelError

        raise TunnelError.parse(response)


def test_bad_uploads_are_refused_and_leave_nothing(
    running: Fixture, accounts: tuple[Warehouse, Warehouse]
) -> None:
    mine, theirs = accounts
    o = client(running.server, mine.root, OWN)
    o.create_table("checked", "name string, n bigint")
    tunnel = TableTunnel(o)
    good = b"".join(typed_records([["x", 1], ["y", 2]], ["string", "bigint"]))
    session = tunnel.create_upload_session("checked")
    flipped = bytearray(good)
    flipped[2] ^= 0x01  # a letter of the first row changes: its CRC32C no longer matches
    with pytest.raises(errors.ODPSError, match="CRC32C does not match") as caught:
        _put_block(session, bytes(flipped))
    assert caught.value.code == "MalformedDataStream"
    extra = b"".join(typed_records([["x", 1, "z"]], ["string", "bigint", "string"]))
    with pytest.raises(errors.ODPSError, match="field 3 is not a column"):
        _put_block(session, extra)
    wrong = b"".join(typed_records([[1, 1]], ["bigint", "bigint"]))
    with pytest.raises(errors.ODPSError, match="column name is STRING"):
        _put_block(session, wrong)
    with pytest.raises(errors.ODPSError, match="the stream ends"):
        _put_block(session, good[:-6])
    session.commit([])
    assert _rows(o, "SELECT COUNT(*) FROM checked") == [(0,)]
    o.create_table("parted", ("a string", "p string"))
    with pytest.raises(errors.ODPSError, match="create_partition=True") as missing:
        tunnel.create_upload_session("parted", partition_spec="p=nope")
    assert missing.value.code == "NoSuchPartition"
    with pytest.raises(errors.ODPSError, match="not created for"):
        tunnel.create_upload_session("checked", upload_id="20261206000000ABCDEF")
    other = client(running.server, theirs.root, OWN)
    with pytest.raises(errors.NoPermission, match="only that account's own principals"):
        other.write_table("checked", [["stolen", 1]])
    assert _rows(o, "SELECT COUNT(*) FROM checked") == [(0,)]
    o.delete_table("checked")
    o.delete_table("parted")


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(list(frame.columns)).reset_index(drop=True)


def test_a_saved_table_reads_back_through_the_tunnel(
    running: Fixture, accounts: tuple[Warehouse, Warehouse]
) -> None:
    """The analyst's round trip: CTAS into the own project, then the table tunnel reads it as
    SQL does, records and Arrow, whole, in ranges and in a column subset."""
    mine, _ = accounts
    o = client(running.server, mine.root, OWN)
    o.execute_sql(
        f"CREATE TABLE tallied AS SELECT event_name, COUNT(*) AS n, COUNT(*) / {mine.rows} "
        f"AS share FROM {mine.project}.{TABLE} GROUP BY event_name"
    )
    with o.execute_sql("SELECT * FROM tallied").open_reader() as reader:
        expected = reader.to_pandas()
    table = o.get_table("tallied")
    for arrow in (False, True):
        with table.open_reader(arrow=arrow) as reader:
            assert reader.count == len(expected) > 1
            frame = reader.to_pandas()
        assert list(frame.columns) == ["event_name", "n", "share"]
        pd.testing.assert_frame_equal(_sorted(frame), _sorted(expected), check_dtype=False)
    with table.open_reader() as reader:
        every = [tuple(r.values) for r in reader]
        assert [tuple(r.values) for r in reader.read(start=1, count=2)] == every[1:3]
    assert sorted(every) == sorted(_rows(o, "SELECT * FROM tallied"))
    assert [tuple(r.values) for r in o.read_table("tallied")] == every
    with table.open_reader(columns=["n", "event_name"], arrow=True) as reader:
        subset = reader.to_pandas()
    assert list(subset.columns) == ["n", "event_name"]
    assert sorted(subset.itertuples(index=False, name=None)) == sorted((n, e) for e, n, _ in every)
    assert [tuple(r.values) for r in table.head(2)] == every[:2]
    session = TableTunnel(o).create_download_session("tallied")
    with (
        pytest.raises(errors.ODPSError) as caught,
        session.open_record_reader(session.count, 1) as reader,
    ):
        list(reader)
    assert caught.value.code == "InvalidRowRange"
    assert f"holds {session.count} rows" in str(caught.value)
    o.delete_table("tallied")


TYPED = (
    "b bigint, i int, s smallint, t tinyint, d double, f float, name string, ok boolean, "
    "at datetime, on_day date, amount decimal(10,2)"
)


def test_uploaded_rows_of_every_type_read_back_by_partition(
    running: Fixture, accounts: tuple[Warehouse, Warehouse]
) -> None:
    """Upload then read back: every type a user table holds, partition selection, the
    partition keys in the session's schema; missing and unknown partitions refused."""
    mine, _ = accounts
    o = client(running.server, mine.root, OWN)
    o.create_table("typed", (TYPED, "day string"))
    at = datetime.datetime(2026, 12, 5, 10, 30, 15)
    on = datetime.date(2026, 12, 5)
    d1 = [
        [1, 2, 3, 4, 0.5, 1.5, "a", True, at, on, Decimal("1.25")],
        [None, None, None, None, None, None, None, None, None, None, None],
        [-(2**40), -7, -300, -100, -2.25, 0.25, "ü", False, at, on, Decimal("-9.10")],
    ]
    o.write_table("typed", d1, partition="day=d1", create_partition=True)
    o.write_table("typed", [[9] + [None] * 10], partition="day=d2", create_partition=True)
    table = o.get_table("typed")
    with table.open_reader(partition="day=d1") as reader:
        assert reader.count == 3
        got = [r.values for r in reader]
    assert got == [[*row, "d1"] for row in d1]  # PyODPS adds the partition's values
    sql = "SELECT * FROM typed WHERE day = 'd1'"
    assert sorted(map(str, got)) == sorted(str(list(r)) for r in _rows(o, sql))
    with table.open_reader(partition="day=d1", arrow=True) as reader:
        frame = reader.to_pandas()
    with table.open_reader(partition="day=d1") as reader:
        by_records = reader.to_pandas().drop(columns=["day"])  # PyODPS adds it to records only
    by_arrow = frame.astype({"at": "datetime64[ns]"})  # Arrow's DATETIME unit is ms
    pd.testing.assert_frame_equal(by_arrow, by_records, check_dtype=False)
    assert frame["amount"].iloc[0] == Decimal("1.25")
    assert frame["at"][0] == pd.Timestamp(at)
    with table.open_reader(partition="day=d2", columns=["b"]) as reader:
        assert [r.values for r in reader] == [[9]]
    tunnel = TableTunnel(o)
    session = tunnel.create_download_session("typed", partition_spec="day=d2")
    assert session.count == 1
    assert [c.name for c in session.schema.partitions] == ["day"]
    with pytest.raises(errors.ODPSError, match="partitioned by day") as missing:
        tunnel.create_download_session("typed")
    assert missing.value.code == "MissingPartitionSpec"
    with pytest.raises(errors.ODPSError, match="no partition day=nope") as absent:
        tunnel.create_download_session("typed", partition_spec="day=nope")
    assert absent.value.code == "NoSuchPartition"
    with pytest.raises(errors.ODPSError, match="name day=") as wrong:
        tunnel.create_download_session("typed", partition_spec="ds=20261205")
    assert wrong.value.code == "InvalidPartitionSpec"
    o.delete_table("typed")


def test_another_accounts_key_reads_nothing_of_a_saved_table(
    running: Fixture, accounts: tuple[Warehouse, Warehouse]
) -> None:
    """Attacker test: an account the project does not name is refused every tunnel read, as
    its SQL is; a staged, uncommitted upload is never read."""
    mine, _ = accounts
    o = client(running.server, mine.root, OWN)
    o.create_table("kept", "name string, n bigint")
    o.write_table("kept", [["x", 1]])
    staged = TableTunnel(o).create_upload_session("kept")
    with staged.open_record_writer(0) as writer:
        writer.write(staged.new_record(["staged", 2]))
    with o.get_table("kept").open_reader() as reader:
        assert [r.values for r in reader] == [["x", 1]]
    stranger = make_warehouse(running.server, STRANGER, "actiontrail_stranger_wren", events=1)
    theirs = client(running.server, stranger.root, OWN)
    with pytest.raises(errors.NoPermission):
        theirs.execute_sql("SELECT * FROM kept")
    table = theirs.get_table("kept", project=OWN)
    for read in (
        lambda: table.open_reader(),
        lambda: table.open_reader(arrow=True),
        lambda: table.head(1),
        lambda: list(theirs.read_table("kept")),
    ):
        with pytest.raises(errors.NoPermission):
            read()
    o.delete_table("kept")


def test_arrow_uploads_are_checked_land_at_the_commit_and_read_back(
    running: Fixture, accounts: tuple[Warehouse, Warehouse]
) -> None:
    """`o.write_table` of a DataFrame, `open_writer(arrow=True)` of an Arrow table and an Arrow
    session's block: nothing visible before the commit, the same values read back; a block
    whose batches do not fit the table's columns is refused and leaves nothing."""
    mine, _ = accounts
    o = client(running.server, mine.root, OWN)
    o.create_table("arrowed", (UPLOADED, "day string"))
    at = datetime.datetime(2026, 12, 5, 10, 30, 15)
    frame = pd.DataFrame(
        {
            "name": ["a", "b"],
            "n": [1, 2],
            "share": [0.5, None],
            "ok": [True, False],
            "at": [at, at],
            "amount": [Decimal("1.25"), None],
        }
    )
    o.write_table("arrowed", frame, partition="day=d1", create_partition=True)
    table = o.get_table("arrowed")
    with table.open_writer(partition="day=d2", create_partition=True, arrow=True) as writer:
        writer.write(pa.Table.from_pandas(frame.head(1), preserve_index=False))
    session = TableTunnel(o).create_upload_session(
        "arrowed", partition_spec="day=d3", create_partition=True
    )
    with session.open_arrow_writer(0) as writer:
        writer.write(frame)
    assert _rows(o, "SELECT COUNT(*) FROM arrowed WHERE day = 'd3'") == [(0,)]
    session.commit([0])
    assert _rows(o, "SELECT day, COUNT(*) FROM arrowed GROUP BY day ORDER BY day") == [
        ("d1", 2),
        ("d2", 1),
        ("d3", 2),
    ]
    assert _rows(o, "SELECT name, n, share, ok, at, amount FROM arrowed WHERE day = 'd1'") == [
        ("a", 1, 0.5, True, at, Decimal("1.25")),
        ("b", 2, None, False, at, None),
    ]
    with table.open_reader(partition="day=d3", arrow=True) as reader:
        back = reader.to_pandas()
    assert list(back["name"]) == ["a", "b"]
    assert list(back["amount"]) == [Decimal("1.25"), None]
    assert back["at"][0] == pd.Timestamp(at)
    wrong = b"".join(arrow_stream([pa.record_batch({"name": ["x"], "n": ["not a number"]})], None))
    bad = TableTunnel(o).create_upload_session("arrowed", partition_spec="day=d1")
    with pytest.raises(errors.ODPSError, match="do not fit the table's columns") as caught:
        _put_block(bad, wrong, arrow=True)
    assert caught.value.code == "MalformedDataStream"
    good = bytearray(b"".join(arrow_stream([pa.record_batch({"name": ["x"]})], None)))
    good[8] ^= 0x01
    with pytest.raises(errors.ODPSError, match="CRC32C"):
        _put_block(bad, bytes(good), arrow=True)
    bad.commit([])
    assert _rows(o, "SELECT COUNT(*) FROM arrowed WHERE day = 'd1'") == [(2,)]
    o.delete_table("arrowed")
