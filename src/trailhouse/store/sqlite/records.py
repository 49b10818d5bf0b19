"""The binary record format of the event log: one framed, checksummed record per event.

A frame is `<payload length u32><crc32 u32><payload>`; the payload holds the sequence number,
times, the id of the zstd dictionary the body was compressed with, the fields the indexer
needs (so it never parses JSON) and the compressed body. A frame that is cut short or fails its
checksum marks the end of what was written before a crash.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

from trailhouse.events.model import EventRecord

FRAME = struct.Struct("<II")
HEAD = struct.Struct("<QqqII")  # seq, event_time, accepted_ms, dict_id, fields length
_FIELD_SEPARATOR = "\x1f"
_VALUE_SEPARATOR = "\x1e"
_MAX_PAYLOAD = 64 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Prepared:
    """An event made ready for the log outside the writer thread: fields and compressed body."""

    account_id: str
    event_id: str
    event_time: int
    fields: bytes
    dict_id: int
    body: bytes


@dataclass(frozen=True, slots=True)
class LogRecord:
    """An event as one frame of the log holds it (body still compressed)."""

    seq: int
    event_time: int
    accepted_ms: int
    dict_id: int
    fields: tuple[str, ...]
    body: bytes

    @property
    def account_id(self) -> str:
        """The account the event belongs to."""
        return self.fields[0]

    @property
    def event_id(self) -> str:
        """The event's id, unique within its account."""
        return self.fields[1]


def encode_fields(record: EventRecord) -> bytes:
    """The indexed fields of `record`, in the order `IndexRow` reads them."""
    return _FIELD_SEPARATOR.join(
        (
            record.account_id,
            record.event_id,
            record.event_name,
            record.service_name,
            record.event_rw,
            record.user_name or "",
            record.access_key_id or "",
            _VALUE_SEPARATOR.join(record.resource_types),
            _VALUE_SEPARATOR.join(record.resource_names),
        )
    ).encode()


def split_values(joined: str) -> list[str]:
    """The resource types or names joined by `encode_fields`."""
    return joined.split(_VALUE_SEPARATOR) if joined else []


def encode(event: Prepared, seq: int, accepted_ms: int) -> bytes:
    """One frame holding `event` as number `seq`."""
    payload = b"".join(
        (
            HEAD.pack(seq, event.event_time, accepted_ms, event.dict_id, len(event.fields)),
            event.fields,
            event.body,
        )
    )
    return FRAME.pack(len(payload), zlib.crc32(payload)) + payload


def decode(buffer: bytes | memoryview, offset: int, end: int) -> tuple[LogRecord, int] | None:
    """The record framed at `offset` and the offset after it; None if torn or corrupt there."""
    if end - offset < FRAME.size:
        return None
    length, crc = FRAME.unpack_from(buffer, offset)
    start = offset + FRAME.size
    stop = start + length
    if length < HEAD.size or length > _MAX_PAYLOAD or stop > end:
        return None
    payload = bytes(buffer[start:stop])
    if zlib.crc32(payload) != crc:
        return None
    seq, event_time, accepted_ms, dict_id, fields_length = HEAD.unpack_from(payload, 0)
    fields_end = HEAD.size + fields_length
    if fields_end > length:
        return None
    try:
        fields = tuple(payload[HEAD.size : fields_end].decode().split(_FIELD_SEPARATOR))
    except UnicodeDecodeError:
        return None
    body = payload[fields_end:]
    return LogRecord(seq, event_time, accepted_ms, dict_id, fields, body), stop
