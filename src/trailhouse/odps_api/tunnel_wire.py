"""The two row formats of MaxCompute's tunnel download, as PyODPS's `odps/tunnel/io/reader.py`
decodes them, with their CRC32C checksums.

**Records** (protobuf): each row is its non-NULL fields, field number = the column's position
(1-based) among the columns read, as a length-delimited string; then tag `END_RECORD` with the
CRC32C of the row (over each field's number as little-endian int32 and its bytes). The stream
ends with tag `META_COUNT` (the rows, zigzag) and tag `META_CHECKSUM` (CRC32C of the rows'
checksums as int32s).

**Arrow**: the record batch messages of an Arrow IPC stream, without the schema message
(PyODPS builds it from the session's schema), cut into chunks: a big-endian uint32 chunk size,
then each full chunk followed by the CRC32C of that chunk, and the last, shorter, chunk by the
CRC32C of all the data.
"""

from __future__ import annotations

import io
import itertools
import struct
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import google_crc32c
import pyarrow as pa

from trailhouse.odps_api.odps_types import ARRAY, MAP, Kind, parse_kind

END_RECORD = 33553408
META_COUNT = 33554430
META_CHECKSUM = 33554431
WIRETYPE_VARINT = 0
WIRETYPE_LENGTH_DELIMITED = 2
CHUNK_SIZE = 1 << 20  # the server chooses; PyODPS reads what the stream's first 4 bytes say
# The end-of-stream marker of the Arrow IPC stream format.
ARROW_EOS = b"\xff\xff\xff\xff\x00\x00\x00\x00"
FLUSH_BYTES = 1 << 20  # what one piece of the answer holds, about


def varint(value: int) -> bytes:
    """Protobuf's base-128 varint of a non-negative number."""
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _tag(field: int, wire_type: int) -> bytes:
    return varint((field << 3) | wire_type)


def _zigzag64(value: int) -> int:
    return (value << 1) ^ (value >> 63)


_END_RECORD_TAG = _tag(END_RECORD, WIRETYPE_VARINT)


def records(
    batches: Iterable[pa.RecordBatch], kinds: Sequence[str] | None = None
) -> Iterator[bytes]:
    """The protobuf record stream of a table's rows, in pieces of about FLUSH_BYTES: its
    columns' MaxCompute types are `kinds` (lower case; every column STRING when None), and
    `typed_records` encodes them, so every record stream has one encoder."""
    rows = _rows(iter(batches))
    first = next(rows, None)
    if first is None:
        yield from typed_records((), ())
        return
    yield from typed_records(
        itertools.chain((first,), rows), kinds if kinds is not None else ["string"] * len(first)
    )


def _rows(batches: Iterator[pa.RecordBatch]) -> Iterator[tuple[Any, ...]]:
    for batch in batches:
        yield from zip(*(_wire_values(column) for column in batch.columns), strict=True)


def _wire_values(column: pa.Array) -> list[Any]:
    """A column's values as `typed_records` takes them: timestamps (DATETIME, a wall-clock
    time read as UTC) as epoch milliseconds, dates as epoch days, decimals as their text."""
    kind = column.type
    if pa.types.is_timestamp(kind):
        column = column.cast(pa.timestamp("ms"), safe=False).cast(pa.int64())
    elif pa.types.is_date32(kind):
        column = column.cast(pa.int32())
    elif pa.types.is_decimal(kind):
        column = column.cast(pa.string())
    values: list[Any] = column.to_pylist()
    return values


def wire_type(kind: pa.DataType) -> pa.DataType:
    """The Arrow type PyODPS puts a column of this (file) type in on the tunnel, both ways
    (`odps/tunnel/io/types.py`): a DATETIME is timestamp[ms], whatever unit files hold it in."""
    return pa.timestamp("ms") if pa.types.is_timestamp(kind) else kind


def wire_batch(batch: pa.RecordBatch) -> pa.RecordBatch:
    """A batch in the Arrow types of the tunnel (`wire_type`)."""
    if not any(pa.types.is_timestamp(field.type) for field in batch.schema):
        return batch
    arrays = [column.cast(wire_type(column.type), safe=False) for column in batch.columns]
    return pa.RecordBatch.from_arrays(arrays, names=batch.schema.names)


def _messages(batches: Iterable[pa.RecordBatch], compression: str | None) -> Iterator[bytes]:
    """Each batch as its Arrow IPC stream message, then the end-of-stream marker: an IPC
    stream without the schema message that starts it."""
    options = pa.ipc.IpcWriteOptions(compression=compression)
    sink = io.BytesIO()
    writer: pa.ipc.RecordBatchStreamWriter | None = None
    skip = 0
    for batch in batches:
        if writer is None:
            # The writer puts the schema before the first batch: as long as an empty stream's.
            empty = io.BytesIO()
            pa.ipc.new_stream(empty, batch.schema, options=options).close()
            skip = len(empty.getvalue()) - len(ARROW_EOS)
            writer = pa.ipc.new_stream(sink, batch.schema, options=options)
        writer.write_batch(batch)
        yield sink.getvalue()[skip:]
        skip = 0
        sink.seek(0)
        sink.truncate()
    if writer is not None:
        writer.close()
    yield ARROW_EOS


def arrow(batches: Iterable[pa.RecordBatch], compression: str | None = "lz4") -> Iterator[bytes]:
    """The chunked Arrow stream of these batches, a piece per batch or so.

    The record batches' buffers are compressed (Arrow IPC body compression, which pyarrow's
    stream reader undoes by itself): PyODPS checks every byte twice with a CRC32C of its own at
    about a quarter of a GB/s, so the bytes on the wire, not the rows, set the pace.
    """
    yield struct.pack("!I", CHUNK_SIZE)
    pending = b""  # data not yet cut into a full chunk
    total = 0  # CRC32C of all data so far
    for message in _messages(batches, compression):
        pending += message
        whole = len(pending) - len(pending) % CHUNK_SIZE
        if not whole:
            continue
        out = bytearray()
        for at in range(0, whole, CHUNK_SIZE):
            chunk = pending[at : at + CHUNK_SIZE]
            total = google_crc32c.extend(total, chunk)
            out += chunk
            out += struct.pack("!I", google_crc32c.value(chunk))
        pending = pending[whole:]
        yield bytes(out)
    # The last chunk is shorter than the others (empty, when the data filled the last one),
    # and ends with the CRC32C of all the data.
    total = google_crc32c.extend(total, pending)
    yield pending + struct.pack("!I", total)


# How each MaxCompute type is put on the wire and into the row's CRC32C, as PyODPS's
# `_read_field` reads it: a wire type, and the value's (wire bytes, checksum bytes).
WIRETYPE_FIXED64 = 1
WIRETYPE_FIXED32 = 5
Encode = Callable[[Any], tuple[bytes, bytes]]


def _integer(value: Any) -> tuple[bytes, bytes]:
    number = int(value)
    return varint(_zigzag64(number) & (2**64 - 1)), struct.pack("<q", number)


def _double(value: Any) -> tuple[bytes, bytes]:
    packed = struct.pack("<d", float(value))
    return packed, packed


def _float(value: Any) -> tuple[bytes, bytes]:
    packed = struct.pack("<f", float(value))
    return packed, packed


def _boolean(value: Any) -> tuple[bytes, bytes]:
    flag = b"\x01" if value else b"\x00"
    return flag, flag


def _text(value: Any) -> tuple[bytes, bytes]:
    data = value if isinstance(value, bytes) else str(value).encode()
    return varint(len(data)) + data, data


# Integers, DATETIME (epoch milliseconds) and DATE (epoch days) are varints; any other kind
# (STRING, DECIMAL, JSON, ...) is its text.
_ENCODERS: dict[str, tuple[int, Encode]] = {
    **dict.fromkeys(
        ("bigint", "int", "smallint", "tinyint", "datetime", "date"), (WIRETYPE_VARINT, _integer)
    ),
    "double": (WIRETYPE_FIXED64, _double),
    "float": (WIRETYPE_FIXED32, _float),
    "boolean": (WIRETYPE_VARINT, _boolean),
}
_TEXT = (WIRETYPE_LENGTH_DELIMITED, _text)


def encoder_of(kind: str) -> tuple[int, Encode]:
    """How a column of this MaxCompute type is put on the wire: a scalar as above; an ARRAY
    (a list), MAP (a list of (key, value)) or STRUCT (its fields' values, in order) as
    PyODPS's `_read_array`/`_read_struct` read it: an array is its length, then each element
    as a NULL flag and, unless NULL, the element itself; a map its keys' array then its
    values'; a struct each field's NULL flag and value. Only the elements' own bytes enter the
    row's checksum."""
    if "<" not in kind:
        return _ENCODERS.get(kind, _TEXT)
    return WIRETYPE_LENGTH_DELIMITED, _nested_encoder(parse_kind(kind))


def _nested_encoder(kind: Kind) -> Encode:
    parts = [
        _nested_encoder(part) if part.nested else _ENCODERS.get(part.name, _TEXT)[1]
        for part in kind.parts
    ]
    if kind.name == ARRAY:
        return _array_encoder(parts[0])
    if kind.name == MAP:
        keys, values = _array_encoder(parts[0]), _array_encoder(parts[1])

        def encode_map(pairs: Any) -> tuple[bytes, bytes]:
            key_wire, key_sum = keys([k for k, _ in pairs])
            value_wire, value_sum = values([v for _, v in pairs])
            return key_wire + value_wire, key_sum + value_sum

        return encode_map

    def encode_struct(values: Any) -> tuple[bytes, bytes]:
        return _flagged(zip(parts, values, strict=True))

    return encode_struct


def _array_encoder(element: Encode) -> Encode:
    def encode_array(items: Any) -> tuple[bytes, bytes]:
        wire, checked = _flagged((element, item) for item in items)
        return varint(len(items)) + wire, checked

    return encode_array


def _flagged(pairs: Iterable[tuple[Encode, Any]]) -> tuple[bytes, bytes]:
    """Values each after its NULL flag (a NULL has no bytes of its own)."""
    wire, checked = bytearray(), bytearray()
    for encode, value in pairs:
        if value is None:
            wire += b"\x01"
            continue
        wire += b"\x00"
        value_wire, value_sum = encode(value)
        wire += value_wire
        checked += value_sum
    return bytes(wire), bytes(checked)


def typed_records(rows: Iterable[Sequence[Any]], kinds: Sequence[str]) -> Iterator[bytes]:
    """The protobuf record stream of rows whose columns have these MaxCompute types (`kinds`;
    integers, DATETIME as epoch milliseconds and DATE as epoch days already numbers), in pieces
    of about FLUSH_BYTES."""
    count = 0
    checksums = bytearray()
    buffer = bytearray()
    columns = [encoder_of(kind) for kind in kinds]
    tags = [_tag(i + 1, wire_type) for i, (wire_type, _) in enumerate(columns)]
    encoders = [encode for _, encode in columns]
    numbers = [struct.pack("<i", i + 1) for i in range(len(kinds))]
    for values in rows:
        signed = bytearray()
        for index, value in enumerate(values):
            if value is None:
                continue
            wire, checked = encoders[index](value)
            buffer += tags[index]
            buffer += wire
            signed += numbers[index]
            signed += checked
        crc = google_crc32c.value(bytes(signed))
        buffer += _END_RECORD_TAG
        buffer += varint(crc)
        checksums += struct.pack("<I", crc)
        count += 1
        if len(buffer) >= FLUSH_BYTES:
            yield bytes(buffer)
            buffer.clear()
    buffer += _tag(META_COUNT, WIRETYPE_VARINT) + varint(_zigzag64(count))
    buffer += _tag(META_CHECKSUM, WIRETYPE_VARINT) + varint(google_crc32c.value(bytes(checksums)))
    yield bytes(buffer)
