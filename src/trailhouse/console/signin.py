"""Signing in to the console with an AccessKey pair, and the events that record it.

A sign-in is checked against the stored key (the secret compared in constant time). Service
keys may only record events, so they cannot sign in; neither can a disabled key. Every sign-in
and every sign-out becomes an event in the account's history (eventType ConsoleSignin /
ConsoleSignout), as ActionTrail records console logins. Failed sign-ins of an existing key are
aggregated (`SignInGuard` counts them): the first failure of a window is recorded at once, the
window's other failures and refused attempts as one event once it has ended, each carrying
`failedAttempts`.
"""

from __future__ import annotations

import hmac
import logging
import time
import uuid
from typing import Any

import orjson

from trailhouse.api.dispatch import Origin
from trailhouse.console.errors import SignInFailed
from trailhouse.events.ingest import IngestService
from trailhouse.events.model import EventRecord
from trailhouse.events.validation import format_event_time
from trailhouse.iam.accounts import AccountService
from trailhouse.iam.principals import Caller
from trailhouse.iam.signin_guard import EndedWindow, SignInGuard

log = logging.getLogger(__name__)

SIGNIN_SERVICE = "Actiontrail"
_WRONG_PAIR = "the AccessKey ID or AccessKey secret is wrong"
# Summary events are named after their window, so recording one twice (two processes, or a
# crash before the window was settled) appends it once: the log is idempotent by eventId.
_SUMMARY_IDS = uuid.UUID("5d0c4a8e-33a5-4bb6-9f0a-6f1f4a3c2b71")


def authenticate(accounts: AccountService, access_key_id: str, secret: str) -> Caller:
    """The caller this pair signs in as; SignInFailed (with the caller for a wrong secret,
    so that the failure can be recorded in its account) otherwise."""
    key = accounts.find_key(access_key_id.strip()) if access_key_id else None
    if key is None:
        raise UnknownKey(_WRONG_PAIR)
    caller = Caller.from_key(key)
    if not hmac.compare_digest(key.secret.encode(), secret.encode()):
        raise WrongSecret(caller)
    if caller.is_service:
        raise SignInFailed(
            f"{key.access_key_id} is a service key, which may only record events; sign in with "
            "an account's root key or a RAM user's key"
        )
    if not key.active:  # told only to whoever holds the secret
        raise SignInFailed(
            f"the AccessKey {key.access_key_id} is disabled; sign in with an active key, or ask "
            "the account's root to enable it"
        )
    return caller


class UnknownKey(SignInFailed):
    """A key ID that exists nowhere: refused with the same message as a wrong secret."""


class WrongSecret(SignInFailed):
    """A known key with the wrong secret: refused like any failure, recorded in its account."""

    def __init__(self, caller: Caller) -> None:
        super().__init__(_WRONG_PAIR)
        self.caller = caller


def console_event(
    caller: Caller, event_name: str, region: str, origin: Origin, error: SignInFailed | None = None
) -> EventRecord:
    """The ConsoleSignin or ConsoleSignout event of `caller`, ready for the audit writer.

    A failed sign-in's event stands for one attempt (`failedAttempts` 1): the first of its
    key's failure window; the window's others are recorded by `failure_summary`.
    """
    now = int(time.time())
    event_id = str(uuid.uuid4()).upper()
    extra: dict[str, Any] = {}
    if error is not None:
        extra = {"errorCode": error.code, "errorMessage": error.message}
    return _signin_record(
        caller,
        event_name,
        event_id,
        now,
        region,
        origin.source_ip,
        origin.user_agent,
        {"failedAttempts": 1} if error is not None else {},
        extra,
    )


def failure_summary(ended: EndedWindow) -> EventRecord | None:
    """The one ConsoleSignin event of a failure window's attempts after its first (recorded at
    once): failed ones in `failedAttempts`, those refused while locked in `refusedAttempts`.
    None when there were none, or when the key ID belongs to no account."""
    window = ended.window
    caller = window.caller
    failed = window.failures - 1
    if caller is None or (failed <= 0 and window.refused <= 0):
        return None
    event_id = str(uuid.uuid5(_SUMMARY_IDS, ended.key)).upper()
    message = (
        f"{failed} more failed and {window.refused} refused sign-ins with this AccessKey ID "
        f"between {format_event_time(int(window.opened_at))} and "
        f"{format_event_time(int(window.last_at))}, from {len(window.source_ips)} address(es)"
    )
    return _signin_record(
        caller,
        "ConsoleSignin",
        event_id,
        int(window.last_at),
        window.region,
        window.last_source_ip,
        window.last_user_agent,
        {
            "failedAttempts": failed,
            "refusedAttempts": window.refused,
            "firstAttemptTime": format_event_time(int(window.opened_at)),
            "lastAttemptTime": format_event_time(int(window.last_at)),
            "sourceIpAddresses": list(window.source_ips),
        },
        {"errorCode": SignInFailed.code, "errorMessage": message},
    )


def record_ended_windows(
    guard: SignInGuard, ingest: IngestService, access_key_id: str | None = None
) -> int:
    """Record each ended failure window (of one key ID, or all) durably, then delete it;
    return how many summary events were written. Windows of unknown key IDs are logged."""
    written = 0
    for ended in guard.ended(access_key_id):
        event = failure_summary(ended)
        if event is not None:
            ingest.record([event])  # durable on return: only then is the window deleted
            written += 1
        elif ended.window.caller is None:
            log.warning(
                "console sign-in: %d failed and %d refused attempts with the unknown AccessKey "
                "ID %r from %s",
                ended.window.failures,
                ended.window.refused,
                ended.window.access_key_id[:32],
                ", ".join(ended.window.source_ips),
            )
        guard.settle(ended)
    return written


def _signin_record(
    caller: Caller,
    event_name: str,
    event_id: str,
    at: int,
    region: str,
    source_ip: str,
    user_agent: str,
    additional: dict[str, Any],
    extra: dict[str, Any],
) -> EventRecord:
    identity = caller.identity()
    event: dict[str, Any] = {
        "eventId": event_id,
        "eventVersion": "1",
        "eventTime": format_event_time(at),
        "eventSource": f"{SIGNIN_SERVICE.lower()}.{region}.aliyuncs.com",
        "eventName": event_name,
        "eventType": event_name,
        "eventRW": "Write",
        "eventCategory": "Management",
        "acsRegion": region,
        "serviceName": SIGNIN_SERVICE,
        "requestId": event_id,
        "sourceIpAddress": source_ip,
        "userAgent": user_agent,
        "userIdentity": identity,
        "additionalEventData": {
            "loginAccount": caller.name,
            "signInMethod": "AccessKey",
            **additional,
        },
        "recipientAccountId": caller.account_id,
        "isGlobal": False,
        **extra,
    }
    return EventRecord(
        account_id=caller.account_id,
        event_id=event_id,
        event_time=at,
        event_name=event_name,
        service_name=SIGNIN_SERVICE,
        event_rw="Write",
        user_name=identity.get("userName"),
        access_key_id=caller.access_key_id,
        resource_types=(),
        resource_names=(),
        body=orjson.dumps(event),
    )
