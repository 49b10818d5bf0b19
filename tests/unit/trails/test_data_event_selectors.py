"""The data event selector's rules and what it selects, as a table of documented cases
(PutDataEventSelector's EventSelectors: ServiceName, ReadWriteType, EventName and ResourceArn
with Equals or NotEquals, regions)."""

from __future__ import annotations

from typing import Any

import pytest

from trailhouse.errors import InvalidParameter, MissingParameter
from trailhouse.regions import Regions
from trailhouse.settings import Settings
from trailhouse.trails.data_events import SelectorSpec, captures, parse_selectors, with_selector
from trailhouse.trails.model import Destinations, Trail

ACCOUNT = "1234567890123456"
REGIONS = Regions(Settings())
TRAIL = Trail(
    account_id=ACCOUNT,
    name="data-trail",
    home_region="cn-hangzhou",
    trail_region="All",
    event_rw="All",
    organization_id="",
    destinations=Destinations(max_compute_project_arn="acs:odps:cn-hangzhou:1:project/p"),
    status="Enable",
    create_time=1,
    update_time=1,
)


def _event(**fields: Any) -> dict[str, Any]:
    event = {
        "eventCategory": "Data",
        "serviceName": "Oss",
        "eventName": "GetObject",
        "eventRW": "Read",
        "acsRegion": "cn-hangzhou",
        "recipientAccountId": ACCOUNT,
        "resourceName": "photos/cat.jpg",
    }
    event.update(fields)
    return event


def _selects(document: str, event: dict[str, Any], **spec: Any) -> bool:
    trail = with_selector(TRAIL, SelectorSpec(TRAIL.name, document, **spec), REGIONS)
    return captures(trail)(event)


@pytest.mark.parametrize(
    ("document", "event", "selected"),
    [
        ('[{"ServiceName":"Oss"}]', _event(), True),
        ('[{"ServiceName":"Oss"}]', _event(serviceName="oss"), True),
        ('[{"ServiceName":"Oss"}]', _event(serviceName="Ecs"), False),
        ('[{"ServiceName":"Oss","ReadWriteType":"Write"}]', _event(), False),
        ('[{"ServiceName":"Oss","ReadWriteType":"Write"}]', _event(eventRW="Write"), True),
        ('[{"ServiceName":"Oss","EventName":{"Equals":["GetObject"]}}]', _event(), True),
        ('[{"ServiceName":"Oss","EventName":{"Equals":["PutObject"]}}]', _event(), False),
        ('[{"ServiceName":"Oss","EventName":{"NotEquals":["GetObject"]}}]', _event(), False),
        ('[{"ServiceName":"Oss","EventName":{"NotEquals":["PutObject"]}}]', _event(), True),
        ('[{"ServiceName":"Oss","ResourceArn":{"Equals":["photos/cat.jpg"]}}]', _event(), True),
        (
            '[{"ServiceName":"Oss","ResourceArn":{"Equals":'
            f'["acs:oss:cn-hangzhou:{ACCOUNT}:photos/*"]}}}}]',
            _event(),
            True,
        ),
        (
            '[{"ServiceName":"Oss","ResourceArn":{"Equals":["acs:oss:cn-hangzhou:1:photos/*"]}}]',
            _event(),
            False,
        ),
        ('[{"ServiceName":"Oss","ResourceArn":{"NotEquals":["photos/*"]}}]', _event(), False),
        ('[{"ServiceName":"Oss","ResourceArn":{"Equals":["logs/*"]}}]', _event(), False),
        (
            '[{"ServiceName":"Oss","ReadWriteType":"Write"},'
            '{"ServiceName":"Oss","EventName":{"Equals":["GetObject"]}}]',
            _event(),
            True,
        ),
        ("[]", _event(), False),
    ],
)
def test_what_a_selector_selects(document: str, event: dict[str, Any], selected: bool) -> None:
    assert _selects(document, event) is selected


def test_regions_default_to_the_home_region_and_can_be_listed_or_all() -> None:
    document = '[{"ServiceName":"Oss"}]'
    shanghai = _event(acsRegion="cn-shanghai")
    assert _selects(document, _event()) is True
    assert _selects(document, shanghai) is False
    assert _selects(document, shanghai, region_ids="cn-shanghai") is True
    assert _selects(document, _event(), region_ids="cn-shanghai") is False
    assert _selects(document, shanghai, all_regions=True) is True


def test_a_trail_without_a_selector_takes_no_data_event() -> None:
    assert captures(TRAIL)(_event()) is False


@pytest.mark.parametrize(
    ("document", "error", "message"),
    [
        ("", MissingParameter, "EventSelectors is required"),
        ("[", InvalidParameter, "must be a JSON array such as"),
        ('"Oss"', InvalidParameter, "JSON array of selector objects"),
        ('["Oss"]', InvalidParameter, "element 1 must be a JSON object"),
        ('[{"ServiceName":"Oss"},{"ServiceName":"Rds"}]', InvalidParameter, "element 2"),
        ('[{"ServiceName":"Oss","EventName":["GetObject"]}]', InvalidParameter, "EventName must"),
        ('[{"ServiceName":"Oss","EventName":{"Like":["G"]}}]', InvalidParameter, "not 'Like'"),
        ('[{"ServiceName":"Oss","EventName":{"Equals":[1]}}]', InvalidParameter, "non-empty"),
        (
            '[{"ServiceName":"Oss","EventName":{"Equals":["' + "x" * 40000 + '"]}}]',
            InvalidParameter,
            "at most 32768 are allowed",
        ),
        ("[" * 5000 + "]" * 5000, InvalidParameter, "must be a JSON array such as"),
    ],
)
def test_refused_documents(document: str, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=None) as raised:
        parse_selectors(document)
    assert message in str(raised.value)
