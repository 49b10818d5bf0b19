"""Advanced query templates and history through the official SDK against a real server: the
documented shapes, each refusal with its code, and nothing stored by a refused call."""

from __future__ import annotations

import time
import uuid
from typing import Any

import orjson
import pytest
from alibabacloud_actiontrail20200706 import models
from alibabacloud_actiontrail20200706.client import Client
from alibabacloud_tea_openapi.exceptions import ClientException
from compat_support import Regional, put_events, sdk_at
from factory import make_event
from query_support import lookup_by_query

STATEMENT = "event.errorCode: * AND event.userIdentity.accessKeyId: *"
ANALYTIC = '* | SELECT "event.serviceName" AS service, count(*) AS n GROUP BY service'


def _error(call: Any) -> ClientException:
    with pytest.raises(ClientException) as raised:
        call()
    return raised.value


@pytest.fixture
def client(regional: Regional) -> Client:
    return sdk_at(regional.endpoint("cn-hangzhou"), regional.new_account())


def _templates(client: Client, **fields: Any) -> Any:
    request = models.DescribeAdvancedQueryTemplateRequest(**fields)
    return client.describe_advanced_query_template(request).body.template_page


def test_a_template_from_creation_to_deletion(client: Client) -> None:
    name = f"errors-{uuid.uuid4().hex[:6]}"
    created = client.create_advanced_query_template(
        models.CreateAdvancedQueryTemplateRequest(
            template_name=name, template_sql=STATEMENT, simple_query=False
        )
    ).body
    assert created.request_id and len(created.template_id) == 22
    assert (created.template_name, created.template_sql, created.simple_query) == (
        name,
        STATEMENT,
        "false",
    )
    got = client.get_advanced_query_template(
        models.GetAdvancedQueryTemplateRequest(template_id=created.template_id)
    ).body
    assert (got.template_id, got.template_name, got.template_sql, got.simple_query) == (
        created.template_id,
        name,
        STATEMENT,
        False,
    )
    updated = client.update_advanced_query_template(
        models.UpdateAdvancedQueryTemplateRequest(
            template_id=created.template_id, template_sql=ANALYTIC, simple_query=True
        )
    ).body
    assert (updated.template_name, updated.template_sql, updated.simple_query) == (
        name,
        ANALYTIC,
        "true",
    )
    page = _templates(client)
    assert (page.page_number, page.page_size, page.total) == ("1", "10", 1)
    assert [(t.template_id, t.template_sql, t.simple_query) for t in page.template_list] == [
        (created.template_id, ANALYTIC, True)
    ]
    client.delete_advanced_query_template(
        models.DeleteAdvancedQueryTemplateRequest(template_id=created.template_id)
    )
    assert _templates(client).total == 0
    gone = _error(
        lambda: client.get_advanced_query_template(
            models.GetAdvancedQueryTemplateRequest(template_id=created.template_id)
        )
    )
    assert (gone.code, gone.status_code) == ("EntityNotExist.AdvancedQueryTemplate", 404)


def test_templates_page_newest_first_and_filter_by_name(client: Client) -> None:
    ids = [
        client.create_advanced_query_template(
            models.CreateAdvancedQueryTemplateRequest(
                template_name=f"{'keep' if index % 2 else 'other'}-{index}",
                template_sql=f"event.eventName: Probe{index}",
                simple_query=True,
            )
        ).body.template_id
        for index in range(5)
    ]
    first = _templates(client, page_number=1, page_size=2)
    second = _templates(client, page_number=2, page_size=2)
    third = _templates(client, page_number=3, page_size=2)
    listed = [t.template_id for p in (first, second, third) for t in p.template_list]
    assert first.total == 5 and sorted(listed) == sorted(ids) and len(set(listed)) == 5
    kept = _templates(client, template_name="keep")
    assert sorted(t.template_name for t in kept.template_list) == ["keep-1", "keep-3"]


@pytest.mark.parametrize(
    ("fields", "code", "words"),
    [
        ({"template_name": "n", "simple_query": True}, "MissingParameter", "TemplateSql"),
        ({"template_sql": "(event.eventName: x"}, "InvalidParameter", "not closed"),
        ({"template_sql": "a AND", "simple_query": True}, "InvalidParameter", "TemplateSql"),
        ({"template_sql": "* | DELETE FROM t"}, "InvalidParameter", "SELECT"),
        ({"template_sql": "*", "template_name": "n" * 65}, "InvalidParameter", "TemplateName"),
    ],
)
def test_a_refused_template_is_not_stored(
    client: Client, fields: dict[str, Any], code: str, words: str
) -> None:
    error = _error(
        lambda: client.create_advanced_query_template(
            models.CreateAdvancedQueryTemplateRequest(**fields)
        )
    )
    assert (error.code, error.status_code) == (code, 400) and words in error.message
    assert _templates(client).total == 0


def test_a_refused_update_changes_nothing(client: Client) -> None:
    template_id = client.create_advanced_query_template(
        models.CreateAdvancedQueryTemplateRequest(
            template_name="kept", template_sql=STATEMENT, simple_query=False
        )
    ).body.template_id
    for request, code in [
        (models.UpdateAdvancedQueryTemplateRequest(template_sql="*"), "MissingParameter"),
        (
            models.UpdateAdvancedQueryTemplateRequest(
                template_id=template_id, template_name="renamed", template_sql="(broken"
            ),
            "InvalidParameter",
        ),
        (
            models.UpdateAdvancedQueryTemplateRequest(template_id="no-such-id", template_sql="*"),
            "EntityNotExist.AdvancedQueryTemplate",
        ),
    ]:
        assert _error(lambda r=request: client.update_advanced_query_template(r)).code == code
    got = client.get_advanced_query_template(
        models.GetAdvancedQueryTemplateRequest(template_id=template_id)
    ).body
    assert (got.template_name, got.template_sql, got.simple_query) == ("kept", STATEMENT, False)
    missing = _error(
        lambda: client.delete_advanced_query_template(
            models.DeleteAdvancedQueryTemplateRequest(template_id="no-such-id")
        )
    )
    assert (missing.code, missing.status_code) == ("EntityNotExist.AdvancedQueryTemplate", 404)
    assert "DescribeAdvancedQueryTemplate" in missing.message
    assert _templates(client).total == 1


def test_history_records_newest_first_and_deletes(client: Client) -> None:
    assert client.describe_advanced_query_history().body.query_history_list == []
    first = client.create_advanced_query_history(
        models.CreateAdvancedQueryHistoryRequest(query_sql=STATEMENT, simple_query=False)
    ).body
    second = client.create_advanced_query_history(
        models.CreateAdvancedQueryHistoryRequest(query_sql=ANALYTIC, simple_query=True)
    ).body
    assert first.query_id.startswith("query-") and first.request_id
    assert (first.query_sql, first.simple_query) == (STATEMENT, False)
    listed = client.describe_advanced_query_history().body.query_history_list
    assert [(h.query_id, h.query_sql, h.simple_query) for h in listed] == [
        (second.query_id, ANALYTIC, True),
        (first.query_id, STATEMENT, False),
    ]
    assert all(h.time_stamp.isdigit() and len(h.time_stamp) == 13 for h in listed)
    client.delete_advanced_query_history(
        models.DeleteAdvancedQueryHistoryRequest(query_id=first.query_id)
    )
    listed = client.describe_advanced_query_history().body.query_history_list
    assert [h.query_id for h in listed] == [second.query_id]


def test_refused_history_calls_store_and_delete_nothing(client: Client) -> None:
    kept = client.create_advanced_query_history(
        models.CreateAdvancedQueryHistoryRequest(query_sql="*", simple_query=True)
    ).body.query_id
    cases = [
        (
            lambda: client.create_advanced_query_history(
                models.CreateAdvancedQueryHistoryRequest(query_sql="*")
            ),
            "MissingParameter",
            "SimpleQuery",
        ),
        (
            lambda: client.create_advanced_query_history(
                models.CreateAdvancedQueryHistoryRequest(query_sql="a OR", simple_query=True)
            ),
            "InvalidParameter",
            "QuerySql",
        ),
        (
            lambda: client.delete_advanced_query_history(
                models.DeleteAdvancedQueryHistoryRequest()
            ),
            "MissingParameter",
            "QueryId",
        ),
        (
            lambda: client.delete_advanced_query_history(
                models.DeleteAdvancedQueryHistoryRequest(query_id="query-nothing")
            ),
            "EntityNotExist.AdvancedQueryHistory",
            "query-nothing",
        ),
    ]
    for call, code, words in cases:
        error = _error(call)
        assert error.code == code and words in error.message, error.message
    listed = client.describe_advanced_query_history().body.query_history_list
    assert [h.query_id for h in listed] == [kept]


def test_scenes_and_their_system_templates(client: Client) -> None:
    scenes = client.describe_scenes(models.DescribeScenesRequest()).body.scene_list
    assert [s.token for s in scenes] == [
        "console-signin",
        "accesskey-audit",
        "resource-changes",
        "actiontrail-changes",
    ]
    assert all(s.scene_id.startswith("sc-") and s.type == "system" and s.name for s in scenes)
    only = client.describe_scenes(models.DescribeScenesRequest(search_code="accesskey"))
    assert [s.token for s in only.body.scene_list] == ["accesskey-audit"]
    audit = only.body.scene_list[0]
    first = client.describe_search_templates(
        models.DescribeSearchTemplatesRequest(scene_id=audit.scene_id, page_size=2)
    ).body
    rest = client.describe_search_templates(
        models.DescribeSearchTemplatesRequest(scene_id=audit.scene_id, page_size=2, page_number=2)
    ).body
    assert (first.page_number, first.page_size, len(first.template_list)) == (1, 2, 2)
    assert [t.token for t in first.template_list + rest.template_list] == [
        "accesskey-calls",
        "accesskey-errors",
        "root-accesskey-calls",
    ]
    errors = first.template_list[1]
    assert errors.sql == "event.errorCode: * AND event.userIdentity.accessKeyId: *"
    assert errors.scene_id == audit.scene_id and errors.charts == "[]"
    params = orjson.loads(errors.params)
    assert [(p.get("oper"), p["key"], p["value"]) for p in params] == [
        (None, "event.errorCode", "*"),
        ("AND", "event.userIdentity.accessKeyId", "*"),
    ]
    saved = client.create_advanced_query_template(
        models.CreateAdvancedQueryTemplateRequest(template_sql=errors.sql, simple_query=True)
    ).body
    assert saved.template_sql == errors.sql


def test_a_bad_scene_is_refused(client: Client) -> None:
    missing = _error(
        lambda: client.describe_search_templates(models.DescribeSearchTemplatesRequest())
    )
    assert (missing.code, missing.status_code) == ("MissingParameter", 400)
    unknown = _error(
        lambda: client.describe_search_templates(
            models.DescribeSearchTemplatesRequest(scene_id="sc-nothing")
        )
    )
    assert (unknown.code, unknown.status_code) == ("EntityNotExist.Scene", 404)
    assert "DescribeScenes" in unknown.message
    too_big = _error(
        lambda: client.describe_search_templates(
            models.DescribeSearchTemplatesRequest(scene_id="sc-nothing", page_size=101)
        )
    )
    assert too_big.code == "InvalidParameter" and "PageSize" in too_big.message


def test_a_search_statement_runs_over_the_accounts_events(regional: Regional) -> None:
    keys = regional.new_account()
    client = sdk_at(regional.endpoint("cn-hangzhou"), keys)
    marker = f"Probe{uuid.uuid4().hex[:8]}"
    events = [
        make_event(keys.account_id, 60, eventName=f"Create{marker}", errorCode="Forbidden"),
        make_event(keys.account_id, 120, eventName=f"Create{marker}"),
        make_event(keys.account_id, 180, eventName=f"Describe{marker}"),
    ]
    assert put_events(client, events)["Accepted"] == 3
    statement = f"event.eventName: Create{marker}"
    deadline = time.monotonic() + 15
    while len(lookup_by_query(client, QuerySql=statement)["Events"]) < 2:
        assert time.monotonic() < deadline, "the events never became searchable"
        time.sleep(0.1)
    page = lookup_by_query(client, QuerySql=statement, MaxResults="1")
    assert [e["eventId"] for e in page["Events"]] == [events[0]["eventId"]]
    assert page["Events"][0]["trailhouseRecorder"]["accessKeyId"] == keys.access_key_id
    rest = lookup_by_query(client, QuerySql=statement, MaxResults="1", NextToken=page["NextToken"])
    assert [e["eventId"] for e in rest["Events"]] == [events[1]["eventId"]]
    failed = lookup_by_query(client, QuerySql=f"{statement} AND event.errorCode: *")
    assert [e["eventId"] for e in failed["Events"]] == [events[0]["eventId"]]
    recorded = lookup_by_query(client, QuerySql=f"event.eventName: *{marker}")
    assert len(recorded["Events"]) == 3 and "StartTime" in recorded
    # A keyword anywhere also finds trailhouse's audit of the searches that named it.
    wanted = {f"Create{marker}", f"Describe{marker}", "LookupAdvancedQueryEvents"}
    deadline = time.monotonic() + 15
    while True:  # the audit of a call is searchable a moment after its answer
        anywhere = lookup_by_query(client, QuerySql=f"*{marker}")
        if {e["eventName"] for e in anywhere["Events"]} >= wanted:
            break
        assert time.monotonic() < deadline, anywhere
        time.sleep(0.1)
    for query, words in [
        ({"QuerySql": "(x"}, "not closed"),
        ({"QuerySql": "* | SELECT count(*)"}, "SubmitSqlJob"),
        ({"QuerySql": "*", "MaxResults": "51"}, "MaxResults"),
        ({"QuerySql": "*", "StartTime": "2000-01-01T00:00:00Z"}, "90 days"),
        ({"QuerySql": "*", "NextToken": page["NextToken"]}, "other parameters"),
    ]:
        error = _error(lambda q=query: lookup_by_query(client, **q))
        assert (error.code, error.status_code) == ("InvalidParameter", 400)
        assert words in error.message, error.message


def test_a_ram_user_needs_lookup_advanced_query_events(regional: Regional) -> None:
    keys = regional.new_account()
    user = regional.new_user(keys.account_id, f"q-{uuid.uuid4().hex[:6]}")
    error = _error(
        lambda: lookup_by_query(sdk_at(regional.endpoint("cn-hangzhou"), user), QuerySql="*")
    )
    assert (error.code, error.status_code) == ("NoPermission", 403)
    assert "actiontrail:LookupAdvancedQueryEvents" in error.message
    assert "AliyunActionTrailReadOnlyAccess" in error.message
