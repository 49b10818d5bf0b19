"""The upload record stream (odps_api/upload_wire.py) decodes what PyODPS's own writer sends,
every type and NULL, and refuses a stream whose CRC32C, count, fields or end do not check."""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Any, ClassVar

import pytest
from odps.models import Record, TableSchema
from odps.tunnel.io.writer import BufferedRecordWriter

from trailhouse.odps_api.tunnel_wire import typed_records
from trailhouse.odps_api.upload_wire import BadStream, decode_records

NAMES = ["name", "n", "share", "ok", "at", "amount", "small", "day"]
KINDS = ["STRING", "BIGINT", "DOUBLE", "BOOLEAN", "DATETIME", "DECIMAL(10,2)", "INT", "DATE"]
AT = datetime.datetime(2026, 12, 5, 10, 30, 15)
ROWS: list[list[Any]] = [
    ["a", 1, 0.5, True, AT, Decimal("1.25"), 7, datetime.date(2026, 12, 5)],
    ["b", None, None, False, None, None, None, None],
    ["ü" * 40, -(2**62), -1.5, True, AT, Decimal("-99999999.99"), -(2**31), None],
]


def pyodps_block(rows: list[list[Any]]) -> bytes:
    """The block PyODPS's buffered record writer sends for these rows."""
    schema = TableSchema.from_lists(
        NAMES,
        ["string", "bigint", "double", "boolean", "datetime", "decimal(10,2)", "int", "date"],
        ["p"],
        ["string"],
    )
    sent: list[bytes] = []

    class Response:
        headers: ClassVar[dict[str, str]] = {}

    def upload(_block: int, data: Any) -> Response:
        sent.append(bytes(data) if isinstance(data, bytes | bytearray) else b"".join(data))
        return Response()

    writer = BufferedRecordWriter(schema, upload)
    for values in rows:
        writer.write(Record(schema=schema, values=[*values, "x"]))
    writer.close()
    return b"".join(sent)


def test_what_pyodps_writes_decodes_to_the_same_values() -> None:
    decoded = decode_records(pyodps_block(ROWS), NAMES, KINDS)
    got = [list(row.values()) for row in decoded.to_pylist()]
    # DATETIME: PyODPS sends epoch milliseconds of the client's local time (UTC here).
    assert got == ROWS
    assert str(decoded.schema.field("amount").type) == "decimal128(10, 2)"


def test_many_rows_and_no_rows() -> None:
    rows = [[f"r{i}", i, i / 2, i % 2 == 0, AT, Decimal(i), i, None] for i in range(5000)]
    assert decode_records(pyodps_block(rows), NAMES, KINDS).num_rows == 5000
    assert decode_records(b"".join(typed_records([], [])), NAMES, KINDS).num_rows == 0


def _flip(data: bytes, at: int) -> bytes:
    changed = bytearray(data)
    changed[at] ^= 0x01
    return bytes(changed)


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (_flip(pyodps_block(ROWS[:1]), 2), "row 0: its CRC32C does not match"),
        (pyodps_block(ROWS)[:-3], "the stream ends"),
        (pyodps_block(ROWS) + b"\x00", "bytes follow the stream's checksum"),
        (b"", "the stream ends after 0 rows"),
        (b"".join(typed_records([[None] * 8 + ["z"]], ["string"] * 9)), "field 9 is not a"),
        (b"".join(typed_records([[1]], ["bigint"])), "column name is STRING"),
        (b"".join(typed_records([["x", "1"]], ["string", "string"])), "column n is BIGINT"),
    ],
)
def test_streams_that_do_not_check_are_refused(data: bytes, says: str) -> None:
    with pytest.raises(BadStream, match=says):
        decode_records(data, NAMES, KINDS)


def test_a_value_out_of_its_column_type_is_refused() -> None:
    data = b"".join(
        typed_records([[None, None, None, None, None, None, 2**40]], ["x"] * 6 + ["int"])
    )
    with pytest.raises(BadStream, match=r"column small \(INT\): a value does not fit"):
        decode_records(data, NAMES, KINDS)
