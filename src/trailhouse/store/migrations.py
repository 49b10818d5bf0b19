"""Versioned schema migrations for both stores, and the check every process makes at start.

Each adapter numbers its schema: a fresh store is created at the newest version; an older one
is brought up by its migrations, in order, each in its own transaction with the new version.
A process refuses to run against a schema newer than it knows, saying so. The embedded SQLite
store (one process) migrates itself when opened; a PostgreSQL store, shared by several
processes, is migrated by `trailhouse db upgrade`, and until then processes refuse to start.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from trailhouse.errors import StoreError

C = TypeVar("C")


class SchemaTooNew(StoreError):
    """The store was migrated by a newer trailhouse than this one."""


class SchemaNeedsUpgrade(StoreError):
    """The store's schema is older than this trailhouse; `trailhouse db upgrade` brings it up."""


@dataclass(frozen=True, slots=True)
class Migration(Generic[C]):
    """One step from `version - 1` to `version`: what it does and how."""

    version: int
    description: str
    apply: Callable[[C], None]


@dataclass(frozen=True, slots=True)
class SchemaStatus:
    """Where a store's schema is, and the newest version this trailhouse knows."""

    store: str
    current: int
    latest: int


def latest_version(migrations: Sequence[Migration[C]]) -> int:
    """The newest version the migrations reach (1 = the schema created fresh, no step)."""
    return max((m.version for m in migrations), default=1)


def check(store: str, current: int, migrations: Sequence[Migration[C]]) -> None:
    """Refuse a schema newer than this trailhouse knows, naming both versions."""
    latest = latest_version(migrations)
    if current > latest:
        raise SchemaTooNew(
            f"{store} has schema version {current}, newer than this trailhouse knows ({latest}); "
            "run a trailhouse at least as new as the one that upgraded it"
        )


def pending(current: int, migrations: Sequence[Migration[C]]) -> list[Migration[C]]:
    """The steps from `current` to the newest version, in order."""
    return sorted((m for m in migrations if m.version > current), key=lambda m: m.version)


def status(store: str, current: int, migrations: Sequence[Migration[C]]) -> SchemaStatus:
    """What `trailhouse db upgrade` reports."""
    return SchemaStatus(store, current, latest_version(migrations))
