"""Advanced query templates and history (Create/Describe/Get/Update/DeleteAdvancedQueryTemplate,
Create/Describe/DeleteAdvancedQueryHistory) and the system scenes and templates (DescribeScenes,
DescribeSearchTemplates) in ActionTrail's wire shapes."""

from __future__ import annotations

import time
from typing import Any

import orjson

from trailhouse.advanced_query.errors import (
    EntityNotExistAdvancedQueryHistory,
    EntityNotExistAdvancedQueryTemplate,
    EntityNotExistScene,
    LimitExceededAdvancedQueryTemplate,
)
from trailhouse.advanced_query.scenes import scene, scenes
from trailhouse.advanced_query.search import InvalidSearch, SearchRequest
from trailhouse.advanced_query.service import (
    MAX_TEMPLATE_NAME,
    MAX_TEMPLATES,
    QueryNotFound,
    QueryRecord,
    Template,
    TemplateNotFound,
    TooManyTemplates,
)
from trailhouse.advanced_query.statements import InvalidStatement
from trailhouse.api import params
from trailhouse.api.actions import ActionContext
from trailhouse.errors import InvalidParameter
from trailhouse.events.validation import format_event_time

TEMPLATE_RESOURCE = "ACS::ActionTrail::AdvancedQueryTemplate"
HISTORY_RESOURCE = "ACS::ActionTrail::AdvancedQueryHistory"
DEFAULT_PAGE_SIZE = 10
MAX_PAGE_SIZE = 100


def create_advanced_query_template(ctx: ActionContext) -> dict[str, Any]:
    """CreateAdvancedQueryTemplate: save a statement under a new TemplateId."""
    name = _name(ctx, default="")
    sql = params.required(ctx.params, "TemplateSql")
    simple = params.boolean(ctx.params, "SimpleQuery", False)
    queries = ctx.services.advanced_queries
    try:
        template = queries.create_template(
            ctx.caller.account_id, name or "", sql, simple, _now_ms()
        )
    except InvalidStatement as error:
        raise _statement(error, "TemplateSql") from None
    except TooManyTemplates:
        raise LimitExceededAdvancedQueryTemplate(
            f"account {ctx.caller.account_id} already has {MAX_TEMPLATES} advanced query "
            "templates; delete one first"
        ) from None
    ctx.resources.append((TEMPLATE_RESOURCE, template.template_id))
    return {**_template(template), "SimpleQuery": _text(template.simple_query)}


def get_advanced_query_template(ctx: ActionContext) -> dict[str, Any]:
    """GetAdvancedQueryTemplate: one template of the caller's account."""
    template_id = _template_id(ctx)
    try:
        template = ctx.services.advanced_queries.get_template(ctx.caller.account_id, template_id)
    except TemplateNotFound:
        raise _no_template(ctx, template_id) from None
    return _template(template)


def describe_advanced_query_template(ctx: ActionContext) -> dict[str, Any]:
    """DescribeAdvancedQueryTemplate: the account's templates, newest first, a page at a time;
    TemplateName keeps those whose name contains it."""
    page = params.integer(ctx.params, "PageNumber", 1, 1, 10**6)
    size = params.integer(ctx.params, "PageSize", DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE)
    name = ctx.params.get("TemplateName", "")
    templates = ctx.services.advanced_queries.list_templates(ctx.caller.account_id, name)
    shown = templates[(page - 1) * size : page * size]
    return {
        "TemplatePage": {
            "PageNumber": str(page),
            "PageSize": str(size),
            "Total": len(templates),
            "TemplateList": [_template(template) for template in shown],
        }
    }


def update_advanced_query_template(ctx: ActionContext) -> dict[str, Any]:
    """UpdateAdvancedQueryTemplate: change the name, statement or mode; the rest stays."""
    template_id = _template_id(ctx)
    name = _name(ctx, default=None)
    sql = ctx.params.get("TemplateSql")
    if sql == "":
        raise InvalidParameter("TemplateSql must not be empty; leave it out to keep the statement")
    simple = (
        params.boolean(ctx.params, "SimpleQuery", False)
        if ctx.params.get("SimpleQuery", "") != ""
        else None
    )
    try:
        template = ctx.services.advanced_queries.update_template(
            ctx.caller.account_id, template_id, name, sql, simple
        )
    except InvalidStatement as error:
        raise _statement(error, "TemplateSql") from None
    except TemplateNotFound:
        raise _no_template(ctx, template_id) from None
    return {**_template(template), "SimpleQuery": _text(template.simple_query)}


def delete_advanced_query_template(ctx: ActionContext) -> dict[str, Any]:
    """DeleteAdvancedQueryTemplate."""
    template_id = _template_id(ctx)
    try:
        ctx.services.advanced_queries.delete_template(ctx.caller.account_id, template_id)
    except TemplateNotFound:
        raise _no_template(ctx, template_id) from None
    return {}


def create_advanced_query_history(ctx: ActionContext) -> dict[str, Any]:
    """CreateAdvancedQueryHistory: record a statement the user ran (QuerySql empty: `*`)."""
    sql = ctx.params.get("QuerySql", "")
    simple = params.boolean(ctx.params, "SimpleQuery", False)
    if ctx.params.get("SimpleQuery", "") == "":
        params.required(ctx.params, "SimpleQuery")
    try:
        record = ctx.services.advanced_queries.record_query(
            ctx.caller.account_id, sql, simple, _now_ms()
        )
    except InvalidStatement as error:
        raise _statement(error, "QuerySql") from None
    ctx.resources.append((HISTORY_RESOURCE, record.query_id))
    return _record(record)


def describe_advanced_query_history(ctx: ActionContext) -> dict[str, Any]:
    """DescribeAdvancedQueryHistory: the account's history, newest first."""
    records = ctx.services.advanced_queries.history(ctx.caller.account_id)
    return {
        "QueryHistoryList": [
            {**_record(record), "TimeStamp": str(record.created_ms)} for record in records
        ]
    }


def delete_advanced_query_history(ctx: ActionContext) -> dict[str, Any]:
    """DeleteAdvancedQueryHistory: delete one record."""
    query_id = params.required(ctx.params, "QueryId")
    ctx.resources.append((HISTORY_RESOURCE, query_id))
    try:
        ctx.services.advanced_queries.delete_query(ctx.caller.account_id, query_id)
    except QueryNotFound:
        raise EntityNotExistAdvancedQueryHistory(
            f"account {ctx.caller.account_id} has no advanced query record {query_id}; "
            "DescribeAdvancedQueryHistory lists them"
        ) from None
    return {}


def _name(ctx: ActionContext, default: str | None) -> str | None:
    name = ctx.params.get("TemplateName")
    if name is None:
        return default
    if len(name) > MAX_TEMPLATE_NAME:
        raise InvalidParameter(
            f"TemplateName has {len(name)} characters; at most {MAX_TEMPLATE_NAME}"
        )
    return name


def _template_id(ctx: ActionContext) -> str:
    template_id = params.required(ctx.params, "TemplateId")
    ctx.resources.append((TEMPLATE_RESOURCE, template_id))
    return template_id


def _no_template(ctx: ActionContext, template_id: str) -> EntityNotExistAdvancedQueryTemplate:
    return EntityNotExistAdvancedQueryTemplate(
        f"account {ctx.caller.account_id} has no advanced query template {template_id}; "
        "DescribeAdvancedQueryTemplate lists them"
    )


def _statement(error: InvalidStatement, parameter: str) -> InvalidParameter:
    return InvalidParameter(f"{parameter} is not a valid advanced query statement: {error}")


def _template(template: Template) -> dict[str, Any]:
    return {
        "TemplateId": template.template_id,
        "TemplateName": template.name,
        "TemplateSql": template.sql,
        "SimpleQuery": template.simple_query,
    }


def _record(record: QueryRecord) -> dict[str, Any]:
    return {"QueryId": record.query_id, "QuerySql": record.sql, "SimpleQuery": record.simple_query}


def _text(flag: bool) -> str:
    """Create and Update answer SimpleQuery as text ("false"), Get and Describe as a boolean."""
    return "true" if flag else "false"


def _now_ms() -> int:
    return int(time.time() * 1000)


def describe_scenes(ctx: ActionContext) -> dict[str, Any]:
    """DescribeScenes: the system scenes (SearchCode keeps those whose token contains it)."""
    return {
        "SceneList": [
            {
                "SceneId": scene.scene_id,
                "Name": scene.name,
                "Description": scene.description,
                "Type": "system",
                "Token": scene.token,
            }
            for scene in scenes(ctx.params.get("SearchCode"))
        ]
    }


def describe_search_templates(ctx: ActionContext) -> dict[str, Any]:
    """DescribeSearchTemplates: one scene's system templates, a page at a time."""
    scene_id = params.required(ctx.params, "SceneId")
    page = params.integer(ctx.params, "PageNumber", 1, 1, 10**6)
    size = params.integer(ctx.params, "PageSize", 20, 1, MAX_PAGE_SIZE)
    found = scene(scene_id)
    if found is None:
        raise EntityNotExistScene(f"there is no scene {scene_id}; DescribeScenes lists them")
    shown = found.templates[(page - 1) * size : page * size]
    return {
        "PageNumber": page,
        "PageSize": size,
        "TemplateList": [
            {
                "TemplateId": template.template_id,
                "TemplateName": template.name,
                "Description": template.description,
                "SceneId": found.scene_id,
                "Sql": template.sql,
                "Params": orjson.dumps(
                    [
                        {
                            **({"oper": c.oper} if index else {}),
                            "key": c.key,
                            "value": c.value,
                            "type": "system",
                            "display": True,
                            "displayKey": c.key,
                            "displayValue": c.value,
                            "displayValueEn": c.value,
                        }
                        for index, c in enumerate(template.conditions)
                    ]
                ).decode(),
                "Charts": "[]",
                "Token": template.token,
                "Type": "system",
            }
            for template in shown
        ],
    }


def lookup_advanced_query_events(ctx: ActionContext) -> dict[str, Any]:
    """LookupAdvancedQueryEvents (trailhouse's own): the caller's events a search statement
    selects, newest first, in LookupEvents' shape."""
    request = SearchRequest(
        account_id=ctx.caller.account_id,
        statement=ctx.params.get("QuerySql", ""),
        start=params.optional_timestamp(ctx.params, "StartTime"),
        end=params.optional_timestamp(ctx.params, "EndTime"),
        max_results=params.integer(ctx.params, "MaxResults", 20, 1, 50),
        next_token=ctx.params.get("NextToken") or None,
    )
    try:
        page = ctx.services.event_search.search(request, int(time.time()))
    except InvalidSearch as error:
        raise InvalidParameter(str(error)) from None
    response: dict[str, Any] = {
        "StartTime": format_event_time(page.start),
        "EndTime": format_event_time(page.end),
        "Events": [orjson.Fragment(body) for body in page.bodies],
    }
    if page.next_token:
        response["NextToken"] = page.next_token
    return response
