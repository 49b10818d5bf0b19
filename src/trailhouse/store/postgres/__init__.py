"""The PostgreSQL storage adapter: several trailhouse processes share one database.

The schema is created on open in the first schema of the URL's search_path (see `schema.py`).
"""

from __future__ import annotations

from trailhouse.settings import Settings
from trailhouse.store import Stores
from trailhouse.store.migrations import SchemaStatus, status
from trailhouse.store.postgres.event_log import PostgresEventLog
from trailhouse.store.postgres.metadata import PostgresMetadataStore
from trailhouse.store.postgres.pool import ConnectionPool
from trailhouse.store.postgres.schema import POSTGRES_MIGRATIONS, create_schema

__all__ = [
    "PostgresEventLog",
    "PostgresMetadataStore",
    "open_metadata",
    "open_stores",
    "upgrade_schema",
]

_EVENT_CONNECTIONS = 8
_METADATA_CONNECTIONS = 4


def open_stores(settings: Settings) -> Stores:
    """Open the event log and metadata store in `settings.database_url`, creating the schema."""
    event_pool = _pool_with_schema(settings.database_url, _EVENT_CONNECTIONS)
    metadata_pool = ConnectionPool(settings.database_url, max_size=_METADATA_CONNECTIONS)
    return Stores(
        events=PostgresEventLog(event_pool), metadata=PostgresMetadataStore(metadata_pool)
    )


def open_metadata(settings: Settings) -> PostgresMetadataStore:
    """Open only the metadata store in `settings.database_url`, creating the schema."""
    return PostgresMetadataStore(_pool_with_schema(settings.database_url, _METADATA_CONNECTIONS))


def _pool_with_schema(url: str, size: int) -> ConnectionPool:
    """A connection pool on a database whose schema is created (idempotently) first."""
    pool = ConnectionPool(url, max_size=size)
    try:
        with pool.connection() as conn:
            create_schema(conn)
    except BaseException:
        pool.close()
        raise
    return pool


def upgrade_schema(settings: Settings) -> SchemaStatus:
    """Apply the migrations this trailhouse has and the database lacks; report its schema."""
    pool = ConnectionPool(settings.database_url, max_size=1)
    try:
        with pool.connection() as conn:
            current = create_schema(conn, upgrade=True)
    finally:
        pool.close()
    return status("PostgreSQL database", current, POSTGRES_MIGRATIONS)
