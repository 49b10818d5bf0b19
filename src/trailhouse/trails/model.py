"""The trail: what it captures (account or organization, Read/Write/All, regions) and where it
delivers (MaxCompute, and OSS/SLS settings stored for later), with its lifecycle times."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from trailhouse.iam.arns import trail_arn

TRAIL_KIND = "trail"
TRAIL_NAMES_KIND = "trail-names"
ORGANIZATION_TRAIL_KIND = "organization-trail"


class TrailStatus(enum.Enum):
    """Fresh after create, Enable after StartLogging, Disable after StopLogging."""

    FRESH = "Fresh"
    ENABLE = "Enable"
    DISABLE = "Disable"


@dataclass(frozen=True, slots=True)
class Destinations:
    """Where a trail delivers; empty strings are unset."""

    oss_bucket_name: str = ""
    oss_key_prefix: str = ""
    oss_write_role_arn: str = ""
    sls_project_arn: str = ""
    sls_write_role_arn: str = ""
    max_compute_project_arn: str = ""
    max_compute_write_role_arn: str = ""

    def any(self) -> bool:
        """True when at least one destination is set."""
        return bool(self.oss_bucket_name or self.sls_project_arn or self.max_compute_project_arn)


@dataclass(frozen=True, slots=True)
class DataEventSelector:
    """One element of a data event selector: a service's data events, Read/Write/All, and
    optionally only (or all but, when negated) some event names and resources."""

    service_name: str
    read_write_type: str = "All"
    event_names: tuple[str, ...] = ()
    event_names_negated: bool = False
    resource_arns: tuple[str, ...] = ()
    resource_arns_negated: bool = False


@dataclass(frozen=True, slots=True)
class DataEvents:
    """A trail's data event selector (`trails/data_events.py`); an empty `document` is none."""

    document: str = ""
    selectors: tuple[DataEventSelector, ...] = ()
    all_regions: bool = False
    region_ids: tuple[str, ...] = ()
    create_time: int = 0
    update_time: int = 0


@dataclass(frozen=True, slots=True)
class Trail:
    """A trail of an account (or, when organization_id is set, of a whole organization)."""

    account_id: str
    name: str
    home_region: str
    trail_region: str
    event_rw: str
    organization_id: str
    destinations: Destinations
    status: str
    create_time: int
    update_time: int
    start_logging_time: int = 0
    stop_logging_time: int = 0
    data_events: DataEvents = DataEvents()
    # The insight types whose insight events the trail delivers (`trails/insight_selectors.py`).
    insight_types: tuple[str, ...] = ()

    @property
    def arn(self) -> str:
        """The trail's ARN."""
        return trail_arn(self.home_region, self.account_id, self.name)

    @property
    def is_organization_trail(self) -> bool:
        """True for a multi-account trail."""
        return bool(self.organization_id)

    @property
    def is_logging(self) -> bool:
        """True while the trail is enabled."""
        return self.status == TrailStatus.ENABLE.value

    def covers_region(self, region_id: str) -> bool:
        """True when the trail captures events of `region_id`."""
        return self.trail_region == "All" or region_id in self.trail_region.split(",")


@dataclass(frozen=True, slots=True)
class TrailNames:
    """The names of an account's trails, written with every create and delete so that
    concurrent creates are serialised (name uniqueness and the per-region limit)."""

    names: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class OrganizationTrailPointer:
    """Which trail is an organization's one multi-account trail."""

    account_id: str
    name: str
