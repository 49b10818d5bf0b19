"""Decoding a tunnel upload's Arrow block as PyODPS's `ArrowWriter` (`odps/tunnel/io/writer.py`)
sends it, checking every CRC32C, into Arrow columns of the table's types.

The block is a big-endian uint32 chunk size, then the record batches' IPC messages
(`RecordBatch.serialize()`: no schema message, no end-of-stream marker) cut into chunks, each
full chunk followed by its CRC32C and the stream by the CRC32C of all the data; the same framing
as the download's (`tunnel_wire.arrow`). The batches carry no schema: they are read in the one
PyODPS builds from the session's (`tunnel_wire.wire_type` of each column), and a batch that does
not fit it (another column count, other types) does not validate and is refused whole.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

import google_crc32c
import pyarrow as pa

from trailhouse.odps_api.tunnel_wire import ARROW_EOS, wire_type
from trailhouse.odps_api.upload_wire import BadStream
from trailhouse.warehouse.schema import Column

_SIZE = struct.Struct("!I")


def _unframe(block: bytes) -> bytes:
    """The data of a chunked block, every chunk's and the whole's CRC32C checked."""
    if len(block) == _SIZE.size:  # a writer that wrote nothing sends only the (empty) total
        if _SIZE.unpack(block)[0] != google_crc32c.value(b""):
            raise BadStream("the empty block's checksum does not match")
        return b""
    if len(block) < 2 * _SIZE.size:
        raise BadStream(f"the block is {len(block)} bytes: too short for a chunk size and checksum")
    (chunk,) = _SIZE.unpack_from(block, 0)
    if chunk == 0:
        raise BadStream("the chunk size is 0")
    data = bytearray()
    at = _SIZE.size
    while len(block) - at >= chunk + 2 * _SIZE.size:  # a full chunk, its CRC32C, and more
        piece = block[at : at + chunk]
        (crc,) = _SIZE.unpack_from(block, at + chunk)
        if crc != google_crc32c.value(piece):
            raise BadStream(f"the CRC32C of the chunk at byte {at} does not match")
        data += piece
        at += chunk + _SIZE.size
    data += block[at : -_SIZE.size]
    (total,) = _SIZE.unpack_from(block, len(block) - _SIZE.size)
    if total != google_crc32c.value(bytes(data)):
        raise BadStream("the CRC32C of the whole block does not match; send it again")
    return bytes(data)


def decode_arrow(block: bytes, columns: Sequence[Column]) -> pa.Table:
    """The rows of an Arrow block for a table of these columns, in their tunnel types;
    BadStream when a checksum does not match or a batch does not fit the columns."""
    schema = pa.schema([pa.field(c.name, wire_type(c.arrow_type)) for c in columns])
    data = _unframe(block)
    header = pa.BufferOutputStream()
    pa.ipc.new_stream(header, schema).close()  # the schema message, then the end marker
    stream = header.getvalue().to_pybytes()[: -len(ARROW_EOS)] + data + ARROW_EOS
    wanted = ", ".join(f"{c.name} {c.odps_type}" for c in columns)
    try:
        reader = pa.ipc.open_stream(stream)
        batches = list(reader)
        for batch in batches:
            batch.validate(full=True)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OSError, ValueError) as exc:
        raise BadStream(
            f"its Arrow record batches do not fit the table's columns ({wanted}): write a "
            "DataFrame or Arrow table with those columns and types"
        ) from exc
    return pa.Table.from_batches(batches, schema=schema)
