"""Region configuration and the control-plane document codec."""

from __future__ import annotations

import pytest

from trailhouse.errors import SettingsError
from trailhouse.regions import Regions
from trailhouse.settings import Settings
from trailhouse.store.documents import decode, encode
from trailhouse.trails.model import Destinations, Trail, TrailNames


def test_each_region_port_serves_its_region() -> None:
    settings = Settings.load({"port": 9000, "region_ports": "cn-shanghai=9001"}, environ={})
    regions = Regions(settings)
    assert regions.for_port(9000) == "cn-hangzhou"
    assert regions.for_port(9001) == "cn-shanghai"
    assert regions.for_port(None) == "cn-hangzhou"
    endpoints = {region.region_id: region.endpoint for region in regions.all()}
    assert endpoints["cn-hangzhou"] == "127.0.0.1:9000"
    assert endpoints["cn-shanghai"] == "127.0.0.1:9001"
    assert endpoints["cn-beijing"] == "actiontrail.cn-beijing.aliyuncs.com"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"region": "mars-1"}, "is not one of regions"),
        ({"regions": "cn-hangzhou,Not A Region"}, "is not a region id"),
        ({"region_ports": "cn-shanghai=8080"}, "unused port"),
        ({"region_ports": "mars-1=9001"}, "configured region"),
    ],
)
def test_bad_region_settings_are_named(overrides: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        Regions(Settings.load(overrides, environ={}))


def test_documents_round_trip_nested_dataclasses_and_tuples() -> None:
    trail = Trail(
        account_id="1111222233334444",
        name="audit-trail",
        home_region="cn-hangzhou",
        trail_region="All",
        event_rw="All",
        organization_id="",
        destinations=Destinations(
            max_compute_project_arn="acs:odps:cn-hangzhou:1:project/actiontrail_1"
        ),
        status="Fresh",
        create_time=1,
        update_time=2,
    )
    assert decode(Trail, encode(trail)) == trail
    assert decode(TrailNames, encode(TrailNames(("a", "b")))) == TrailNames(("a", "b"))
