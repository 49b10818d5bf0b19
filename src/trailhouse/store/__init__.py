"""Storage: the ports services use, and the registry that picks an adapter for them.

Only `open_stores` (below) imports an adapter, and it does so lazily, so that the embedded
default never imports psycopg and a missing optional dependency names the extra to install.
"""

from __future__ import annotations

import enum
import importlib
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from trailhouse.errors import SettingsError
from trailhouse.settings import Settings
from trailhouse.store.migrations import SchemaStatus
from trailhouse.store.ports import EventLog, MetadataStore


class StoreKind(enum.Enum):
    """The storage adapters trailhouse ships."""

    SQLITE = "sqlite"
    POSTGRES = "postgres"


@dataclass(frozen=True, slots=True)
class Stores:
    """The opened stores a process works with."""

    events: EventLog
    metadata: MetadataStore
    # True when the store admits one process at a time (the SQLite log's lock): whatever work
    # another process left in it (a SQL job Running) ended when that process did.
    one_process: bool = False

    def close(self) -> None:
        """Close both stores; the event log last, so pending appends finish."""
        self.metadata.close()
        self.events.close()


_ADAPTERS = {
    StoreKind.SQLITE: ("trailhouse.store.sqlite", None),
    StoreKind.POSTGRES: ("trailhouse.store.postgres", "postgres"),
}


def store_kind(settings: Settings) -> StoreKind:
    """Which adapter `settings` asks for: PostgreSQL for a postgresql:// URL, else SQLite."""
    url = settings.database_url
    if not url:
        return StoreKind.SQLITE
    if url.startswith(("postgresql://", "postgres://")):
        return StoreKind.POSTGRES
    raise SettingsError(f"database_url {url!r} must be empty (SQLite) or start with postgresql://")


def open_stores(settings: Settings) -> Stores:
    """Open the event log and metadata store that `settings` selects."""
    stores: Stores = _adapter(settings).open_stores(settings)
    return stores


def open_metadata(settings: Settings) -> MetadataStore:
    """Open only the metadata store: for administration while a server holds the event log."""
    metadata: MetadataStore = _adapter(settings).open_metadata(settings)
    return metadata


def upgrade_schema(settings: Settings) -> SchemaStatus:
    """Bring the store's schema to this trailhouse's version (`trailhouse db upgrade`)."""
    result: SchemaStatus = _adapter(settings).upgrade_schema(settings)
    return result


def _adapter(settings: Settings) -> ModuleType:
    kind = store_kind(settings)
    module_name, extra = _ADAPTERS[kind]
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if extra is None:
            raise
        raise SettingsError(
            f"the {kind.value} store needs an optional dependency ({exc.name}): "
            f"pip install 'trailhouse[{extra}]'"
        ) from exc


def data_path(settings: Settings, *parts: str) -> Path:
    """A path under the data directory, creating the directory."""
    path = settings.data_dir.joinpath(*parts)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path
