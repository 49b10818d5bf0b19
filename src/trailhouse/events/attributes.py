"""What LookupEvents searches in an event besides its stored fields: values derived the way
ActionTrail derives them, kept in the index only (the stored event stays as sent).

- `eventRW` when an event lacks it (ActionTrail added the field in December 2020; older events
  and some services' events have none): Read when the event name starts with a read verb
  (`READ_PREFIXES`), else Write, sign-ins and sign-outs included.
- SensitiveAction: "true" when the event says so in `eventAttributes.SensitiveAction` (as
  ActionTrail marks the actions on its list of sensitive actions), else "false".
- RoleName: the role an assumed-role identity acts as: `sessionContext.sessionIssuer.userName`
  when present, else the part of `userName` before ':' ("RoleName:RoleSessionName").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec

READ_PREFIXES = ("Describe", "List", "Get", "Query", "Check", "Lookup", "Search", "Head")
SENSITIVE_VALUES = ("true", "false")


@dataclass(frozen=True, slots=True)
class Attributes:
    """The derived lookup values of one event ("" when the event has none)."""

    event_rw: str
    event_type: str
    source_ip: str
    sensitive: str
    role_name: str


def derived_event_rw(event_name: object) -> str:
    """ActionTrail's read/write type of an event that does not state it."""
    if isinstance(event_name, str) and event_name.startswith(READ_PREFIXES):
        return "Read"
    return "Write"


def attributes_of(event: dict[str, Any]) -> Attributes:
    """The derived lookup values of a decoded event."""
    rw = event.get("eventRW")
    identity = event.get("userIdentity")
    return Attributes(
        event_rw=rw if isinstance(rw, str) and rw else derived_event_rw(event.get("eventName")),
        event_type=_text(event.get("eventType")),
        source_ip=_text(event.get("sourceIpAddress")),
        sensitive=sensitive_of(event.get("eventAttributes")),
        role_name=role_name_of(identity) if isinstance(identity, dict) else "",
    )


def attributes_of_body(body: bytes) -> Attributes:
    """The derived lookup values of a stored event's JSON (for events indexed before they were
    kept); all "" but eventRW when the body is not a JSON object."""
    try:
        event = msgspec.json.decode(body)
    except msgspec.DecodeError:
        event = None
    if not isinstance(event, dict):
        return Attributes("Write", "", "", "false", "")
    return attributes_of(event)


def sensitive_of(event_attributes: object) -> str:
    """ "true" or "false": whether `eventAttributes` marks the event sensitive."""
    if isinstance(event_attributes, dict):
        value = event_attributes.get("SensitiveAction")
        if value is True or (isinstance(value, str) and value.lower() == "true"):
            return "true"
    return "false"


def role_name_of(identity: dict[str, Any]) -> str:
    """The role an assumed-role identity acts as ("" for any other identity)."""
    if identity.get("type") != "assumed-role":
        return ""
    context = identity.get("sessionContext")
    if isinstance(context, dict):
        issuer = context.get("sessionIssuer")
        if isinstance(issuer, dict):
            name = issuer.get("userName")
            if isinstance(name, str) and name:
                return name
    user_name = identity.get("userName")
    if isinstance(user_name, str) and user_name:
        return user_name.split(":", 1)[0]
    return ""


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""
