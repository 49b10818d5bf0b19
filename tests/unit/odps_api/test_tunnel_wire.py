"""The tunnel's row formats, decoded by PyODPS's own readers (the oracle): NULLs, non-ASCII text,
empty reads, and Arrow data that ends exactly on a chunk boundary or spans many chunks."""

from __future__ import annotations

import datetime
import io
from collections.abc import Iterator
from decimal import Decimal

import pyarrow as pa
import pytest
from odps import options, types
from odps.errors import ChecksumError
from odps.models import TableSchema
from odps.tunnel.io.reader import TunnelArrowReader, TunnelRecordReader

from trailhouse.odps_api import tunnel_wire

NAMES = ["a", "b"]
SCHEMA = pa.schema([(n, pa.string()) for n in NAMES])
ODPS_SCHEMA = TableSchema(columns=[types.Column(n, "string") for n in NAMES])


def _batches(rows: list[tuple[str | None, str | None]], size: int = 3) -> Iterator[pa.RecordBatch]:
    for at in range(0, len(rows), size):
        part = rows[at : at + size]
        yield pa.record_batch([pa.array([r[i] for r in part], pa.string()) for i in (0, 1)], SCHEMA)


ROWS = [("x", None), (None, None), ("héllo ☃", "b" * 300), ("", "tail")]


class _Stream(io.BytesIO):
    """A body as PyODPS's readers see it (they ask its length)."""

    def __len__(self) -> int:
        return len(self.getbuffer())


@pytest.fixture(autouse=True)
def _no_retries() -> Iterator[None]:
    """PyODPS retries a broken stream four times with a pause; the same bytes break again."""
    saved = options.retry_times
    options.retry_times = 0
    try:
        yield
    finally:
        options.retry_times = saved


def _records(data: bytes) -> list[list[str | None]]:
    reader = TunnelRecordReader(ODPS_SCHEMA, lambda *_a, **_k: _Stream(data))
    with reader:
        return [list(record.values) for record in reader]


def _arrow(data: bytes) -> list[dict[str, str | None]]:
    reader = TunnelArrowReader(ODPS_SCHEMA, lambda *_a, **_k: _Stream(data))
    with reader:
        rows: list[dict[str, str | None]] = reader.read().to_pylist()
        return rows


def test_records_round_trip_with_nulls_and_unicode() -> None:
    data = b"".join(tunnel_wire.records(_batches(ROWS)))
    assert _records(data) == [list(r) for r in ROWS]
    assert _records(b"".join(tunnel_wire.records(iter(())))) == []


def test_a_damaged_record_fails_its_checksum() -> None:
    data = bytearray(b"".join(tunnel_wire.records(_batches(ROWS))))
    at = data.index(b"tail")
    data[at] = ord("T")
    with pytest.raises(ChecksumError):
        _records(bytes(data))


@pytest.mark.parametrize("compression", [None, "lz4"])
def test_arrow_round_trips(compression: str | None) -> None:
    data = b"".join(tunnel_wire.arrow(_batches(ROWS), compression))
    assert _arrow(data) == [dict(zip(NAMES, r, strict=True)) for r in ROWS]
    assert _arrow(b"".join(tunnel_wire.arrow(iter(()), compression))) == []


def test_arrow_over_many_chunks_and_ending_on_a_boundary(monkeypatch: pytest.MonkeyPatch) -> None:
    rows = [(f"row {i}", "v" * (i % 50)) for i in range(2000)]
    expected = [dict(zip(NAMES, r, strict=True)) for r in rows]
    pieces = list(tunnel_wire._messages(_batches(rows, 97), None))
    length = sum(len(p) for p in pieces)
    for chunk in (4096, length, length // 2 if length % 2 == 0 else (length - 8) // 2):
        monkeypatch.setattr(tunnel_wire, "CHUNK_SIZE", chunk)
        data = b"".join(tunnel_wire.arrow(_batches(rows, 97), None))
        assert _arrow(data) == expected, chunk
    monkeypatch.setattr(tunnel_wire, "CHUNK_SIZE", 4096)
    damaged = bytearray(b"".join(tunnel_wire.arrow(_batches(rows, 97), None)))
    damaged[5000] ^= 0xFF
    with pytest.raises(ChecksumError):
        _arrow(bytes(damaged))


def test_a_user_tables_types_round_trip_as_records_and_arrow() -> None:
    """DATETIME (held as timestamp[us]), DATE and DECIMAL read back by PyODPS's readers as the
    values written, over records (typed encoder) and Arrow (DATETIME sent as timestamp[ms])."""
    at = datetime.datetime(2026, 12, 5, 10, 30, 15)
    on = datetime.date(2026, 12, 5)
    kinds = ["datetime", "date", "decimal(10,2)", "int", "float"]
    odps_schema = TableSchema(columns=[types.Column(f"c{i}", k) for i, k in enumerate(kinds)])
    batch = pa.record_batch(
        [
            pa.array([at, None], pa.timestamp("us")),
            pa.array([on, None], pa.date32()),
            pa.array([Decimal("-9.10"), None], pa.decimal128(10, 2)),
            pa.array([-7, None], pa.int32()),
            pa.array([0.25, None], pa.float32()),
        ],
        names=[f"c{i}" for i in range(len(kinds))],
    )
    data = b"".join(tunnel_wire.records([batch], kinds))
    saved = options.local_timezone
    options.local_timezone = datetime.UTC  # the wall-clock time is sent as if UTC
    try:
        reader = TunnelRecordReader(odps_schema, lambda *_a, **_k: _Stream(data))
        with reader:
            got = [list(record.values) for record in reader]
    finally:
        options.local_timezone = saved
    assert got[1] == [None] * len(kinds)
    assert got[0][1:] == [on, Decimal("-9.10"), -7, 0.25]
    assert got[0][0].replace(tzinfo=None) == at
    arrow = b"".join(tunnel_wire.arrow([tunnel_wire.wire_batch(batch)]))
    reader_arrow = TunnelArrowReader(odps_schema, lambda *_a, **_k: _Stream(arrow))
    with reader_arrow:
        rows = reader_arrow.read().to_pylist()
    assert [rows[0][f"c{i}"] for i in range(1, len(kinds))] == [on, Decimal("-9.10"), -7, 0.25]
    assert rows[0]["c0"].replace(tzinfo=None) == at
