"""Governance checks of an account (GetGovernanceMetrics): its trails and access keys, each
check a score from 0 to 100 and the rows that explain it, computed at the moment of the call.

ActionTrail documents the response's shape but not its checks; these are trailhouse's, each
from the account's own configuration and recorded events (docs/api.md lists them).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from trailhouse.iam.principals import PrincipalKind
from trailhouse.store.ports import AccessKey
from trailhouse.trails.model import Trail
from trailhouse.usage.access_keys import AccessKeyUsage, UnknownAccessKey

ROTATION_DAYS = 90
UNUSED_DAYS = 90


@dataclass(frozen=True, slots=True)
class Column:
    """A column of a check's rows."""

    name: str
    type: str


@dataclass(frozen=True, slots=True)
class Check:
    """One governance item: its score (0–100) and the rows behind it (a failing item's rows
    name what to fix)."""

    item: str
    score: int
    columns: tuple[Column, ...]
    rows: list[list[str | int]]


def governance(
    account_id: str,
    trails: list[Trail],
    keys: list[AccessKey],
    usage: AccessKeyUsage,
    now: int,
) -> list[Check]:
    """Every check of the account, in a fixed order."""
    active = [key for key in keys if key.active and key.account_id == account_id]
    return [
        _trail_enabled(trails),
        _root_access_key(active),
        _key_rotation(active, now),
        _unused_keys(account_id, active, usage, now),
    ]


def _trail_enabled(trails: list[Trail]) -> Check:
    """A logging trail capturing every region: 100; logging in some regions: 50; none: 0."""
    logging = [t for t in trails if t.is_logging]
    if any(t.trail_region == "All" for t in logging):
        score = 100
    elif logging:
        score = 50
    else:
        score = 0
    rows: list[list[str | int]] = [
        [t.name, t.trail_region, t.status] for t in sorted(trails, key=lambda t: t.name)
    ]
    columns = (
        Column("TrailName", "string"),
        Column("TrailRegion", "string"),
        Column("Status", "string"),
    )
    return Check("ActionTrailEnabled", score, columns, rows)


def _root_access_key(active: list[AccessKey]) -> Check:
    """The root account should have no active AccessKey: 100 without one, else 0."""
    roots = [key for key in active if key.kind == PrincipalKind.ROOT]
    rows: list[list[str | int]] = [[key.access_key_id, key.status] for key in roots]
    columns = (Column("AccessKeyId", "string"), Column("Status", "string"))
    return Check("RootAccessKeyNotExist", 0 if roots else 100, columns, rows)


def _key_rotation(active: list[AccessKey], now: int) -> Check:
    """The share of active keys created within the last 90 days."""
    old = [key for key in active if now - key.created_at > ROTATION_DAYS * 86400]
    rows: list[list[str | int]] = [
        [key.access_key_id, _owner(key), (now - key.created_at) // 86400] for key in old
    ]
    columns = (
        Column("AccessKeyId", "string"),
        Column("UserName", "string"),
        Column("AgeDays", "number"),
    )
    return Check("AccessKeyRotated", _share(len(active) - len(old), len(active)), columns, rows)


def _unused_keys(
    account_id: str, active: list[AccessKey], usage: AccessKeyUsage, now: int
) -> Check:
    """The share of active keys used within the last 90 days (keys younger than that count
    as used)."""
    unused: list[list[str | int]] = []
    for key in active:
        if now - key.created_at <= UNUSED_DAYS * 86400:
            continue
        try:
            last = usage.last_used(account_id, key.access_key_id, now).use
        except UnknownAccessKey:
            last = None
        if last is None or now - last.used_ms // 1000 > UNUSED_DAYS * 86400:
            unused.append([key.access_key_id, _owner(key)])
    columns = (Column("AccessKeyId", "string"), Column("UserName", "string"))
    return Check(
        "AccessKeyUsedRecently", _share(len(active) - len(unused), len(active)), columns, unused
    )


def _owner(key: AccessKey) -> str:
    return "root" if key.kind == PrincipalKind.ROOT else key.name


def _share(good: int, total: int) -> int:
    return 100 if total == 0 else good * 100 // total


class Governance:
    """Runs the checks over the services that hold an account's trails, keys and events."""

    def __init__(
        self,
        trails: Callable[[], list[Trail]],
        keys: Callable[[str], list[AccessKey]],
        usage: AccessKeyUsage,
    ) -> None:
        self._trails = trails
        self._keys = keys
        self._usage = usage

    def checks(self, account_id: str, now: int) -> list[Check]:
        """Every check of the account, computed now."""
        own = [trail for trail in self._trails() if trail.account_id == account_id]
        return governance(account_id, own, self._keys(account_id), self._usage, now)
