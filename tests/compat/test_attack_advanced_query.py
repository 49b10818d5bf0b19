"""Attacks on tenant isolation through the advanced query and key usage actions: another
account's templates, history and key usage can be neither read, changed, deleted nor learnt
about, and events an account records about someone else's key describe only itself."""

from __future__ import annotations

import time
from typing import Any

import pytest
from alibabacloud_actiontrail20200706 import models
from alibabacloud_actiontrail20200706.client import Client
from alibabacloud_tea_openapi.exceptions import ClientException
from compat_support import Keys, Regional, put_events, sdk_at
from factory import make_event
from query_support import lookup_by_query

SECRET_SQL = "event.eventName: VictimSecretProbe"


def _error(call: Any) -> ClientException:
    with pytest.raises(ClientException) as raised:
        call()
    return raised.value


def _info(client: Client, key_id: str) -> Any:
    return client.get_access_key_last_used_info(
        models.GetAccessKeyLastUsedInfoRequest(access_key=key_id)
    ).body


def _wait_used(client: Client, key_id: str, predicate: Any) -> Any:
    deadline = time.monotonic() + 15
    while True:
        try:
            info = _info(client, key_id)
            if predicate(info):
                return info
        except ClientException:
            pass
        assert time.monotonic() < deadline, "the events never became searchable"
        time.sleep(0.05)


class Tenants:
    def __init__(self, regional: Regional) -> None:
        self.victim: Keys = regional.new_account()
        self.attacker: Keys = regional.new_account()
        self.victim_sdk = sdk_at(regional.endpoint("cn-hangzhou"), self.victim)
        self.attacker_sdk = sdk_at(regional.endpoint("cn-hangzhou"), self.attacker)
        self.template_id = self.victim_sdk.create_advanced_query_template(
            models.CreateAdvancedQueryTemplateRequest(
                template_name="victim", template_sql=SECRET_SQL, simple_query=True
            )
        ).body.template_id
        self.query_id = self.victim_sdk.create_advanced_query_history(
            models.CreateAdvancedQueryHistoryRequest(query_sql=SECRET_SQL, simple_query=True)
        ).body.query_id


@pytest.fixture(scope="module")
def tenants(regional: Regional) -> Tenants:
    return Tenants(regional)


def test_another_accounts_template_cannot_be_read_changed_or_deleted(tenants: Tenants) -> None:
    attacker, template_id = tenants.attacker_sdk, tenants.template_id
    calls = [
        lambda: attacker.get_advanced_query_template(
            models.GetAdvancedQueryTemplateRequest(template_id=template_id)
        ),
        lambda: attacker.update_advanced_query_template(
            models.UpdateAdvancedQueryTemplateRequest(
                template_id=template_id, template_sql="*", template_name="taken"
            )
        ),
        lambda: attacker.delete_advanced_query_template(
            models.DeleteAdvancedQueryTemplateRequest(template_id=template_id)
        ),
    ]
    for call in calls:
        error = _error(call)
        assert (error.code, error.status_code) == ("EntityNotExist.AdvancedQueryTemplate", 404)
        assert tenants.victim.account_id not in error.message
    page = attacker.describe_advanced_query_template(
        models.DescribeAdvancedQueryTemplateRequest(template_name="victim")
    ).body.template_page
    assert (page.total, page.template_list) == (0, [])
    kept = tenants.victim_sdk.get_advanced_query_template(
        models.GetAdvancedQueryTemplateRequest(template_id=template_id)
    ).body
    assert (kept.template_name, kept.template_sql) == ("victim", SECRET_SQL)


def test_another_accounts_history_cannot_be_listed_or_deleted(tenants: Tenants) -> None:
    attacker = tenants.attacker_sdk
    assert all(
        h.query_sql != SECRET_SQL
        for h in attacker.describe_advanced_query_history().body.query_history_list
    )
    error = _error(
        lambda: attacker.delete_advanced_query_history(
            models.DeleteAdvancedQueryHistoryRequest(query_id=tenants.query_id)
        )
    )
    assert (error.code, error.status_code) == ("EntityNotExist.AdvancedQueryHistory", 404)
    kept = tenants.victim_sdk.describe_advanced_query_history().body.query_history_list
    assert [h.query_id for h in kept] == [tenants.query_id]


def test_another_accounts_key_usage_is_never_answered(tenants: Tenants) -> None:
    victim_key = tenants.victim.access_key_id
    # The victim's own calls above used its root key: its usage exists, for the victim.
    _wait_used(tenants.victim_sdk, victim_key, lambda info: info.used_timestamp > 0)
    attacker = tenants.attacker_sdk
    calls = [
        lambda: _info(attacker, victim_key),
        lambda: attacker.get_access_key_last_used_products(
            models.GetAccessKeyLastUsedProductsRequest(access_key=victim_key)
        ),
        lambda: attacker.get_access_key_last_used_events(
            models.GetAccessKeyLastUsedEventsRequest(
                access_key=victim_key, service_name="Actiontrail"
            )
        ),
        lambda: attacker.get_access_key_last_used_ips(
            models.GetAccessKeyLastUsedIpsRequest(access_key=victim_key, service_name="Actiontrail")
        ),
        lambda: attacker.get_access_key_last_used_resources(
            models.GetAccessKeyLastUsedResourcesRequest(
                access_key=victim_key, service_name="Actiontrail"
            )
        ),
    ]
    for call in calls:
        error = _error(call)
        assert (error.code, error.status_code) == ("EntityNotExist.User.AccessKey", 404)
        assert tenants.victim.account_id not in error.message


def test_events_recorded_about_someone_elses_key_describe_only_the_recorder(
    tenants: Tenants,
) -> None:
    victim_key = tenants.victim.access_key_id
    before = _wait_used(tenants.victim_sdk, victim_key, lambda info: info.used_timestamp > 0)
    forged = make_event(
        tenants.attacker.account_id,
        0,
        serviceName="Forged",
        eventName="PlantedUse",
        sourceIpAddress="192.0.2.66",
        userIdentity={
            "type": "root-account",
            "principalId": tenants.attacker.account_id,
            "accountId": tenants.attacker.account_id,
            "accessKeyId": victim_key,
        },
    )
    assert put_events(tenants.attacker_sdk, [forged])["Accepted"] == 1
    seen = _wait_used(tenants.attacker_sdk, victim_key, lambda info: info.service_name == "Forged")
    assert seen.account_id == tenants.attacker.account_id
    after = _info(tenants.victim_sdk, victim_key)
    assert after.service_name != "Forged" and after.account_id == tenants.victim.account_id
    assert after.used_timestamp >= before.used_timestamp
    products = tenants.victim_sdk.get_access_key_last_used_products(
        models.GetAccessKeyLastUsedProductsRequest(access_key=victim_key)
    ).body.products
    assert "Forged" not in {p.service_name for p in products}


def test_a_search_statement_never_reaches_another_accounts_events(tenants: Tenants) -> None:
    marker = f"VictimOnly{tenants.victim.account_id[-6:]}"
    secret = make_event(tenants.victim.account_id, 30, eventName=marker)
    assert put_events(tenants.victim_sdk, [secret])["Accepted"] == 1
    deadline = time.monotonic() + 15
    while not lookup_by_query(tenants.victim_sdk, QuerySql=f"event.eventName: {marker}")["Events"]:
        assert time.monotonic() < deadline, "the victim's event never became searchable"
        time.sleep(0.1)
    for statement in [f"event.eventName: {marker}", marker, "*", f"NOT event.eventName: x{marker}"]:
        found = lookup_by_query(tenants.attacker_sdk, QuerySql=statement, MaxResults="50")
        accounts = {e["userIdentity"]["accountId"] for e in found["Events"]}
        assert accounts <= {tenants.attacker.account_id}, statement
        assert all(e["eventName"] != marker for e in found["Events"]), statement
    assert (
        lookup_by_query(tenants.attacker_sdk, QuerySql=f"event.eventName: {marker}")["Events"] == []
    )
