"""Decoding a PyODPS Arrow upload block on the server, beside PyODPS encoding it on the client.

Builds `--rows` rows of a six-column user table (STRING, BIGINT, DOUBLE, BOOLEAN, DATETIME,
DECIMAL) as a pandas DataFrame and times, `--repeat` times each, alternating:

- **PyODPS** (the baseline): its Arrow writer turning the DataFrame into the chunked,
  CRC32C-checked block it sends (`open_writer(arrow=True)`, `write_table(df)`);
- **trailhouse**: `odps_api/upload_arrow.decode_arrow` over that block (every chunk's and the
  whole's CRC32C checked, the batches read in the session's schema and fully validated).

Prints rows/s of each (best run) and their ratio: the server should decode at least as fast as
one client encodes (ratio >= 1). Quick try: `.venv/bin/python bench/pyodps_arrow_upload.py`.
"""

from __future__ import annotations

import argparse
import datetime
import io
import time
from decimal import Decimal

import pandas as pd
from odps import types
from odps.models import TableSchema
from odps.tunnel.io.writer import BaseArrowWriter

from trailhouse.odps_api.upload_arrow import decode_arrow
from trailhouse.warehouse.model import Table, UserColumn
from trailhouse.warehouse.user_tables import shape_of

NAMES = ["name", "n", "share", "ok", "at", "amount"]
TYPES = ["string", "bigint", "double", "boolean", "datetime", "decimal(10,2)"]


def encode(frame: pd.DataFrame) -> bytes:
    """The block PyODPS's Arrow writer makes of this DataFrame."""
    schema = TableSchema(columns=[types.Column(n, t) for n, t in zip(NAMES, TYPES, strict=True)])
    sink = io.BytesIO()
    writer = BaseArrowWriter(schema, sink)
    writer.write(frame)
    writer.close()
    return sink.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    at = datetime.datetime(2026, 12, 5, 10, 30, 15)
    frame = pd.DataFrame(
        {
            "name": [f"event_{i % 97}" for i in range(args.rows)],
            "n": range(args.rows),
            "share": [i / 3 for i in range(args.rows)],
            "ok": [i % 2 == 0 for i in range(args.rows)],
            "at": [at] * args.rows,
            "amount": [Decimal(i % 1000) / 100 for i in range(args.rows)],
        }
    )
    table = Table(
        "r",
        "p",
        "t",
        0,
        columns=tuple(UserColumn(n, t.upper()) for n, t in zip(NAMES, TYPES, strict=True)),
    )
    columns = shape_of(table).columns
    encode_best = decode_best = float("inf")
    block = b""
    for _ in range(args.repeat):
        started = time.perf_counter()
        block = encode(frame)
        encode_best = min(encode_best, time.perf_counter() - started)
        started = time.perf_counter()
        decoded = decode_arrow(block, columns)
        decode_best = min(decode_best, time.perf_counter() - started)
        assert decoded.num_rows == args.rows
    encoded_rate, decoded_rate = args.rows / encode_best, args.rows / decode_best
    print(f"rows: {args.rows}, block: {len(block) / 2**20:.1f} MiB")
    print(f"PyODPS Arrow encode (baseline): {encoded_rate:,.0f} rows/s")
    print(f"trailhouse Arrow decode:        {decoded_rate:,.0f} rows/s")
    print(f"ratio decode/encode:            {decoded_rate / encoded_rate:.2f} (target >= 1)")


if __name__ == "__main__":
    main()
