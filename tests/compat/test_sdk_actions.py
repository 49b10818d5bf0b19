"""Every action of the official ActionTrail SDK (`alibabacloud-actiontrail20200706`, 46 actions)
answers a real server through the SDK itself: the list is read from the installed SDK's client,
so an action the SDK gains that trailhouse does not answer fails here, and each action's call
without parameters gets its pinned answer (the SDK's response model, or the documented code for
a missing required parameter), never `InvalidAction.NotFound` and never a 5xx."""

from __future__ import annotations

import inspect
import re
from typing import Any

import pytest
from alibabacloud_actiontrail20200706 import models
from alibabacloud_actiontrail20200706.client import Client
from alibabacloud_tea_openapi.exceptions import ClientException
from compat_support import Fixture, Keys, sdk, trailhouse

OK = ("OK", 200)


def _missing(parameter: str) -> tuple[str, int, str]:
    return ("MissingParameter", 400, f"the parameter {parameter} is required")


# What each SDK action answers when called with an empty request: success, or the refusal of
# its first required parameter (Alibaba's API reference marks these required).
EMPTY_CALL: dict[str, tuple[str, int] | tuple[str, int, str]] = {
    "CreateAdvancedQueryHistory": _missing("SimpleQuery"),
    "CreateAdvancedQueryTemplate": _missing("TemplateSql"),
    "CreateDeliveryHistoryJob": _missing("TrailName"),
    "CreateTrail": _missing("Name"),
    "DeleteAdvancedQueryHistory": _missing("QueryId"),
    "DeleteAdvancedQueryTemplate": _missing("TemplateId"),
    "DeleteDataEventSelector": _missing("TrailName"),
    "DeleteDeliveryHistoryJob": _missing("JobId"),
    "DeleteTrail": _missing("Name"),
    "DescribeAdvancedQueryHistory": OK,
    "DescribeAdvancedQueryTemplate": OK,
    "DescribeRegions": OK,
    "DescribeResourceLifeCycleEvents": OK,
    "DescribeScenes": OK,
    "DescribeSearchTemplates": _missing("SceneId"),
    "DescribeTrails": OK,
    "DescribeUserAlertCount": OK,
    "DescribeUserLogCount": OK,
    "DisableInsight": _missing("InsightType"),
    "EnableInsight": _missing("InsightType"),
    "GetAccessKeyLastUsedEvents": _missing("AccessKey"),
    "GetAccessKeyLastUsedInfo": _missing("AccessKey"),
    "GetAccessKeyLastUsedIps": _missing("AccessKey"),
    "GetAccessKeyLastUsedProducts": _missing("AccessKey"),
    "GetAccessKeyLastUsedResources": _missing("AccessKey"),
    "GetAdvancedQueryTemplate": _missing("TemplateId"),
    "GetDataEventSelector": _missing("TrailName"),
    "GetDeliveryHistoryJob": _missing("JobId"),
    "GetGlobalEventsStorageRegion": OK,
    "GetGovernanceMetrics": OK,
    "GetInsightSelectors": _missing("TrailName"),
    "GetInsightTypes": OK,
    "GetInsightsEventsCount": OK,
    "GetTrailStatus": _missing("Name"),
    "ListDataEventSelectors": OK,
    "ListDataEventServices": OK,
    "ListDeliveryHistoryJobs": OK,
    "LookupEvents": OK,
    "LookupInsightEvents": OK,
    "PutDataEventSelector": _missing("TrailName"),
    "PutInsightSelectors": _missing("TrailName"),
    "StartLogging": _missing("Name"),
    "StopLogging": _missing("Name"),
    "UpdateAdvancedQueryTemplate": _missing("TemplateId"),
    "UpdateGlobalEventsStorageRegion": _missing("StorageRegion"),
    "UpdateTrail": _missing("Name"),
}


def sdk_actions() -> list[str]:
    """The actions the installed SDK's client calls, as it names them on the wire."""
    return sorted(set(re.findall(r"action\s*=\s*'(\w+)'", inspect.getsource(Client))))


def _snake(action: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", action).lower()


def _call(client: Client, action: str) -> Any:
    """The SDK's own method for `action`, with its empty request model when it takes one."""
    method = getattr(client, _snake(action))
    request = getattr(models, f"{action}Request", None)
    return method(request()) if request is not None else method()


@pytest.fixture(scope="module")
def fresh(running: Fixture) -> Keys:
    """A new account of the shared server, so these calls' audit events count nowhere else."""
    created = trailhouse("account", "create", "--data-dir", str(running.server.data_dir))
    return Keys(created["AccountId"], created["AccessKeyId"], created["AccessKeySecret"])


def test_the_sdk_has_the_46_actions_this_suite_pins() -> None:
    assert len(sdk_actions()) == 46
    assert sdk_actions() == sorted(EMPTY_CALL)


@pytest.mark.parametrize("action", sdk_actions())
def test_each_sdk_action_answers_through_the_sdk(
    running: Fixture, fresh: Keys, action: str
) -> None:
    client = sdk(running.server, fresh)
    expected = EMPTY_CALL.get(action)
    assert expected is not None, f"{action} is an SDK action this suite does not pin"
    if expected == OK:
        answer = _call(client, action)
        assert answer.status_code == 200
        assert answer.body.request_id
        return
    with pytest.raises(ClientException) as raised:
        _call(client, action)
    refused = raised.value
    assert (refused.code, refused.status_code) == expected[:2], refused.message
    assert expected[2] in refused.message
