"""Arrow upload blocks (odps_api/upload_arrow.py), written by PyODPS's own `BaseArrowWriter`
(the oracle): typed columns, NULLs, many chunks and a chunk boundary, an empty writer; every
CRC32C checked; batches that do not fit the table's columns refused."""

from __future__ import annotations

import datetime
import io
from decimal import Decimal

import pyarrow as pa
import pytest
from odps import options, types
from odps.models import TableSchema
from odps.tunnel.io.writer import BaseArrowWriter

from trailhouse.odps_api import tunnel_wire
from trailhouse.odps_api.upload_arrow import decode_arrow
from trailhouse.odps_api.upload_wire import BadStream
from trailhouse.warehouse.model import Table, UserColumn
from trailhouse.warehouse.user_tables import shape_of

KINDS = {"name": "string", "n": "bigint", "at": "datetime", "amount": "decimal(10,2)"}
COLUMNS = shape_of(
    Table("r", "p", "t", 0, columns=tuple(UserColumn(n, k.upper()) for n, k in KINDS.items()))
).columns
AT = datetime.datetime(2026, 12, 5, 10, 30, 15)


def _block(data: pa.Table | None, chunk_size: int | None = None) -> bytes:
    sink = io.BytesIO()
    schema = TableSchema(columns=[types.Column(n, k) for n, k in KINDS.items()])
    saved = options.local_timezone
    options.local_timezone = datetime.UTC  # the wall-clock time is sent as if UTC
    try:
        writer = BaseArrowWriter(schema, sink, chunk_size=chunk_size)
        if data is not None:
            writer.write(data)
        writer.close()
    finally:
        options.local_timezone = saved
    return sink.getvalue()


ROWS = pa.table(
    {
        "name": ["a", None, "héllo ☃"],
        "n": pa.array([1, None, -(2**40)], pa.int64()),
        "at": pa.array([AT, None, AT], pa.timestamp("ms")),
        "amount": pa.array([Decimal("1.25"), None, Decimal("-9.10")], pa.decimal128(10, 2)),
    }
)


@pytest.mark.parametrize("chunk_size", [None, 7, 64])
def test_pyodps_blocks_decode_to_the_rows_written(chunk_size: int | None) -> None:
    block = _block(pa.concat_tables([ROWS] * 5), chunk_size)
    got = decode_arrow(block, COLUMNS)
    assert got.schema.field("at").type == pa.timestamp("ms")
    assert got.to_pylist() == pa.concat_tables([ROWS] * 5).to_pylist()


def test_an_empty_writer_is_an_empty_block() -> None:
    assert decode_arrow(_block(None), COLUMNS).num_rows == 0


def test_any_flipped_byte_fails_a_checksum() -> None:
    block = _block(ROWS, 64)
    for at in (4, 30, 64 + 4 + 2, len(block) - 10, len(block) - 1):
        broken = bytearray(block)
        broken[at] ^= 0x20
        with pytest.raises(BadStream, match=r"CRC32C|checksum"):
            decode_arrow(bytes(broken), COLUMNS)
    with pytest.raises(BadStream, match="too short"):
        decode_arrow(b"\x00\x00\x01", COLUMNS)


@pytest.mark.parametrize(
    "batch",
    [
        pa.record_batch({"name": ["x"], "n": ["not a number"]}),
        pa.record_batch({"name": ["x"]}),
        pa.record_batch({"name": ["x"], "n": pa.array([1], pa.int32())}),
    ],
)
def test_batches_that_do_not_fit_the_columns_are_refused(batch: pa.RecordBatch) -> None:
    block = b"".join(tunnel_wire.arrow([batch], None))
    with pytest.raises(BadStream, match=r"do not fit the table's columns \(name STRING, n BIGINT"):
        decode_arrow(block, COLUMNS)
