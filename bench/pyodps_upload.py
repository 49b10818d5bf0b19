"""Decoding a PyODPS upload block on the server, beside PyODPS encoding it on the client.

Builds `--rows` rows of a six-column user table (STRING, BIGINT, DOUBLE, BOOLEAN, DATETIME,
DECIMAL) and times, `--repeat` times each, alternating:

- **PyODPS** (the baseline): its buffered record writer turning the rows into the protobuf
  block it sends (what a client spends per row);
- **trailhouse**: `odps_api/upload_wire.decode_records` over that block (every row's CRC32C,
  the count and the stream checksum checked, values into Arrow columns).

Prints rows/s of each (best run) and their ratio: the server should decode at least as fast as
one client encodes (ratio ≥ 1), so a writer is never waiting on the server's decoding.
Quick try: `.venv/bin/python bench/pyodps_upload.py --rows 100000`.
"""

from __future__ import annotations

import argparse
import datetime
import time
from decimal import Decimal
from typing import Any, ClassVar

from odps.models import Record, TableSchema
from odps.tunnel.io.writer import BufferedRecordWriter

from trailhouse.odps_api.upload_wire import decode_records

NAMES = ["name", "n", "share", "ok", "at", "amount"]
TYPES = ["string", "bigint", "double", "boolean", "datetime", "decimal(10,2)"]
KINDS = ["STRING", "BIGINT", "DOUBLE", "BOOLEAN", "DATETIME", "DECIMAL(10,2)"]


def encode(rows: list[list[Any]]) -> bytes:
    """The block(s) PyODPS sends for these rows, joined (one buffer, no flush on the way)."""
    schema = TableSchema.from_lists(NAMES, TYPES)
    sent: list[bytes] = []

    class Response:
        headers: ClassVar[dict[str, str]] = {}

    def upload(_block: int, data: Any) -> Response:
        sent.append(bytes(data) if isinstance(data, bytes | bytearray) else b"".join(data))
        return Response()

    writer = BufferedRecordWriter(schema, upload, buffer_size=1 << 40)
    for values in rows:
        writer.write(Record(schema=schema, values=values))
    writer.close()
    return b"".join(sent)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=300_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    at = datetime.datetime(2026, 12, 5, 10, 30, 15)
    rows = [
        [f"event_{i % 97}", i, i / 3, i % 2 == 0, at, Decimal(i % 1000) / 100]
        for i in range(args.rows)
    ]
    encode_best = decode_best = float("inf")
    block = b""
    for _ in range(args.repeat):
        started = time.perf_counter()
        block = encode(rows)
        encode_best = min(encode_best, time.perf_counter() - started)
        started = time.perf_counter()
        decoded = decode_records(block, NAMES, KINDS)
        decode_best = min(decode_best, time.perf_counter() - started)
        assert decoded.num_rows == args.rows
    encoded_rate, decoded_rate = args.rows / encode_best, args.rows / decode_best
    print(f"rows: {args.rows}, block: {len(block) / 2**20:.1f} MiB")
    print(f"PyODPS encode (baseline): {encoded_rate:,.0f} rows/s")
    print(f"trailhouse decode:        {decoded_rate:,.0f} rows/s")
    print(f"ratio decode/encode:      {decoded_rate / encoded_rate:.2f} (target >= 1)")


if __name__ == "__main__":
    main()
