"""Where an account's global events (isGlobal true, e.g. RAM's) are stored: the region whose
LookupEvents shows them (GetGlobalEventsStorageRegion / UpdateGlobalEventsStorageRegion).

trailhouse keeps one event log for every region, so the setting decides where the account's
global events are seen, not where their bytes lie (docs/trails.md "Global events").
"""

from __future__ import annotations

from dataclasses import dataclass

from trailhouse.errors import InvalidParameter, MissingParameter
from trailhouse.regions import Regions
from trailhouse.retry import retry_on_conflict
from trailhouse.store.documents import encode, read
from trailhouse.store.ports import DocumentWrite, MetadataStore

GLOBAL_EVENTS_KIND = "global-events-storage"


@dataclass(frozen=True, slots=True)
class GlobalEventsRegion:
    """The region an account chose for its global events."""

    region_id: str


class GlobalEventsStorage:
    """Reads and changes each account's global events storage region."""

    def __init__(self, metadata: MetadataStore, regions: Regions) -> None:
        self._metadata = metadata
        self._regions = regions

    def region_of(self, account_id: str) -> str:
        """The account's storage region: the one it chose, else the installation's default
        region (ActionTrail's default, ap-southeast-1, is often not served here)."""
        chosen, _ = read(self._metadata, GlobalEventsRegion, GLOBAL_EVENTS_KIND, account_id, "")
        if chosen is not None and chosen.region_id in self._regions:
            return chosen.region_id
        return self._regions.default

    def update(self, account_id: str, region_id: str) -> str:
        """Store the account's global events in `region_id` from now on (a served region)."""
        if not region_id:
            raise MissingParameter("the parameter StorageRegion is required")
        if region_id not in self._regions:
            raise InvalidParameter(
                f"StorageRegion must be a region of this installation "
                f"({', '.join(self._regions.ids())}), not {region_id!r}"
            )

        def attempt() -> None:
            _, version = read(
                self._metadata, GlobalEventsRegion, GLOBAL_EVENTS_KIND, account_id, ""
            )
            body = encode(GlobalEventsRegion(region_id))
            self._metadata.commit(
                [DocumentWrite(GLOBAL_EVENTS_KIND, account_id, "", body, version)]
            )

        retry_on_conflict(attempt, what="the account's global events storage region")
        return region_id
