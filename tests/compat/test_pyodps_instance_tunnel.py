"""PyODPS from PyPI, unchanged, reading an instance's result through the instance tunnel (what
`instance.open_reader()` does by default): typed records and Arrow that equal the CSV result,
row ranges, column selection, the 10 000-row limit, and the tunnel's refusals."""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Iterator

import pytest
from compat_support import Fixture
from odps import ODPS, errors
from pyodps_support import Warehouse, client, endpoint, make_warehouse, pyodps_state

from trailhouse.client import RpcClient

ACCOUNT = "7777000012340042"
TABLE = "actiontrail_pyodps_results_kestrel"


@pytest.fixture(scope="module")
def warehouse(running: Fixture) -> Iterator[Warehouse]:
    made = make_warehouse(running.server, ACCOUNT, TABLE)
    with RpcClient(running.server.url, made.root.access_key_id, made.root.access_key_secret) as rpc:
        rpc.call(
            "SetProjectMember",
            {"Project": made.project, "Principal": f"{ACCOUNT}/odps_reader", "Role": "Reader"},
        )
    with pyodps_state():
        yield made


def _odps(running: Fixture, warehouse: Warehouse) -> ODPS:
    return client(running.server, warehouse.root, warehouse.project)


TYPED = (
    "SELECT event_name, COUNT(*) AS n, CAST(COUNT(*) AS DOUBLE) / 2 AS half, "
    "COUNT(*) > 1 AS many, CAST(NULL AS STRING) AS nothing, 'a,b \"kestrel\"' AS quoted, "
    "TO_DATE('2026-12-06 11:30:00', 'yyyy-mm-dd hh:mi:ss') AS moment, "
    "CAST('12.50' AS DECIMAL(10,2)) AS price, -COUNT(*) AS negative "
    "FROM {table} GROUP BY event_name ORDER BY event_name"
)


def test_the_tunnel_reads_what_the_csv_result_holds(running: Fixture, warehouse: Warehouse) -> None:
    odps = _odps(running, warehouse)
    instance = odps.execute_sql(TYPED.format(table=TABLE))
    with instance.open_reader(tunnel=False) as reader:
        by_csv = [r.values for r in reader]
    with instance.open_reader() as reader:  # the default: the instance tunnel
        assert type(reader).__name__ == "InstanceRecordReader"  # no fallback to the CSV
        assert reader.count == len(by_csv)
        by_tunnel = [r.values for r in reader]
    assert by_tunnel == by_csv
    first = by_tunnel[0]
    assert isinstance(first[1], int) and first[2] == first[1] / 2 and first[3] is (first[1] > 1)
    assert first[4] is None and first[5] == 'a,b "kestrel"'
    assert first[6] == dt.datetime(2026, 12, 6, 11, 30)
    assert first[7] == decimal.Decimal("12.50") and first[8] == -first[1]
    assert sum(row[1] for row in by_tunnel) == warehouse.rows


def test_arrow_row_ranges_and_columns(running: Fixture, warehouse: Warehouse) -> None:
    odps = _odps(running, warehouse)
    instance = odps.execute_sql(TYPED.format(table=TABLE))
    with instance.open_reader(tunnel=False) as reader:
        by_csv = [r.values for r in reader]
    with instance.open_reader(tunnel=True, arrow=True) as reader:
        frame = reader.to_pandas()
    assert list(frame["event_name"]) == [row[0] for row in by_csv]
    assert list(frame["n"]) == [row[1] for row in by_csv]
    assert frame["moment"].iloc[0] == dt.datetime(2026, 12, 6, 11, 30)
    assert frame["nothing"].isna().all()
    with instance.open_reader(tunnel=True, reopen=True) as reader:
        assert [r.values for r in reader[1:3]] == by_csv[1:3]
        chosen = [r.values for r in reader.read(start=2, count=2, columns=["n", "event_name"])]
    assert chosen == [[row[1], row[0]] for row in by_csv[2:4]]
    with instance.open_reader(tunnel=True, arrow=True, columns=["n", "event_name"]) as reader:
        part = reader.to_pandas(start=1, count=2)
    assert list(part.columns) == ["n", "event_name"]
    assert list(part["event_name"]) == [row[0] for row in by_csv[1:3]]


NESTED = (
    "SELECT COLLECT_SET(event_name) AS names, ARRAY(1, NULL, 2) AS numbers, "
    "MAP('k', 1, 'z', NULL) AS counts, MAP(7, 'x') AS by_number, "
    "NAMED_STRUCT('n', 1, 'label', 'two', 'shares', ARRAY(1.5, 2.5)) AS summary, "
    "ARRAY(TO_DATE('2026-12-06 11:30:00', 'yyyy-mm-dd hh:mi:ss')) AS moments, "
    "ARRAY(CAST('12.50' AS DECIMAL(10,2))) AS prices, CAST(NULL AS ARRAY<STRING>) AS nothing, "
    "ARRAY('a,b', 'c\"d', 'e:f', '[x]') AS awkward "
    "FROM {table}"
)


def test_arrays_maps_and_structs_arrive_in_their_own_types(
    running: Fixture, warehouse: Warehouse
) -> None:
    """Before, a nested result column was a STRING of JSON text through every reader."""
    odps = _odps(running, warehouse)
    instance = odps.execute_sql(NESTED.format(table=TABLE))
    with instance.open_reader() as reader:
        types = [str(column.type).lower() for column in reader.schema.columns]
        (row,) = [r.values for r in reader]
    assert types[:5] == [
        "array<string>",
        "array<int>",
        "map<string,int>",
        "map<int,string>",
        "struct<`n`:int,`label`:string,`shares`:array<double>>",
    ]
    names, numbers, counts, by_number, summary, moments, prices, nothing, awkward = row
    assert isinstance(names, list) and names and all(isinstance(n, str) for n in names)
    assert numbers == [1, None, 2]
    assert counts == {"k": 1, "z": None} and by_number == {7: "x"}
    assert (summary.n, summary.label, summary.shares) == (1, "two", [1.5, 2.5])
    assert moments == [dt.datetime(2026, 12, 6, 11, 30)]
    assert prices == [decimal.Decimal("12.50")]
    assert nothing is None
    assert awkward == ["a,b", 'c"d', "e:f", "[x]"]
    with instance.open_reader(tunnel=False) as reader:  # the CSV result, parsed by PyODPS
        assert [r.values for r in reader] == [row]
    with instance.open_reader(tunnel=True, arrow=True) as reader:
        table = reader.read_all()
    assert table.column("numbers").to_pylist() == [numbers]
    assert table.column("counts").to_pylist() == [[("k", 1), ("z", None)]]
    assert table.column("summary").to_pylist() == [{"n": 1, "label": "two", "shares": [1.5, 2.5]}]
    assert table.column("moments").to_pylist() == [moments]


def test_a_json_value_arrives_as_the_value_it_holds(running: Fixture, warehouse: Warehouse) -> None:
    """MaxCompute's JSON type (JSON_OBJECT, JSON_EXTRACT …): PyODPS reads the tunnel's text of it
    as the value; before, the column was a STRING."""
    odps = _odps(running, warehouse)
    instance = odps.execute_sql("SELECT JSON_OBJECT('a', 1, 'b', 'x') AS j, JSON '[1,2]' AS k")
    with instance.open_reader() as reader:
        assert [str(c.type).lower() for c in reader.schema.columns] == ["json", "json"]
        assert [r.values for r in reader] == [[{"a": 1, "b": "x"}, [1, 2]]]


def test_a_cut_result_needs_limit(running: Fixture, warehouse: Warehouse) -> None:
    """The job keeps 10 000 rows of a 14 400-row result: an unlimited read is refused, saying
    how to read them; limit=True reads the 10 000."""
    odps = _odps(running, warehouse)
    instance = odps.execute_sql(
        f"SELECT a.event_id, b.event_id AS other FROM {TABLE} a CROSS JOIN {TABLE} b",
        hints={"odps.sql.allow.cartesian": "true"},
    )
    with pytest.raises(errors.InvalidArgument, match="limit=True"):
        instance.open_reader(tunnel=True, limit=False)
    with instance.open_reader(tunnel=True, limit=True, arrow=True) as reader:
        assert reader.count == 10_000
        assert len(reader.to_pandas()) == 10_000


def _raw(odps: ODPS, warehouse: Warehouse, instance_id: str, **params: str) -> errors.ODPSError:
    url = f"{endpoint_of(odps)}/projects/{warehouse.project}/instances/{instance_id}"
    with pytest.raises(errors.ODPSError) as refused:
        odps.rest.get(url, params=params)
    return refused.value


def endpoint_of(odps: ODPS) -> str:
    return str(odps.endpoint)


def test_bad_reads_are_refused_with_the_tunnel_codes(
    running: Fixture, warehouse: Warehouse
) -> None:
    odps = _odps(running, warehouse)
    assert endpoint_of(odps) == endpoint(running.server)
    instance = odps.execute_sql(f"SELECT event_id FROM {TABLE} LIMIT 5")
    with instance.open_reader(tunnel=True) as reader:
        download = reader._download_session.id
    cases = [
        ({"downloadid": "NOPE"}, "NoSuchDownload", "reopen=True"),
        ({"downloadid": download, "data": "", "rowrange": "(3,5)"}, "InvalidRowRange", "5 rows"),
        (
            {"downloadid": download, "data": "", "rowrange": "3-5"},
            "InvalidRowRange",
            "(start,count)",
        ),
        (
            {"downloadid": download, "data": "", "rowrange": "(0,1)", "columns": "nope"},
            "InvalidColumnSpec",
            "event_id",
        ),
    ]
    for params, code, says in cases:
        refused = _raw(odps, warehouse, instance.id, **params)
        assert refused.code == code and says in str(refused), (params, refused)
    failed = odps.run_sql(f"SELECT no_such_column FROM {TABLE}")
    with pytest.raises(errors.ODPSError):
        failed.wait_for_success()
    refused = _raw(odps, warehouse, failed.id, downloadid="X")
    assert refused.code == "NoSuchDownload"
    url = f"{endpoint_of(odps)}/projects/{warehouse.project}/instances/{failed.id}"
    with pytest.raises(errors.ODPSError) as caught:
        odps.rest.post(url, "", params={"downloads": ""})
    assert caught.value.code == "StatusConflict" and "no_such_column" in str(caught.value)
    with pytest.raises(errors.ODPSError, match=r"failed"):
        failed.open_reader(tunnel=True)


def test_only_who_may_see_the_instance_reads_its_result(
    running: Fixture, warehouse: Warehouse
) -> None:
    """A Reader of the project does not read the root key's instance, nor a non-member; the
    download id of a session does not open the result to them either."""
    owner = _odps(running, warehouse)
    instance = owner.execute_sql(f"SELECT event_id FROM {TABLE} LIMIT 3")
    with instance.open_reader(tunnel=True) as reader:
        download = reader._download_session.id
        assert reader.count == 3
    for keys in (warehouse.member, warehouse.outsider):
        other = client(running.server, keys, warehouse.project)
        url = f"{endpoint(running.server)}/projects/{warehouse.project}/instances/{instance.id}"
        with pytest.raises(errors.NoPermission):
            other.rest.post(url, "", params={"downloads": ""})
        with pytest.raises(errors.NoPermission):
            other.rest.get(url, params={"downloadid": download, "data": "", "rowrange": "(0,3)"})
