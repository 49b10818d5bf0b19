"""LookupAdvancedQueryEvents, trailhouse's own action, called through the official SDK's
generic path, as the compatibility tests of advanced queries use it."""

from __future__ import annotations

from typing import Any

from alibabacloud_actiontrail20200706.client import Client
from alibabacloud_tea_openapi import utils_models
from darabonba.runtime import RuntimeOptions


def lookup_by_query(client: Client, **query: str) -> dict[str, Any]:
    """LookupAdvancedQueryEvents (trailhouse's own action) through the SDK's generic call."""
    call = utils_models.Params(
        action="LookupAdvancedQueryEvents",
        version="2020-07-06",
        protocol="HTTP",
        pathname="/",
        method="POST",
        auth_type="AK",
        style="RPC",
        req_body_type="formData",
        body_type="json",
    )
    answer = client.call_api(call, utils_models.OpenApiRequest(query=query), RuntimeOptions())
    body: dict[str, Any] = answer["body"]
    return body
