"""The HTTP application: `/` speaks the ActionTrail RPC protocol, `/health` says it is up,
`/console` serves the web console over the same actions, `/api/v1` speaks MaxCompute's OpenAPI
to its official SDK (`maxcompute_openapi/`), and `/api` speaks MaxCompute's REST API to PyODPS
(`odps_api/`)."""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping
from urllib.parse import parse_qsl

import anyio
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from trailhouse.api.actions import Action, Handler, action_table
from trailhouse.api.audit import AuditWriter
from trailhouse.api.dispatch import Dispatcher, Origin
from trailhouse.api.failures import CatchUnexpected, unexpected
from trailhouse.api.handlers import activity as counts
from trailhouse.api.handlers import advanced_query as queries
from trailhouse.api.handlers import (
    data_events,
    detections,
    history,
    insights,
    ram,
    trails,
    warehouse,
)
from trailhouse.api.handlers import governance as checks
from trailhouse.api.handlers import usage as key_usage
from trailhouse.api.handlers.events import lookup_events, put_events
from trailhouse.api.metrics import scrape
from trailhouse.api.protocol import error_response, json_response, new_request_id
from trailhouse.console.routes import console_routes
from trailhouse.errors import ApiError, RequestEntityTooLarge, UnsupportedHttpMethod
from trailhouse.iam.signatures import SignedRequest
from trailhouse.maxcompute_openapi.routes import openapi_routes
from trailhouse.metrics import CONTENT_TYPE
from trailhouse.odps_api.routes import odps_routes
from trailhouse.runtime import Services

log = logging.getLogger(__name__)

# How much of an oversized body is read (and discarded) before answering 413.
_DRAIN_FACTOR = 8
# PutEvents runs on threads of its own: a call may wait seconds for the lookup index to catch up
# (`store/sqlite/tail.py`), and a flood of such calls must leave the shared pool (40 threads,
# anyio's default) to every other call: LookupEvents, the console, SQL, /metrics.
INGEST_THREADS = 32


def _ram(name: str, handler: Handler, read_only: bool, permission: str = "") -> Action:
    """A RAM action: audited as serviceName Ram, callable with the root key only unless a RAM
    user may be allowed it by a policy (`permission`)."""
    return Action(
        name,
        handler,
        read_only,
        service_name="Ram",
        api_version="2015-05-01",
        permission=permission,
        root_only=not permission,
    )


def _odps(name: str, handler: Handler, read_only: bool, root_only: bool = False) -> Action:
    """A warehouse action: audited as serviceName MaxCompute; projects decide who may call."""
    return Action(
        name,
        handler,
        read_only,
        service_name="MaxCompute",
        api_version="2022-01-04",
        root_only=root_only,
    )


ACTIONS: Mapping[str, Action] = action_table(
    # A RAM user needs actiontrail:PutEvents (AliyunActionTrailFullAccess; not ReadOnly);
    # service keys record for any account without a policy (dispatch.SERVICE_KEY_ACTIONS).
    Action("PutEvents", put_events, read_only=False, audited=False, permission="PutEvents"),
    Action("LookupEvents", lookup_events, read_only=True, permission="LookupEvents"),
    Action("DescribeRegions", trails.describe_regions, read_only=True),
    Action("ListPublicKeys", trails.list_public_keys, read_only=True),
    Action("CreateTrail", trails.create_trail, read_only=False, permission="CreateTrail"),
    Action("UpdateTrail", trails.update_trail, read_only=False, permission="UpdateTrail"),
    Action("DeleteTrail", trails.delete_trail, read_only=False, permission="DeleteTrail"),
    Action("DescribeTrails", trails.describe_trails, read_only=True, permission="DescribeTrails"),
    Action("GetTrailStatus", trails.get_trail_status, read_only=True, permission="GetTrailStatus"),
    Action(
        "GetDigestAnchor", trails.get_digest_anchor, read_only=True, permission="GetDigestAnchor"
    ),
    Action("StartLogging", trails.start_logging, read_only=False, permission="StartLogging"),
    Action("StopLogging", trails.stop_logging, read_only=False, permission="StopLogging"),
    # Data event selectors and the global events storage region (api/handlers/data_events.py).
    Action(
        "PutDataEventSelector",
        data_events.put_data_event_selector,
        read_only=False,
        permission="PutDataEventSelector",
    ),
    Action(
        "GetDataEventSelector",
        data_events.get_data_event_selector,
        read_only=True,
        permission="GetDataEventSelector",
    ),
    Action(
        "DeleteDataEventSelector",
        data_events.delete_data_event_selector,
        read_only=False,
        permission="DeleteDataEventSelector",
    ),
    Action(
        "ListDataEventSelectors",
        data_events.list_data_event_selectors,
        read_only=True,
        permission="ListDataEventSelectors",
    ),
    Action(
        "ListDataEventServices",
        data_events.list_data_event_services,
        read_only=True,
        permission="ListDataEventServices",
    ),
    Action(
        "GetGlobalEventsStorageRegion",
        data_events.get_global_events_storage_region,
        read_only=True,
        permission="GetGlobalEventsStorageRegion",
    ),
    Action(
        "UpdateGlobalEventsStorageRegion",
        data_events.update_global_events_storage_region,
        read_only=False,
        permission="UpdateGlobalEventsStorageRegion",
    ),
    # ActionTrail Insights (api/handlers/insights.py, docs/insights.md).
    Action(
        "GetInsightTypes",
        insights.get_insight_types,
        read_only=True,
        permission="GetInsightTypes",
    ),
    Action("EnableInsight", insights.enable_insight, read_only=False, permission="EnableInsight"),
    Action(
        "DisableInsight", insights.disable_insight, read_only=False, permission="DisableInsight"
    ),
    Action(
        "PutInsightSelectors",
        insights.put_insight_selectors,
        read_only=False,
        permission="PutInsightSelectors",
    ),
    Action(
        "GetInsightSelectors",
        insights.get_insight_selectors,
        read_only=True,
        permission="GetInsightSelectors",
    ),
    Action(
        "LookupInsightEvents",
        insights.lookup_insight_events,
        read_only=True,
        permission="LookupInsightEvents",
    ),
    Action(
        "GetInsightsEventsCount",
        insights.get_insights_events_count,
        read_only=True,
        permission="GetInsightsEventsCount",
    ),
    Action(
        "CreateDeliveryHistoryJob",
        history.create_delivery_history_job,
        read_only=False,
        permission="CreateDeliveryHistoryJob",
    ),
    Action(
        "GetDeliveryHistoryJob",
        history.get_delivery_history_job,
        read_only=True,
        permission="GetDeliveryHistoryJob",
    ),
    Action(
        "ListDeliveryHistoryJobs",
        history.list_delivery_history_jobs,
        read_only=True,
        permission="ListDeliveryHistoryJobs",
    ),
    Action(
        "DeleteDeliveryHistoryJob",
        history.delete_delivery_history_job,
        read_only=False,
        permission="DeleteDeliveryHistoryJob",
    ),
    # Access key usage, advanced queries, counts and governance (issue 20, item 3).
    *(
        Action(name, handler, read_only=True, permission=name)
        for name, handler in (
            ("GetAccessKeyLastUsedInfo", key_usage.get_access_key_last_used_info),
            ("GetAccessKeyLastUsedProducts", key_usage.get_access_key_last_used_products),
            ("GetAccessKeyLastUsedEvents", key_usage.get_access_key_last_used_events),
            ("GetAccessKeyLastUsedIps", key_usage.get_access_key_last_used_ips),
            ("GetAccessKeyLastUsedResources", key_usage.get_access_key_last_used_resources),
            ("GetAdvancedQueryTemplate", queries.get_advanced_query_template),
            ("DescribeAdvancedQueryTemplate", queries.describe_advanced_query_template),
            ("DescribeAdvancedQueryHistory", queries.describe_advanced_query_history),
            ("DescribeUserLogCount", counts.describe_user_log_count),
            ("DescribeUserAlertCount", counts.describe_user_alert_count),
            ("DescribeResourceLifeCycleEvents", counts.describe_resource_life_cycle_events),
            ("GetGovernanceMetrics", checks.get_governance_metrics),
            ("DescribeScenes", queries.describe_scenes),
            ("DescribeSearchTemplates", queries.describe_search_templates),
            # trailhouse's own: runs a search statement (docs/api.md)
            ("LookupAdvancedQueryEvents", queries.lookup_advanced_query_events),
        )
    ),
    *(
        Action(name, handler, read_only=False, permission=name)
        for name, handler in (
            ("CreateAdvancedQueryTemplate", queries.create_advanced_query_template),
            ("UpdateAdvancedQueryTemplate", queries.update_advanced_query_template),
            ("DeleteAdvancedQueryTemplate", queries.delete_advanced_query_template),
            ("CreateAdvancedQueryHistory", queries.create_advanced_query_history),
            ("DeleteAdvancedQueryHistory", queries.delete_advanced_query_history),
        )
    ),
    # trailhouse's own: detection rules and findings (docs/detections.md)
    *(
        Action(name, handler, read_only=True, permission=name)
        for name, handler in (
            ("ListDetectionRules", detections.list_detection_rules),
            ("TestDetectionRule", detections.test_detection_rule),
            ("ListFindings", detections.list_findings),
            ("GetFindingWebhook", detections.get_finding_webhook),
        )
    ),
    *(
        Action(name, handler, read_only=False, permission=name)
        for name, handler in (
            ("CreateDetectionRule", detections.create_detection_rule),
            ("EnableDetectionRule", detections.enable_detection_rule),
            ("DisableDetectionRule", detections.disable_detection_rule),
            ("DeleteDetectionRule", detections.delete_detection_rule),
            ("SetFindingWebhook", detections.set_finding_webhook),
            ("DeleteFindingWebhook", detections.delete_finding_webhook),
        )
    ),
    _ram("CreateRole", ram.create_role, read_only=False),
    _ram("GetRole", ram.get_role, read_only=True),
    _ram("ListRoles", ram.list_roles, read_only=True),
    _ram("UpdateRole", ram.update_role, read_only=False),
    _ram("DeleteRole", ram.delete_role, read_only=False),
    _ram("AttachPolicyToRole", ram.attach_policy_to_role, read_only=False),
    _ram("DetachPolicyFromRole", ram.detach_policy_from_role, read_only=False),
    _ram("AttachPolicyToUser", ram.attach_policy_to_user, read_only=False),
    _ram("ListAccessKeys", ram.list_access_keys, True, permission="ram:ListAccessKeys"),
    _ram("UpdateAccessKey", ram.update_access_key, False, permission="ram:UpdateAccessKey"),
    _ram("DeleteAccessKey", ram.delete_access_key, False, permission="ram:DeleteAccessKey"),
    _odps("CreateProject", warehouse.create_project, read_only=False, root_only=True),
    _odps("DeleteProject", warehouse.delete_project, read_only=False, root_only=True),
    _odps("ListProjects", warehouse.list_projects, read_only=True),
    _odps("SetProjectMember", warehouse.set_project_member, read_only=False),
    _odps("RemoveProjectMember", warehouse.remove_project_member, read_only=False),
    _odps("SetProjectProperty", warehouse.set_project_property, read_only=False),
    _odps("ListTables", warehouse.list_tables, read_only=True),
    _odps("ListPartitions", warehouse.list_partitions, read_only=True),
    _odps("CreateQuota", warehouse.create_quota, read_only=False, root_only=True),
    _odps("ListQuotas", warehouse.list_quotas, read_only=True),
    _odps("SubmitSqlJob", warehouse.submit_sql_job, read_only=True),
    _odps("GetSqlJob", warehouse.get_sql_job, read_only=True),
    _odps("GetSqlJobResult", warehouse.get_sql_job_result, read_only=True),
    _odps("CancelSqlJob", warehouse.cancel_sql_job, read_only=False),
    _odps("ListSqlJobs", warehouse.list_sql_jobs, read_only=True),
    _odps("DescribeBills", warehouse.describe_bills, read_only=True, root_only=True),
)


def create_app(services: Services, audit: AuditWriter) -> Starlette:
    """The ASGI application over `services`."""
    dispatcher = Dispatcher(services, ACTIONS, audit)
    max_body = services.settings.max_body_bytes
    ingest_threads = anyio.CapacityLimiter(INGEST_THREADS)

    async def health(request: Request) -> Response:
        return json_response({"Status": "ok"})

    async def metrics(request: Request) -> Response:
        text = await run_in_threadpool(scrape, services)
        return Response(text, media_type=CONTENT_TYPE)

    async def rpc(request: Request) -> Response:
        request_id = new_request_id()
        host = request.headers.get("host", "")
        try:
            if request.method not in {"GET", "POST"}:
                raise UnsupportedHttpMethod(f"use GET or POST, not {request.method}")
            body = await _read_body(request, max_body)
            signed = SignedRequest(
                method=request.method,
                path=request.url.path,
                query_string=request.scope["query_string"].decode("latin-1"),
                headers={name.lower(): value for name, value in request.headers.items()},
                body=body,
                form=_form(request, body),
            )
            server = request.scope.get("server")
            origin = Origin(
                source_ip=request.client.host if request.client else "127.0.0.1",
                user_agent=request.headers.get("user-agent", ""),
                port=server[1] if server else None,
            )
            answer = functools.partial(dispatcher.dispatch, signed, request_id, origin)
            if _names_put_events(signed):
                result = await anyio.to_thread.run_sync(answer, limiter=ingest_threads)
            else:
                result = await run_in_threadpool(answer)
        except ApiError as error:
            return error_response(error, request_id, host)
        except Exception:
            failure = unexpected(services.counters, "api", request_id, "answering an API call")
            return error_response(failure, request_id, host)
        return json_response({"RequestId": request_id, **result})

    return Starlette(
        middleware=[Middleware(CatchUnexpected, counters=services.counters)],
        routes=[
            Route("/health", health, methods=["GET"]),
            Route("/metrics", metrics, methods=["GET"]),
            Route("/", rpc, methods=["GET", "POST", "PUT", "DELETE", "PATCH"]),
            *console_routes(services, dispatcher, audit),
            # Before PyODPS's `/api`: the OpenAPI SDK's `/api/v1/...` (PyODPS never sends it).
            *openapi_routes(services, audit),
            *odps_routes(services, audit),
        ],
    )


async def _read_body(request: Request, limit: int) -> bytes:
    """The body, or RequestEntityTooLarge once it passes `limit` bytes.

    An oversized body is still read to its end (up to a bound), so that the client, which is
    usually still sending, receives the 413 answer instead of a reset connection.
    """
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size <= limit:
            chunks.append(chunk)
        elif size > _DRAIN_FACTOR * limit:
            break
    if size > limit:
        raise _too_large(size, limit)
    return b"".join(chunks)


def _too_large(size: int, limit: int) -> RequestEntityTooLarge:
    return RequestEntityTooLarge(
        f"the request body has {size} bytes or more; at most {limit} bytes are accepted "
        "(send fewer events per call)"
    )


def _form(request: Request, body: bytes) -> dict[str, str] | None:
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        return None
    return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))


def _names_put_events(signed: SignedRequest) -> bool:
    """Whether the request says it is PutEvents (V3's header, or RPC's Action parameter): which
    pool it waits in, nothing more; the signature over it is checked when it runs."""
    if "x-acs-action" in signed.headers:
        return signed.headers["x-acs-action"] == "PutEvents"
    action = dict(parse_qsl(signed.query_string)).get("Action")
    if action is None and signed.form is not None:
        action = signed.form.get("Action")
    return action == "PutEvents"
