"""The regions an installation serves, and which one a request is for.

The official SDK sends no region with a call: it reaches a region through the region's endpoint.
So each region may have its own listening port (`region_ports`); the main port serves the
default `region`; any call may also name its region with a `RegionId` parameter.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from trailhouse.errors import SettingsError
from trailhouse.settings import Settings

_REGION_ID = re.compile(r"^[a-z]{2}(-[a-z0-9]+)+\Z")
LOCAL_NAMES = {
    "cn-hangzhou": "China (Hangzhou)",
    "cn-shanghai": "China (Shanghai)",
    "cn-beijing": "China (Beijing)",
    "cn-shenzhen": "China (Shenzhen)",
    "ap-southeast-1": "Singapore",
    "ap-northeast-1": "Japan (Tokyo)",
    "us-west-1": "US (Silicon Valley)",
    "us-east-1": "US (Virginia)",
    "eu-central-1": "Germany (Frankfurt)",
    "eu-west-1": "UK (London)",
}


@dataclass(frozen=True, slots=True)
class Region:
    """A region: its id, the endpoint that reaches it, and its display name."""

    region_id: str
    endpoint: str
    local_name: str


class Regions:
    """The configured regions, with the port each is served on."""

    def __init__(self, settings: Settings) -> None:
        ids = [part.strip() for part in settings.regions.split(",") if part.strip()]
        for region_id in ids:
            if not _REGION_ID.match(region_id):
                raise SettingsError(f"regions: {region_id!r} is not a region id like cn-hangzhou")
        if settings.region not in ids:
            raise SettingsError(
                f"region {settings.region!r} is not one of regions ({settings.regions})"
            )
        self.default = settings.region
        self.ports: dict[int, str] = {settings.port: settings.region}
        for entry in filter(None, (part.strip() for part in settings.region_ports.split(","))):
            region_id, _, port = entry.partition("=")
            if region_id not in ids or not port.isdigit() or int(port) in self.ports:
                raise SettingsError(
                    f"region_ports entry {entry!r} must be <configured region>=<unused port>"
                )
            self.ports[int(port)] = region_id
        by_region = {region_id: port for port, region_id in self.ports.items()}
        self._regions = {
            region_id: Region(
                region_id,
                f"{settings.host}:{by_region[region_id]}"
                if region_id in by_region
                else f"actiontrail.{region_id}.aliyuncs.com",
                LOCAL_NAMES.get(region_id, region_id),
            )
            for region_id in ids
        }

    def __contains__(self, region_id: object) -> bool:
        return region_id in self._regions

    def all(self) -> list[Region]:
        """Every configured region, in configuration order."""
        return list(self._regions.values())

    def ids(self) -> list[str]:
        """Every configured region id."""
        return list(self._regions)

    def for_port(self, port: int | None) -> str:
        """The region served on a listening port (the default region for unknown ports)."""
        return self.ports.get(port or 0, self.default)
