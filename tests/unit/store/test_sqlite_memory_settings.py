"""The embedded store's memory bounds come from the settings: the tail's bytes (`tail_mb`) and
how much of a day file each connection maps (`index_mmap_mb`), docs/storage.md "Memory"."""

from __future__ import annotations

from pathlib import Path

from test_sqlite_tail import record

from trailhouse.settings import Settings
from trailhouse.store import open_stores
from trailhouse.store.sqlite.days import day_of
from trailhouse.store.sqlite.event_log import SqliteEventLog


def test_the_tail_and_the_day_files_maps_are_bounded_as_the_settings_say(tmp_path: Path) -> None:
    settings = Settings.load(
        {"data_dir": tmp_path / "data", "tail_mb": 1, "index_mmap_mb": 3}, environ={}
    )
    stores = open_stores(settings)
    try:
        events = stores.events
        assert isinstance(events, SqliteEventLog)
        assert events._tail._limit_bytes == 1024 * 1024
        event = record(1)
        events.append([event])
        assert events.catch_up()
        with events._days.reading(day_of(event.event_time)) as conn:
            assert conn is not None
            (mapped,) = conn.execute("PRAGMA mmap_size").fetchone()
        assert mapped == 3 * 1024 * 1024
    finally:
        stores.close()
