"""State that an older release could leave and today's checks would refuse to create."""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
from pathlib import Path

from trailhouse.runtime import Services
from trailhouse.store.documents import encode
from trailhouse.store.ports import DocumentWrite
from trailhouse.trails.model import TRAIL_KIND, Destinations, Trail, TrailStatus


def stored_trail(
    services: Services, account_id: str, name: str, region: str, destinations: Destinations
) -> Trail:
    """A trail written as it is stored, without today's creation checks, then started."""
    now = int(time.time())
    trail = Trail(
        account_id=account_id,
        name=name,
        home_region=region,
        trail_region="All",
        event_rw="All",
        organization_id="",
        destinations=destinations,
        status=TrailStatus.FRESH.value,
        create_time=now,
        update_time=now,
    )
    services.stores.metadata.commit([DocumentWrite(TRAIL_KIND, account_id, name, encode(trail), 0)])
    return services.start_logging(account_id, name)


def day_files_as_format(events: Path, index_format: int) -> list[Path]:
    """Make a store's day files and state (under `events`) what index format 2, 3 or 4 wrote;
    returns the day files. Format 4: the id hashes in an index `events_id` on `events`, no
    recent tables (their rows merged first). Format 3: also no rows of LookupEvents' derived
    keys. Format 2: also no `events.recorder`."""
    state = events / "state.json"
    state.write_text(json.dumps({**json.loads(state.read_text()), "index_format": index_format}))
    files = sorted((events / "days").glob("*.sqlite"))
    for path in files:
        with contextlib.closing(sqlite3.connect(path)) as day:
            day.execute("INSERT OR IGNORE INTO resources SELECT * FROM resources_recent")
            day.execute("CREATE INDEX events_id ON events (id_hash)")
            for table in ("event_ids", "event_ids_recent", "resources_recent"):
                day.execute(f"DROP TABLE {table}")
            if index_format <= 3:
                day.execute("DELETE FROM resources WHERE kind >= 3")
            if index_format <= 2:
                day.execute("ALTER TABLE events DROP COLUMN recorder")
            day.commit()
    return files
