"""An account's activity by day and its resources' lifecycle events, counted from its own
recorded events (DescribeUserLogCount, DescribeUserAlertCount, DescribeResourceLifeCycleEvents).

Daily counts are counted in the event log's index (`EventLog.count_by_day`); lifecycle groups
read the account's newest events a page at a time; nothing of another account is read. Alerts
are Insights events; trailhouse raises none (it has no Insights yet), so every day counts 0
alerts (docs/api.md).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

import orjson

from trailhouse.events.model import Direction, LoggedEvent, LookupKey, LookupQuery
from trailhouse.store.ports import EventLog

PAGE = 1000
DEFAULT_DAYS = 30
DEFAULT_LIFECYCLE_SCAN = 20_000

# How ActionTrail's console groups a resource's lifecycle: the verb its event name starts with.
LIFECYCLE_VERBS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Create Events", ("Create", "Run", "Allocate", "Add", "Put", "Import")),
    ("Delete Events", ("Delete", "Release", "Remove")),
    ("Modify Events", ("Modify", "Update", "Set", "Attach", "Detach", "Change", "Replace")),
    ("Start Events", ("Start", "Enable", "Resume")),
    ("Stop Events", ("Stop", "Disable", "Suspend")),
)


class InvalidRange(ValueError):
    """The day range is malformed, reversed or outside the kept history; `combination` is True
    when only the order of the two days is wrong."""

    def __init__(self, message: str, combination: bool = False) -> None:
        super().__init__(message)
        self.combination = combination


@dataclass(frozen=True, slots=True)
class DailyCounts:
    """One count per UTC day, in day order (`YYYY-MM-DD`)."""

    dates: list[str]
    counts: list[int]


@dataclass(frozen=True, slots=True)
class LifecycleGroup:
    """One resource type of one service and its events grouped by lifecycle verb."""

    service_name: str
    resource_type: str
    groups: dict[str, list[str]]


class Activity:
    """Counts and lifecycle groups over an account's recorded events."""

    def __init__(
        self, log: EventLog, retention_days: int, lifecycle_scan: int = DEFAULT_LIFECYCLE_SCAN
    ) -> None:
        self._log = log
        self._retention_days = retention_days
        self._lifecycle_scan = lifecycle_scan

    def day_range(self, start: str | None, end: str | None, today: dt.date) -> list[dt.date]:
        """The days from `start` to `end` inclusive (`YYYY-MM-DD`); without them the last
        30 days up to yesterday, as ActionTrail does."""
        last = _day(end, "EndDate") if end else today - dt.timedelta(days=1)
        first = _day(start, "StartDate") if start else last - dt.timedelta(days=DEFAULT_DAYS - 1)
        if last < first:
            raise InvalidRange("EndDate must not be earlier than StartDate", combination=True)
        oldest = today - dt.timedelta(days=self._retention_days)
        if first < oldest:
            raise InvalidRange(
                f"StartDate {first.isoformat()} is more than {self._retention_days} days ago; "
                f"trailhouse keeps {self._retention_days} days of history, so start on "
                f"{oldest.isoformat()} or later"
            )
        if last > today:
            raise InvalidRange(f"EndDate {last.isoformat()} is in the future")
        return [first + dt.timedelta(days=n) for n in range((last - first).days + 1)]

    def log_counts(self, account_id: str, days: list[dt.date]) -> DailyCounts:
        """How many events the account recorded on each day (counted in the log's index)."""
        start = _midnight(days[0])
        counted = self._log.count_by_day(account_id, start, _midnight(days[-1]) + 86399)
        return DailyCounts(
            [d.isoformat() for d in days], [counted.get(_midnight(d), 0) for d in days]
        )

    def alert_counts(self, account_id: str, days: list[dt.date]) -> DailyCounts:
        """How many alerts (Insights events) the account had on each day: none, trailhouse
        raises no Insights events."""
        return DailyCounts([d.isoformat() for d in days], [0 for _ in days])

    def lifecycle(
        self, account_id: str, service: str | None, resource_type: str | None, now: int
    ) -> list[LifecycleGroup]:
        """The account's resource types (of `service`, of `resource_type`) and the event names
        that created, deleted, changed, started or stopped them, from its newest events."""
        conditions: tuple[tuple[LookupKey, str], ...] = ()
        if service:
            conditions += ((LookupKey.SERVICE_NAME, service),)
        if resource_type:
            conditions += ((LookupKey.RESOURCE_TYPE, resource_type),)
        found: dict[tuple[str, str], dict[str, set[str]]] = {}
        start = now - self._retention_days * 86400
        for event in self._pages(account_id, start, now, conditions, self._lifecycle_scan):
            body = orjson.loads(event.body)
            group = _verb_group(str(body.get("eventName", "")))
            if group is None:
                continue
            service_name = str(body.get("serviceName", ""))
            for kind in str(body.get("resourceType") or "").split(";"):
                if kind and (not resource_type or kind == resource_type):
                    groups = found.setdefault((service_name, kind), {})
                    groups.setdefault(group, set()).add(str(body["eventName"]))
        return [
            LifecycleGroup(
                service_name,
                kind,
                {label: sorted(groups[label]) for label, _ in LIFECYCLE_VERBS if label in groups},
            )
            for (service_name, kind), groups in sorted(found.items())
        ]

    def _pages(
        self,
        account_id: str,
        start: int,
        end: int,
        conditions: tuple[tuple[LookupKey, str], ...],
        at_most: int,
    ) -> Iterator[LoggedEvent]:
        after = None
        read = 0
        while read < at_most:
            limit = min(PAGE, at_most - read)
            page = self._log.lookup(
                LookupQuery(
                    account_id=account_id,
                    start=start,
                    end=end,
                    direction=Direction.BACKWARD,
                    conditions=conditions,
                    limit=limit,
                    after=after,
                )
            )
            yield from page.events
            read += len(page.events)
            if page.next_position is None:
                return
            after = page.next_position


def _midnight(day: dt.date) -> int:
    return int(dt.datetime.combine(day, dt.time(), dt.UTC).timestamp())


def _day(value: str, name: str) -> dt.date:
    try:
        if len(value) != 10 or not value.isascii():
            raise ValueError(value)
        return dt.date.fromisoformat(value)
    except ValueError:
        raise InvalidRange(f"{name} must be a day written yyyy-MM-dd, not {value!r}") from None


def _verb_group(event_name: str) -> str | None:
    for label, verbs in LIFECYCLE_VERBS:
        if any(
            event_name.startswith(verb)
            and (len(event_name) == len(verb) or not event_name[len(verb)].islower())
            for verb in verbs
        ):
            return label
    return None
