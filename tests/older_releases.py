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


def day_files_as_format_4(events: Path) -> list[Path]:
    """Make a store's day files and state (under `events`) what index format 4 wrote: the id
    hashes in an index `events_id` on `events`, no id tables. Returns the day files."""
    state = events / "state.json"
    state.write_text(json.dumps({**json.loads(state.read_text()), "index_format": 4}))
    files = sorted((events / "days").glob("*.sqlite"))
    for path in files:
        with contextlib.closing(sqlite3.connect(path)) as day:
            day.execute("CREATE INDEX events_id ON events (id_hash)")
            day.execute("DROP TABLE event_ids")
            day.execute("DROP TABLE event_ids_recent")
            day.commit()
    return files
