"""Access key usage (ActionTrail's GetAccessKeyLastUsed*): when, where, for which service, event
and resource a key was last used, read from the account's own recorded events.

Every read is a lookup of the caller's account by `EventAccessKeyId` in the event log's index,
newest first, over the retained history (ActionTrail covers 400 days; trailhouse keeps
`retention_days`). A question that needs distinct values (products, event names, IP addresses,
resources) scans at most `max_scanned` of the key's newest events; the answer says so
(`ScanResult.complete`). Another account's events are never read: the account id is part of
every lookup, so a key of another account looks like a key that was never used.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import orjson

from trailhouse.events.model import Direction, LoggedEvent, LookupKey, LookupQuery
from trailhouse.iam.principals import PrincipalKind
from trailhouse.store.ports import EventLog, MetadataStore

PAGE = 200
DEFAULT_MAX_SCANNED = 20_000


class Distinct(enum.Enum):
    """What a per-service question lists, each with its newest use."""

    EVENTS = "events"
    IPS = "ips"
    RESOURCES = "resources"


@dataclass(frozen=True, slots=True)
class KeyUse:
    """One use of a key: the event that shows it and what that event names.

    `source` is ActionTrail's event source: `ManagementEvent`, `DataEvent`, or `Internal` for
    an event of another category; `used_ms` the event time in milliseconds.
    """

    service_name: str
    event_name: str
    source: str
    used_ms: int
    ip: str
    resource_type: str
    resource_name: str
    detail: str


@dataclass(frozen=True, slots=True)
class KeyOwnerInfo:
    """Whose key it is, as GetAccessKeyLastUsedInfo shows it."""

    account_id: str
    account_type: str
    user_name: str


@dataclass(frozen=True, slots=True)
class LastUse:
    """The key's owner and its newest use (None when it was not used in the window)."""

    owner: KeyOwnerInfo
    use: KeyUse | None


@dataclass(frozen=True, slots=True)
class ScanResult:
    """Distinct uses, newest first; `complete` is False when the scan stopped at its bound."""

    uses: list[KeyUse]
    complete: bool


class UnknownAccessKey(LookupError):
    """The key is not one of the account's keys and no event of the account used it."""


class AccessKeyUsage:
    """Answers the access key usage questions from the event log's index."""

    def __init__(
        self,
        log: EventLog,
        metadata: MetadataStore,
        retention_days: int,
        max_scanned: int = DEFAULT_MAX_SCANNED,
    ) -> None:
        self._log = log
        self._metadata = metadata
        self._window = retention_days * 86400
        self._max_scanned = max_scanned

    @property
    def window_days(self) -> int:
        """How many days of history the answers cover."""
        return self._window // 86400

    def last_used(self, account_id: str, key_id: str, now: int) -> LastUse:
        """The key's owner and newest use; UnknownAccessKey for a key the account never had."""
        newest = next(self._events(account_id, key_id, None, now, limit=1), None)
        use = _use(newest) if newest is not None else None
        return LastUse(self._owner(account_id, key_id, newest), use)

    def products(self, account_id: str, key_id: str, now: int) -> ScanResult:
        """Each service the key was used for, with its newest use, newest first."""
        self._require_known(account_id, key_id, now)
        return self._distinct(
            self._events(account_id, key_id, None, now), lambda use: (use.service_name,)
        )

    def per_service(
        self, account_id: str, key_id: str, service: str, what: Distinct, now: int
    ) -> ScanResult:
        """The key's distinct event names, IP addresses or resources within one service."""
        self._require_known(account_id, key_id, now)
        events = self._events(account_id, key_id, service, now)
        if what is Distinct.EVENTS:
            return self._distinct(events, lambda use: (use.event_name,))
        if what is Distinct.IPS:
            return self._distinct(events, lambda use: (use.ip,))
        return self._resources(events)

    def _require_known(self, account_id: str, key_id: str, now: int) -> None:
        if self._own_key(account_id, key_id):
            return
        if next(self._events(account_id, key_id, None, now, limit=1), None) is None:
            raise UnknownAccessKey(key_id)

    def _own_key(self, account_id: str, key_id: str) -> bool:
        key = self._metadata.get_access_key(key_id)
        return key is not None and key.account_id == account_id

    def _owner(self, account_id: str, key_id: str, newest: LoggedEvent | None) -> KeyOwnerInfo:
        key = self._metadata.get_access_key(key_id)
        if key is not None and key.account_id == account_id:
            if key.kind == PrincipalKind.ROOT:
                return KeyOwnerInfo(account_id, PrincipalKind.ROOT, "root")
            return KeyOwnerInfo(account_id, key.kind, key.name)
        if newest is None:
            raise UnknownAccessKey(key_id)
        # A key the account no longer has (deleted): who the newest event says used it.
        identity = _identity(newest)
        kind = str(identity.get("type", ""))
        name = "root" if kind == PrincipalKind.ROOT else str(identity.get("userName", ""))
        return KeyOwnerInfo(account_id, kind, name)

    def _events(
        self, account_id: str, key_id: str, service: str | None, now: int, limit: int = 0
    ) -> Iterator[LoggedEvent]:
        """The account's events signed with `key_id`, newest first, within the window, at most
        `limit` (or `max_scanned`) of them."""
        conditions: tuple[tuple[LookupKey, str], ...] = ((LookupKey.EVENT_ACCESS_KEY_ID, key_id),)
        if service is not None:
            conditions += ((LookupKey.SERVICE_NAME, service),)
        remaining = limit or self._max_scanned
        after = None
        while remaining > 0:
            page = self._log.lookup(
                LookupQuery(
                    account_id=account_id,
                    start=now - self._window,
                    end=now,
                    direction=Direction.BACKWARD,
                    conditions=conditions,
                    limit=min(PAGE, remaining),
                    after=after,
                )
            )
            yield from page.events
            remaining -= len(page.events)
            if page.next_position is None:
                return
            after = page.next_position

    def _distinct(
        self, events: Iterator[LoggedEvent], key: Callable[[KeyUse], tuple[str, ...]]
    ) -> ScanResult:
        seen: dict[tuple[str, ...], KeyUse] = {}
        scanned = 0
        for event in events:
            scanned += 1
            use = _use(event)
            seen.setdefault(key(use), use)
        return ScanResult(list(seen.values()), scanned < self._max_scanned)

    def _resources(self, events: Iterator[LoggedEvent]) -> ScanResult:
        seen: dict[tuple[str, str], KeyUse] = {}
        scanned = 0
        for event in events:
            scanned += 1
            use = _use(event)
            for resource_type, name in _resources_of(orjson.loads(event.body)):
                seen.setdefault(
                    (resource_type, name),
                    KeyUse(
                        use.service_name,
                        use.event_name,
                        use.source,
                        use.used_ms,
                        use.ip,
                        resource_type,
                        name,
                        use.detail,
                    ),
                )
        return ScanResult(list(seen.values()), scanned < self._max_scanned)


def _identity(event: LoggedEvent) -> dict[str, object]:
    body = orjson.loads(event.body)
    identity = body.get("userIdentity") if isinstance(body, dict) else None
    return identity if isinstance(identity, dict) else {}


def _use(event: LoggedEvent) -> KeyUse:
    body = orjson.loads(event.body)
    category = str(body.get("eventCategory", "Management"))
    source = {"Management": "ManagementEvent", "Data": "DataEvent"}.get(category, "Internal")
    return KeyUse(
        service_name=str(body.get("serviceName", "")),
        event_name=str(body.get("eventName", "")),
        source=source,
        used_ms=event.event_time * 1000,
        ip=str(body.get("sourceIpAddress", "")),
        resource_type="",
        resource_name="",
        detail=event.body.decode("utf-8"),
    )


def _resources_of(body: dict[str, object]) -> list[tuple[str, str]]:
    """(type, name) pairs of an event: `resourceType` "A;B" pairs with `resourceName`
    "a1,a2;b1" group by group, each group's names split on commas."""
    types = str(body.get("resourceType") or "").split(";")
    groups = str(body.get("resourceName") or "").split(";")
    pairs: list[tuple[str, str]] = []
    for resource_type, group in zip(types, groups, strict=False):
        if not resource_type:
            continue
        pairs += [(resource_type, name) for name in group.split(",") if name]
    return pairs
