"""Signing in to the console with an AccessKey pair, and the events that record it.

A sign-in is checked against the stored key (the secret compared in constant time). Service
keys may only record events, so they cannot sign in; neither can a disabled key. Every sign-in,
failed ones included when the key exists, and every sign-out becomes an event in the account's
history (eventType ConsoleSignin / ConsoleSignout), as ActionTrail records console logins.
"""

from __future__ import annotations

import hmac
import time
import uuid
from typing import Any

import orjson

from trailhouse.api.dispatch import Origin
from trailhouse.console.errors import SignInFailed
from trailhouse.events.model import EventRecord
from trailhouse.events.validation import format_event_time
from trailhouse.iam.accounts import AccountService
from trailhouse.iam.principals import Caller

SIGNIN_SERVICE = "Actiontrail"
_WRONG_PAIR = "the AccessKey ID or AccessKey secret is wrong"


def authenticate(accounts: AccountService, access_key_id: str, secret: str) -> Caller:
    """The caller this pair signs in as; SignInFailed (with the caller for a wrong secret,
    so that the failure can be recorded in its account) otherwise."""
    key = accounts.find_key(access_key_id.strip()) if access_key_id else None
    if key is None:
        raise SignInFailed(_WRONG_PAIR)
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


class WrongSecret(SignInFailed):
    """A known key with the wrong secret: refused like any failure, recorded in its account."""

    def __init__(self, caller: Caller) -> None:
        super().__init__(_WRONG_PAIR)
        self.caller = caller


def console_event(
    caller: Caller, event_name: str, region: str, origin: Origin, error: SignInFailed | None = None
) -> EventRecord:
    """The ConsoleSignin or ConsoleSignout event of `caller`, ready for the audit writer."""
    now = int(time.time())
    event_id = str(uuid.uuid4()).upper()
    identity = caller.identity()
    event: dict[str, Any] = {
        "eventId": event_id,
        "eventVersion": "1",
        "eventTime": format_event_time(now),
        "eventSource": f"{SIGNIN_SERVICE.lower()}.{region}.aliyuncs.com",
        "eventName": event_name,
        "eventType": event_name,
        "eventRW": "Write",
        "eventCategory": "Management",
        "acsRegion": region,
        "serviceName": SIGNIN_SERVICE,
        "requestId": event_id,
        "sourceIpAddress": origin.source_ip,
        "userAgent": origin.user_agent,
        "userIdentity": identity,
        "additionalEventData": {"loginAccount": caller.name, "signInMethod": "AccessKey"},
        "recipientAccountId": caller.account_id,
        "isGlobal": False,
    }
    if error is not None:
        event["errorCode"] = error.code
        event["errorMessage"] = error.message
    return EventRecord(
        account_id=caller.account_id,
        event_id=event_id,
        event_time=now,
        event_name=event_name,
        service_name=SIGNIN_SERVICE,
        event_rw="Write",
        user_name=identity.get("userName"),
        access_key_id=caller.access_key_id,
        resource_types=(),
        resource_names=(),
        body=orjson.dumps(event),
    )
