"""The action table: each RPC action, its handler, and how it is audited.

Handlers are named after their action in snake_case (`LookupEvents` → `lookup_events`), take an
`ActionContext` and return the response fields (the dispatcher adds `RequestId`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from trailhouse.iam.principals import Caller
from trailhouse.runtime import Services


@dataclass(frozen=True, slots=True)
class ActionContext:
    """One authenticated call: who made it, its parameters and body."""

    services: Services
    caller: Caller
    action: str
    params: Mapping[str, str]
    body: bytes
    content_type: str
    request_id: str
    source_ip: str
    user_agent: str
    region: str
    # True when the call came through the web console (`/console/api/<Action>`), not signed.
    via_console: bool = False
    # Resources the call touched, as (resourceType, resourceName), for its audit event.
    resources: list[tuple[str, str]] = field(default_factory=list)


Handler = Callable[[ActionContext], dict[str, Any]]


@dataclass(frozen=True, slots=True)
class Action:
    """An RPC action: its handler, whether it only reads, how it is audited and authorised.

    `permission` is the RAM action a RAM user needs (empty: any key of the account may call
    it); `root_only` actions are refused to every key but the account's root key.
    """

    name: str
    handler: Handler
    read_only: bool
    audited: bool = True
    service_name: str = "Actiontrail"
    api_version: str = "2020-07-06"
    permission: str = ""
    root_only: bool = False


def action_table(*actions: Action) -> Mapping[str, Action]:
    """The table the dispatcher looks actions up in."""
    return {action.name: action for action in actions}
