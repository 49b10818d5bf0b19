"""Decoding a tunnel upload's protobuf record stream as PyODPS's `odps/tunnel/io/writer.py`
writes it, checking every CRC32C, into Arrow columns of the table's types.

Each row is its non-NULL fields, field number = the column's position (1-based): integers,
DATETIME (epoch milliseconds) and DATE (epoch days) as zigzag varints, BOOLEAN as a varint,
DOUBLE and FLOAT as little-endian fixed 8 and 4 bytes, STRING and DECIMAL as length-delimited
text; then tag `END_RECORD` with the row's CRC32C (over each field's number as int32 and its
value's bytes: integers as int64, BOOLEAN as one byte, text as is). The stream ends with tag
`META_COUNT` (the rows) and `META_CHECKSUM` (CRC32C of the rows' checksums). The tags and the
encoder the read side uses are `tunnel_wire.py`'s.
"""

from __future__ import annotations

import decimal
import struct
from collections.abc import Sequence
from typing import Any

import google_crc32c
import pyarrow as pa

from trailhouse.odps_api.tunnel_wire import (
    END_RECORD,
    META_CHECKSUM,
    META_COUNT,
    WIRETYPE_FIXED32,
    WIRETYPE_FIXED64,
    WIRETYPE_LENGTH_DELIMITED,
    WIRETYPE_VARINT,
)

_INTEGERS = frozenset({"BIGINT", "INT", "SMALLINT", "TINYINT"})
_BOUNDS = {
    "BIGINT": 2**63,
    "INT": 2**31,
    "SMALLINT": 2**15,
    "TINYINT": 2**7,
}


class BadStream(ValueError):
    """The stream does not decode or does not check; the message says where and why."""


def _wire_type(kind: str) -> int:
    if kind in _INTEGERS or kind in ("BOOLEAN", "DATETIME", "DATE"):
        return WIRETYPE_VARINT
    if kind == "DOUBLE":
        return WIRETYPE_FIXED64
    if kind == "FLOAT":
        return WIRETYPE_FIXED32
    return WIRETYPE_LENGTH_DELIMITED


def _varint(data: bytes, at: int) -> tuple[int, int]:
    """The varint at `at` and the offset after it (BadStream when the stream ends in it)."""
    try:
        byte = data[at]
        if byte < 0x80:
            return byte, at + 1
        value = byte & 0x7F
        shift = 7
        at += 1
        while True:
            byte = data[at]
            at += 1
            value |= (byte & 0x7F) << shift
            if byte < 0x80:
                return value, at
            shift += 7
            if shift > 63:
                raise BadStream(f"a number longer than 10 bytes at byte {at}")
    except IndexError:
        raise BadStream(f"the stream ends inside a number at byte {at}") from None


def _unzigzag(value: int) -> int:
    return (value >> 1) ^ -(value & 1)


_END_TAG = (END_RECORD << 3) | WIRETYPE_VARINT
_COUNT_TAG = (META_COUNT << 3) | WIRETYPE_VARINT
_LONG = struct.Struct("<q")
_DOUBLE = struct.Struct("<d")
_FLOAT = struct.Struct("<f")
# How a field is read: 0 zigzag varint (integers, DATETIME, DATE), 1 BOOLEAN, 2 DOUBLE,
# 3 FLOAT, 4 length-delimited text.
_READS = {WIRETYPE_FIXED64: 2, WIRETYPE_FIXED32: 3, WIRETYPE_LENGTH_DELIMITED: 4}


def decode_records(data: bytes, names: Sequence[str], kinds: Sequence[str]) -> pa.Table:
    """The rows of a record stream for columns `names` of MaxCompute types `kinds` (normal
    names: BIGINT, DECIMAL(10,2), …), as an Arrow table; BadStream when a field, a row's
    CRC32C, the row count or the stream's checksum does not check."""
    width = len(kinds)
    columns: list[list[Any]] = [[] for _ in kinds]
    # The tag each column's values come with, and how to read them.
    tags = {
        ((index + 1) << 3) | _wire_type(kind): (
            index,
            1 if kind == "BOOLEAN" else _READS.get(_wire_type(kind), 0),
            struct.pack("<i", index + 1),
        )
        for index, kind in enumerate(kinds)
    }
    crc32c = google_crc32c.value
    checksums = bytearray()
    row: list[Any] = [None] * width
    signed = bytearray()
    count = at = 0
    size = len(data)
    while True:
        if at >= size:
            raise BadStream(
                f"the stream ends after {count} rows without its row count and checksum; send "
                "the whole block (close the writer)"
            )
        tag = data[at]
        if tag < 0x80:
            at += 1
        else:
            tag, at = _varint(data, at)
        found = tags.get(tag)
        if found is not None:
            index, how, number = found
            signed += number
            if how == 4:
                length = data[at]
                if length < 0x80:
                    at += 1
                else:
                    length, at = _varint(data, at)
                if at + length > size:
                    raise BadStream(f"the stream ends inside a value at byte {at}")
                raw = data[at : at + length]
                at += length
                row[index] = raw
                signed += raw
            elif how == 0:
                number_value, at = _varint(data, at)
                value = (number_value >> 1) ^ -(number_value & 1)
                row[index] = value
                signed += _LONG.pack(value)
            elif how == 1:
                flag, at = _varint(data, at)
                row[index] = bool(flag)
                signed += b"\x01" if flag else b"\x00"
            else:
                width_bytes = 8 if how == 2 else 4
                if at + width_bytes > size:
                    raise BadStream(f"the stream ends inside a value at byte {at}")
                raw = data[at : at + width_bytes]
                at += width_bytes
                row[index] = (_DOUBLE if how == 2 else _FLOAT).unpack(raw)[0]
                signed += raw
            continue
        if tag == _END_TAG:
            # PyODPS's compiled writer sends a checksum past 2**31 sign-extended to 64 bits.
            crc, at = _varint(data, at)
            crc &= 0xFFFFFFFF
            if crc != crc32c(bytes(signed)):
                raise BadStream(
                    f"row {count}: its CRC32C does not match its fields; the block was altered "
                    "or cut in transit, send it again"
                )
            for index in range(width):
                columns[index].append(row[index])
            row = [None] * width
            checksums += crc.to_bytes(4, "little")
            signed = bytearray()
            count += 1
            continue
        if tag == _COUNT_TAG:
            sent, at = _varint(data, at)
            if _unzigzag(sent) != count or signed:
                raise BadStream(f"the stream says {_unzigzag(sent)} rows and holds {count}")
            checksum_tag, at = _varint(data, at)
            if checksum_tag >> 3 != META_CHECKSUM:
                raise BadStream("the row count is not followed by the stream's checksum")
            checksum, at = _varint(data, at)
            if checksum & 0xFFFFFFFF != crc32c(bytes(checksums)):
                raise BadStream("the stream's checksum does not match its rows; send it again")
            if at != size:
                raise BadStream(f"{size - at} bytes follow the stream's checksum")
            break
        field = tag >> 3
        if not 1 <= field <= width:
            raise BadStream(
                f"row {count}: field {field} is not a column: the table has {width} "
                f"({', '.join(names)}); write records of the session's schema"
            )
        raise BadStream(
            f"row {count}: column {names[field - 1]} is {kinds[field - 1]}, and the value sent "
            "is not one; write records of the session's schema"
        )
    return _table(names, kinds, columns)


def _table(names: Sequence[str], kinds: Sequence[str], columns: list[list[Any]]) -> pa.Table:
    arrays = []
    for name, kind, values in zip(names, kinds, columns, strict=True):
        try:
            arrays.append(_array(kind, values))
        except (ValueError, ArithmeticError, pa.ArrowInvalid, UnicodeDecodeError) as exc:
            raise BadStream(f"column {name} ({kind}): a value does not fit ({exc})") from exc
    return pa.table(arrays, names=list(names))


def _array(kind: str, values: list[Any]) -> pa.Array:
    if kind in _BOUNDS:
        bound = _BOUNDS[kind]
        if any(v is not None and not -bound <= v < bound for v in values):
            raise ValueError(f"out of {kind}'s range")
        return pa.array(values, pa.int64()).cast(
            {"BIGINT": pa.int64(), "INT": pa.int32(), "SMALLINT": pa.int16()}.get(kind, pa.int8())
        )
    if kind == "DATETIME":  # epoch milliseconds, as naive times
        return pa.array(values, pa.int64()).cast(pa.timestamp("ms")).cast(pa.timestamp("us"))
    if kind == "DATE":  # epoch days
        if any(v is not None and not -(2**31) <= v < 2**31 for v in values):
            raise ValueError("out of DATE's range")
        return pa.array(values, pa.int64()).cast(pa.int32()).cast(pa.date32())
    if kind == "BOOLEAN":
        return pa.array(values, pa.bool_())
    if kind == "DOUBLE":
        return pa.array(values, pa.float64())
    if kind == "FLOAT":
        return pa.array(values, pa.float32())
    if kind.startswith("DECIMAL"):
        precision, scale = (int(p) for p in kind[len("DECIMAL(") : -1].split(","))
        quantum = decimal.Decimal(1).scaleb(-scale)
        parsed = [
            None if v is None else decimal.Decimal(v.decode()).quantize(quantum) for v in values
        ]
        return pa.array(parsed, pa.decimal128(precision, scale))
    return pa.array([None if v is None else v.decode() for v in values], pa.string())
