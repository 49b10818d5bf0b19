"""The binary record format of the event log: one framed, checksummed record per event.

A frame is `<payload length u32><crc32 u32><payload>`; the payload holds the sequence number,
times, the id of the zstd dictionary the body was compressed with, the fields the indexer
needs (so it never parses JSON) and the compressed body. A frame that is cut short or fails its
checksum marks the end of what was written before a crash.

The indexed fields are a MessagePack array of fourteen: seven strings, the resource types and
names as arrays, who recorded the event (`events/recorder.py`, compact JSON), then the values
LookupEvents derives (`events/attributes.py`: eventType, sourceIpAddress, SensitiveAction,
RoleName). Every value carries its own length, so no byte of any field (a `\x1f` in a resource
name, say) can move another field or split a value: what is indexed is what was sent. Records
written before the derived values were kept are arrays of ten (nine before the recorder, read
with the recorder "" (unknown)); their derived values are None, taken from the body when
indexed. Logs written before the packed format joined the fields with `\x1f` and the resource
values with `\x1e`; they are still read, recorder unknown too. None of these mix up:
MessagePack's arrays of nine, ten and fourteen start with bytes 0x99, 0x9a and 0x9e, which no
UTF-8 text does.
"""

from __future__ import annotations

import struct
import zlib

import msgspec

from trailhouse.events.model import EventRecord

FRAME = struct.Struct("<II")
HEAD = struct.Struct("<QqqII")  # seq, event_time, accepted_ms, dict_id, fields length
_FRAMED_HEAD = struct.Struct("<IIQqqII")  # FRAME then HEAD, unpacked at once
_MAX_PAYLOAD = 64 * 1024 * 1024
_LEGACY_FIELDS = 9  # fields before the recorder, in legacy records and arrays of nine
_PACKED_NINE = 0x99  # MessagePack's first byte of an array of nine (no recorder)
_PACKED_TEN = 0x9A  # and of ten (with the recorder, before the derived values)
_PACKED = 0x9E  # and of fourteen: what `pack_fields` writes
_LEGACY_FIELD_SEPARATOR = "\x1f"
_LEGACY_VALUE_SEPARATOR = "\x1e"

_TenFields = tuple[str, str, str, str, str, str, str, tuple[str, ...], tuple[str, ...], str]
_NineFields = tuple[str, str, str, str, str, str, str, tuple[str, ...], tuple[str, ...]]
_FourteenFields = tuple[
    str, str, str, str, str, str, str, tuple[str, ...], tuple[str, ...], str, str, str, str, str
]
# The ten fields every format has, then eventType, sourceIpAddress, SensitiveAction, RoleName
# (None in records written before they were kept).
Fields = tuple[
    str,
    str,
    str,
    str,
    str,
    str,
    str,
    tuple[str, ...],
    tuple[str, ...],
    str,
    str | None,
    str | None,
    str | None,
    str | None,
]
# `fields_of`'s fields as the log's frame holds them (called once per event appended).
pack_fields = msgspec.msgpack.Encoder().encode
_unpack_fields = msgspec.msgpack.Decoder(_FourteenFields).decode
_unpack_ten = msgspec.msgpack.Decoder(_TenFields).decode
_unpack_nine = msgspec.msgpack.Decoder(_NineFields).decode
_UNKNOWN = (None, None, None, None)


class Prepared(msgspec.Struct, frozen=True, gc=False):
    """An event made ready for the log outside the writer thread: fields and compressed body."""

    account_id: str
    event_id: str
    event_time: int
    fields: bytes
    dict_id: int
    body: bytes
    recorder: str = ""  # also inside `fields`; kept apart for the writer's pending keys
    # `fields` decoded, for the unindexed tail (`store/sqlite/tail.py`); None: decode `fields`.
    values: Fields | None = None


class LogRecord(msgspec.Struct, frozen=True, gc=False, array_like=True):
    """An event as one frame of the log holds it: the indexed fields, the body still compressed.

    Optional fields are "" when absent. Untracked by the garbage collector: the indexer goes
    through millions of them. Encoded as an array (no field names) where MessagePack carries
    it: to the index process (`index_process.py`).
    """

    seq: int
    event_time: int
    accepted_ms: int
    dict_id: int
    account_id: str
    event_id: str
    event_name: str
    service_name: str
    event_rw: str
    user_name: str
    access_key_id: str
    resource_types: tuple[str, ...]
    resource_names: tuple[str, ...]
    recorder: str
    body: bytes
    # `events/attributes.py`; None in records written before they were kept (the indexer takes
    # them from the body).
    event_type: str | None = None
    source_ip: str | None = None
    sensitive: str | None = None
    role_name: str | None = None


class EventFrame(msgspec.Struct, frozen=True, gc=False):
    """What delivery reads of a record: no indexed field beyond the account, event id and
    recorder, and the body still compressed. Untracked by the garbage collector: a backfill
    reads millions."""

    seq: int
    event_time: int
    accepted_ms: int
    dict_id: int
    account_id: str
    event_id: str
    recorder: str
    body: bytes


def fields_of(record: EventRecord, shared: dict[str, str]) -> _FourteenFields:
    """The indexed fields of `record`, in the order `LogRecord` holds them, each string that
    repeats from event to event (`tail.SharedStrings`) as the equal one `shared` already holds.
    `shared.setdefault` is called directly: on ingest's path, twelve Python calls an event to a
    method that did the same cost ~4 µs of the GIL's time."""
    share = shared.setdefault
    user = record.user_name or ""
    key = record.access_key_id or ""
    return (
        share(record.account_id, record.account_id),
        record.event_id,
        share(record.event_name, record.event_name),
        share(record.service_name, record.service_name),
        share(record.event_rw, record.event_rw),
        share(user, user),
        share(key, key),
        tuple([share(value, value) for value in record.resource_types]),
        record.resource_names,
        share(record.recorder, record.recorder),
        share(record.event_type, record.event_type),
        share(record.source_ip, record.source_ip),
        share(record.sensitive, record.sensitive),
        share(record.role_name, record.role_name),
    )


def tail_record(event: Prepared, seq: int, accepted_ms: int) -> LogRecord:
    """The record `encode(event, seq, accepted_ms)` frames, as `scan_records` would read it."""
    values = event.values if event.values is not None else decode_fields(event.fields)
    (_, _, name, service, rw, user, key, types, names, recorder, *derived) = values
    event_type, source_ip, sensitive, role_name = derived
    return LogRecord(
        seq,
        event.event_time,
        accepted_ms,
        event.dict_id,
        event.account_id,
        event.event_id,
        name,
        service,
        rw,
        user,
        key,
        types,
        names,
        recorder,
        event.body,
        event_type,
        source_ip,
        sensitive,
        role_name,
    )


def decode_fields(raw: bytes) -> Fields:
    """The indexed fields of one record, whichever format wrote them (the recorder "" when it
    predates recorders, the derived values None when they predate them); ValueError when they
    are none (the frame passed its checksum, so only a bug could write that)."""
    first = raw[:1]
    try:
        if first == bytes((_PACKED,)):
            return _unpack_fields(raw)
        if first == bytes((_PACKED_TEN,)):
            return (*_unpack_ten(raw), *_UNKNOWN)
        if first == bytes((_PACKED_NINE,)):
            return (*_unpack_nine(raw), "", *_UNKNOWN)
    except msgspec.DecodeError as exc:
        raise ValueError(f"unreadable record fields: {exc}") from exc
    return _legacy_fields(raw.decode())


def _legacy_fields(text: str) -> Fields:
    """Fields joined by separators (logs written before the packed format). A value holding
    the separator was ambiguous there; the event id takes what lies between the account and the
    last seven fields, as it always did."""
    parts = text.split(_LEGACY_FIELD_SEPARATOR)
    if len(parts) < _LEGACY_FIELDS:
        parts += [""] * (_LEGACY_FIELDS - len(parts))
    elif len(parts) > _LEGACY_FIELDS:
        tail = len(parts) - (_LEGACY_FIELDS - 2)
        parts = [parts[0], _LEGACY_FIELD_SEPARATOR.join(parts[1:tail]), *parts[tail:]]
    account, event_id, name, service, rw, user, key, types, names = parts
    return (
        account,
        event_id,
        name,
        service,
        rw,
        user,
        key,
        _values(types),
        _values(names),
        "",
        *_UNKNOWN,
    )


def _values(joined: str) -> tuple[str, ...]:
    return tuple(joined.split(_LEGACY_VALUE_SEPARATOR)) if joined else ()


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


def decode(buffer: bytes, offset: int) -> tuple[LogRecord, int] | None:
    """The record framed at `offset` and the offset after it; None if torn or corrupt there."""
    found: list[LogRecord] = []
    stop = scan_records(buffer, 0, 1, found, offset)
    return (found[0], stop) if found else None


def scan_events(buffer: bytes, after: int, limit: int, found: list[EventFrame]) -> int:
    """Add the records framed in `buffer` with seq above `after` to `found` (up to `limit` in
    all); return the offset after the last whole, sound frame read.

    The light twin of `decode` for readers that need no indexed field beyond the account, event
    id and recorder: one unpack per frame and no `LogRecord`. It stops early, like `decode`, at a
    frame cut short by the end of `buffer` or failing its checksum; the caller tells which.
    """
    unpack = _FRAMED_HEAD.unpack_from
    crc32 = zlib.crc32
    add = found.append
    head_end = FRAME.size + HEAD.size
    end = len(buffer)
    offset = 0
    while len(found) < limit and end - offset >= head_end:
        length, crc, seq, event_time, accepted_ms, dict_id, fields_length = unpack(buffer, offset)
        start = offset + FRAME.size
        stop = start + length
        fields_start = offset + head_end
        fields_end = fields_start + fields_length
        if stop > end or not HEAD.size <= length <= _MAX_PAYLOAD or fields_end > stop:
            break
        if crc32(buffer[start:stop]) != crc:
            break
        if seq > after:
            try:
                fields = decode_fields(buffer[fields_start:fields_end])
            except ValueError:  # UnicodeDecodeError included
                break
            body = buffer[fields_end:stop]
            add(
                EventFrame(
                    seq, event_time, accepted_ms, dict_id, fields[0], fields[1], fields[9], body
                )
            )
        offset = stop
    return offset


def scan_records(
    buffer: bytes, after: int, limit: int, found: list[LogRecord], start: int = 0
) -> int:
    """Like `scan_events` (from offset `start`), with every indexed field of each record: what
    the indexer needs."""
    unpack = _FRAMED_HEAD.unpack_from
    crc32 = zlib.crc32
    add = found.append
    head_end = FRAME.size + HEAD.size
    end = len(buffer)
    offset = start
    while len(found) < limit and end - offset >= head_end:
        length, crc, seq, event_time, accepted_ms, dict_id, fields_length = unpack(buffer, offset)
        start = offset + FRAME.size
        stop = start + length
        fields_start = offset + head_end
        fields_end = fields_start + fields_length
        if stop > end or not HEAD.size <= length <= _MAX_PAYLOAD or fields_end > stop:
            break
        if crc32(buffer[start:stop]) != crc:
            break
        if seq > after:
            try:
                fields = decode_fields(buffer[fields_start:fields_end])
            except ValueError:  # UnicodeDecodeError included
                break
            (account, event_id, name, service, rw, user, key, types, names, recorder, *derived) = (
                fields
            )
            event_type, source_ip, sensitive, role_name = derived
            body = buffer[fields_end:stop]
            add(
                LogRecord(
                    seq,
                    event_time,
                    accepted_ms,
                    dict_id,
                    account,
                    event_id,
                    name,
                    service,
                    rw,
                    user,
                    key,
                    types,
                    names,
                    recorder,
                    body,
                    event_type,
                    source_ip,
                    sensitive,
                    role_name,
                )
            )
        offset = stop
    return offset
