"""The embedded storage adapter: an append-first event log with a per-day SQLite history index,
and a SQLite metadata store, all in files under `settings.data_dir`."""

from __future__ import annotations

from trailhouse.settings import Settings
from trailhouse.store import Stores
from trailhouse.store.migrations import SchemaStatus, status
from trailhouse.store.sqlite.event_log import SqliteEventLog
from trailhouse.store.sqlite.metadata import SQLITE_MIGRATIONS, SqliteMetadataStore

__all__ = [
    "SqliteEventLog",
    "SqliteMetadataStore",
    "open_metadata",
    "open_stores",
    "upgrade_schema",
]


def open_metadata(settings: Settings) -> SqliteMetadataStore:
    """Open (creating) only the metadata store under `settings.data_dir`."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return SqliteMetadataStore(settings.data_dir)


def open_stores(settings: Settings) -> Stores:
    """Open (creating) the event log and metadata store under `settings.data_dir`."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    metadata = SqliteMetadataStore(settings.data_dir)
    try:
        events = SqliteEventLog(
            settings.data_dir / "events",
            gather_seconds=settings.group_commit_seconds,
            segment_bytes=settings.log_segment_bytes,
            mmap_bytes=settings.index_mmap_mb * 1024 * 1024,
            tail_bytes=settings.tail_mb * 1024 * 1024,
            index_process=settings.index_process,
        )
    except BaseException:
        metadata.close()
        raise
    return Stores(events=events, metadata=metadata, one_process=True)


def upgrade_schema(settings: Settings) -> SchemaStatus:
    """Open the metadata store, which migrates it, and report where its schema is."""
    store = open_metadata(settings)
    try:
        current = store.schema_version()
    finally:
        store.close()
    return status(f"SQLite store {settings.data_dir}", current, SQLITE_MIGRATIONS)
