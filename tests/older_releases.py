"""State that an older release could leave and today's checks would refuse to create."""

from __future__ import annotations

import time

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
