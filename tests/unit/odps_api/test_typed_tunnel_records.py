"""The instance tunnel's typed record stream (`tunnel_wire.typed_records`), decoded by PyODPS's
own record reader (the oracle): every type a result column has, negative and large numbers,
NULLs, and a flipped byte caught by PyODPS's CRC32C check."""

from __future__ import annotations

import datetime as dt
import decimal
import io
from collections.abc import Iterator
from typing import Any

import pytest
from odps import options, types
from odps.errors import ChecksumError
from odps.models import TableSchema
from odps.tunnel.io.reader import TunnelRecordReader

from trailhouse.odps_api import tunnel_wire

KINDS = [
    "bigint",
    "int",
    "double",
    "float",
    "boolean",
    "datetime",
    "date",
    "decimal(10,2)",
    "string",
]
SCHEMA = TableSchema(columns=[types.Column(f"c{i}", kind) for i, kind in enumerate(KINDS)])
MOMENT = dt.datetime(2026, 12, 6, 11, 30, 15)
EPOCH = dt.datetime(1970, 1, 1)
ROWS: list[list[Any]] = [
    [
        -(2**62),
        -7,
        -1.25,
        0.5,
        True,
        (MOMENT - EPOCH) // dt.timedelta(milliseconds=1),
        (dt.date(2026, 12, 6) - EPOCH.date()).days,
        "12.50",
        "héllo ☃",
    ],
    [2**62, 0, 1e300, -2.0, False, 0, -1, "-0.01", ""],
    [None] * len(KINDS),
]


class _Stream(io.BytesIO):
    def __len__(self) -> int:
        return len(self.getbuffer())


@pytest.fixture(autouse=True)
def _utc_and_no_retries() -> Iterator[None]:
    saved = options.retry_times, options.local_timezone
    options.retry_times = 0
    options.local_timezone = False  # DATETIMEs shown in UTC, whatever the test host's zone
    try:
        yield
    finally:
        options.retry_times, options.local_timezone = saved


def _decode(data: bytes) -> list[list[Any]]:
    reader = TunnelRecordReader(SCHEMA, lambda *_a, **_k: _Stream(data))
    with reader:
        return [list(record.values) for record in reader]


def test_pyodps_reads_every_type_back() -> None:
    data = b"".join(tunnel_wire.typed_records(ROWS, KINDS))
    first, second, nulls = _decode(data)
    assert first[:5] == [-(2**62), -7, -1.25, 0.5, True]
    assert first[5].replace(tzinfo=None) == MOMENT
    assert first[6] == dt.date(2026, 12, 6)
    assert first[7] == decimal.Decimal("12.50") and first[8] == "héllo ☃"
    assert second[:5] == [2**62, 0, 1e300, -2.0, False]
    assert second[6] == dt.date(1969, 12, 31) and second[7] == decimal.Decimal("-0.01")
    assert nulls == [None] * len(KINDS)


def test_a_flipped_byte_fails_the_checksum() -> None:
    data = bytearray(b"".join(tunnel_wire.typed_records(ROWS[:1], KINDS)))
    at = data.index("héllo".encode())
    data[at] ^= 0x01
    with pytest.raises(ChecksumError):
        _decode(bytes(data))
