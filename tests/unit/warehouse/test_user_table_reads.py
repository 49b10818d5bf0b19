"""Download sessions over a user's own table (warehouse/reads.py): the table's own columns and
partition keys, partition specs naming its keys, only committed rows, head with the keys last."""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest
from builders import ACCOUNT, REGION, WarehouseFixture, open_test_warehouse, root

from trailhouse.warehouse.model import Project, Table, UserColumn
from trailhouse.warehouse.reads import (
    InvalidPartitionSpec,
    MissingPartitionSpec,
    NoSuchPartition,
    partition_in,
)

OWN = "read_back"
COLUMNS = (
    UserColumn("name", "STRING"),
    UserColumn("at", "DATETIME"),
    UserColumn("amount", "DECIMAL(10,2)"),
)
AT = datetime.datetime(2026, 12, 5, 10, 30, 15)


@pytest.fixture
def tw(tmp_path: Path) -> Iterator[WarehouseFixture]:
    opened = open_test_warehouse(tmp_path / "data")
    project = opened.warehouse.catalog.ensure_project(ACCOUNT, REGION, OWN)
    for name, keys in (("parted", (UserColumn("day", "STRING"),)), ("flat", ())):
        table = Table(REGION, OWN, name, 1, columns=COLUMNS, partition_keys=keys)
        opened.warehouse.catalog.create_user_table(project, table, if_not_exists=False)
    yield opened
    opened.close()


def target(tw: WarehouseFixture, name: str) -> tuple[Project, Table]:
    project = tw.warehouse.catalog.get_project(REGION, OWN)
    return project, tw.warehouse.catalog.get_table(project, name)


def block(*names: str) -> pa.Table:
    count = len(names)
    return pa.table(
        {
            "name": list(names),
            "at": pa.array([AT] * count, pa.timestamp("us")),
            "amount": pa.array([Decimal("1.25")] * count, pa.decimal128(10, 2)),
        }
    )


def upload(tw: WarehouseFixture, name: str, values: dict[str, str], *rows: str) -> str:
    uploads = tw.warehouse.uploads
    project, table = target(tw, name)
    session = uploads.create(root(), project, table, values, create_partition=True)
    uploads.write_block(root(), project, table, session.id, 0, block(*rows))
    return session.id


def test_a_session_reads_the_partitions_committed_rows_in_the_tables_columns(
    tw: WarehouseFixture,
) -> None:
    uploads, reads = tw.warehouse.uploads, tw.warehouse.reads
    project, table = target(tw, "parted")
    uploads.commit(root(), project, table, upload(tw, "parted", {"day": "d1"}, "a", "b"))
    upload(tw, "parted", {"day": "d1"}, "staged")  # never committed: never read
    uploads.commit(root(), project, table, upload(tw, "parted", {"day": "d2"}, "c"))
    session = reads.create(root(), project, table, partition_in(table, "day='d1'"))
    assert session.rows == 2
    assert session.shape.names == ("name", "at", "amount")
    assert session.shape.key_names == ("day",)
    names = reads.columns(session, ["AMOUNT", "name"])
    rows = [r for b in reads.batches(session, 0, 2, names) for r in b.to_pylist()]
    assert rows == [{"amount": Decimal("1.25"), "name": n} for n in ("a", "b")]
    head = tw.warehouse.reads.head(root(), project, table, "", 10, ["day", "name"])
    assert head.column_names == ["name", "day"]
    assert sorted(head.to_pylist(), key=lambda r: r["name"]) == [
        {"name": "a", "day": "d1"},
        {"name": "b", "day": "d1"},
        {"name": "c", "day": "d2"},
    ]


def test_an_unpartitioned_table_reads_without_a_spec_even_before_its_first_write(
    tw: WarehouseFixture,
) -> None:
    uploads, reads = tw.warehouse.uploads, tw.warehouse.reads
    project, table = target(tw, "flat")
    assert reads.create(root(), project, table, "").rows == 0
    uploads.commit(root(), project, table, upload(tw, "flat", {}, "x"))
    session = reads.create(root(), project, table, partition_in(table, ""))
    assert session.rows == 1
    assert session.shape.key_names == ()


@pytest.mark.parametrize(
    ("spec", "error", "says"),
    [
        ("ds='20261205'", InvalidPartitionSpec, "name day='…'"),
        ("day", InvalidPartitionSpec, "key='value'"),
        ("day='a/b'", InvalidPartitionSpec, "partition value"),
        ("day='nope'", NoSuchPartition, "no partition day=nope"),
        ("", MissingPartitionSpec, "partitioned by day"),
    ],
)
def test_bad_partition_specs_are_refused_naming_the_keys(
    tw: WarehouseFixture, spec: str, error: type[Exception], says: str
) -> None:
    project, table = target(tw, "parted")
    with pytest.raises(error, match=says):
        tw.warehouse.reads.create(root(), project, table, partition_in(table, spec))
