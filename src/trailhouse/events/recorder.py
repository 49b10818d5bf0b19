"""Who recorded an event: the key and principal whose PutEvents call stored it, or trailhouse.

ActionTrail events have no such field, and the body a producer sent is delivered and digested as
sent, so the recorder is kept beside the body: in the event log's record, the warehouse's
`recorded_by` column, and, for LookupEvents and the console, one extra key appended to each
event returned. It is compact JSON text, built here and nowhere else:
`{"type": ..., "accessKeyId": ..., "principalId": ..., "accountId": ..., "userName": ...}`, where
`type` is the key's kind (`root-account`, `ram-user`, `service`), `trailhouse` for the events
trailhouse writes itself (its self-audit and console sign-ins), or `unknown` for events recorded
before trailhouse kept recorders (stored as "").
"""

from __future__ import annotations

import orjson

from trailhouse.iam.principals import Caller

# The key LookupEvents adds to each event; a producer's event may not carry it (it is refused).
RECORDER_FIELD = "trailhouseRecorder"
TRAILHOUSE = '{"type":"trailhouse"}'
UNKNOWN = '{"type":"unknown"}'
_SPLICE = b',"' + RECORDER_FIELD.encode() + b'":'


def recorder_of(caller: Caller) -> str:
    """The recorder of the events `caller` records: its key, principal, account and name."""
    recorder = {
        "type": caller.kind,
        "accessKeyId": caller.access_key_id,
        "principalId": caller.principal_id,
        "accountId": caller.account_id,
        "userName": caller.name,
    }
    return orjson.dumps({k: v for k, v in recorder.items() if v}).decode()


def shown(stored: str) -> str:
    """The recorder as shown to readers: `unknown` for an event recorded before recorders."""
    return stored or UNKNOWN


def with_recorder(body: bytes, stored: str) -> bytes:
    """The event's JSON with its recorder appended as the last key, `trailhouseRecorder`.

    Last, so that a parser keeping the last of repeated keys shows trailhouse's value even for
    an event stored before such keys were refused."""
    text = body.rstrip()
    return text[:-1] + _SPLICE + shown(stored).encode() + b"}"


def same_principal(first: str, second: str) -> bool:
    """True when two stored recorders are the same principal (any of its keys), or when either
    is unknown (nothing tells them apart)."""
    if not first or not second:
        return True
    a, b = orjson.loads(first), orjson.loads(second)
    return all(a.get(k) == b.get(k) for k in ("type", "accountId", "principalId"))
