"""PyODPS from PyPI, unchanged, saving results in a project of the account's own: CREATE TABLE …
AS SELECT, `o.create_table`, INSERT INTO/OVERWRITE a partition, reading the saved table back with
SQL (joined with the audit table), `o.delete_table`; another account, Admin member or not, may
not write there, and a table named `actiontrail_*` is refused (attacker tests)."""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from decimal import Decimal

import pytest
from compat_support import Fixture
from odps import errors
from odps.tunnel import TableTunnel
from pyodps_support import Warehouse, client, make_warehouse, pyodps_state

from trailhouse.client import RpcClient
from trailhouse.odps_api.tunnel_wire import typed_records

ACCOUNT = "7777000012340077"
OTHER = "7777000012340078"
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
    with pytest.raises(errors.MethodNotAllowed, match="read it with SQL"):
        table.open_reader(partition=f"day={mine.days[0]}")
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


def _put_block(session: object, data: bytes) -> None:
    """Send `data` as block 0 of the session through PyODPS's own signed client."""
    client_ = session._client  # type: ignore[attr-defined]
    url = session._table.table_resource()  # type: ignore[attr-defined]
    params = session.get_common_params(uploadid=session.id, blockid=0)  # type: ignore[attr-defined]
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
