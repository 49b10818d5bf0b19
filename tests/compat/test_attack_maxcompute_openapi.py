"""Attacks on MaxCompute's OpenAPI (`/api/v1`): a signed request changed after signing (its
path, its query, its body), replayed, unsigned or signed as RPC, a service key, and one tenant
probing another's projects, tables, quotas and jobs by name."""

from __future__ import annotations

import hashlib
import http.client
import secrets
import time
from collections.abc import Mapping

import orjson
import pytest
from alibabacloud_maxcompute20220104 import models
from alibabacloud_tea_openapi.exceptions import ClientException
from compat_support import Fixture, Keys
from maxcompute_openapi_support import Readable, make_readable, maxcompute

from trailhouse.client import RpcClient
from trailhouse.iam.signing import (
    V3_ALGORITHM,
    format_timestamp,
    v3_canonical_request,
    v3_signature,
    v3_string_to_sign,
)

ACCOUNT = "7777000012340207"
TABLE = "actiontrail_attack_openapi_merlin"
QUOTA = "merlin_quota_attack"


@pytest.fixture(scope="module")
def victim(running: Fixture) -> Readable:
    return make_readable(running.server, ACCOUNT, TABLE, QUOTA)


def _signed(
    host: str,
    keys: Keys,
    method: str,
    path: str,
    action: str,
    query: Mapping[str, str] | None = None,
    body: bytes = b"",
    nonce: str | None = None,
) -> dict[str, str]:
    """The headers of a V3-signed ROA request, as the SDK signs it (the path is the canonical
    URI)."""
    headers = {
        "host": host,
        "x-acs-version": "2022-01-04",
        "x-acs-action": action,
        "x-acs-date": format_timestamp(time.time()),
        "x-acs-signature-nonce": nonce or secrets.token_hex(16),
        "accept": "application/json",
        "x-acs-content-sha256": hashlib.sha256(body).hexdigest(),
    }
    if body:
        headers["content-type"] = "application/json; charset=utf-8"
    signed = sorted(headers)
    canonical = v3_canonical_request(
        method, path, dict(query or {}), headers, signed, headers["x-acs-content-sha256"]
    )
    signature = v3_signature(keys.access_key_secret, v3_string_to_sign(canonical))
    headers["Authorization"] = (
        f"{V3_ALGORITHM} Credential={keys.access_key_id},"
        f"SignedHeaders={';'.join(signed)},Signature={signature}"
    )
    return headers


def _send(
    host: str, method: str, target: str, headers: Mapping[str, str], body: bytes = b""
) -> tuple[int, dict[str, object]]:
    connection = http.client.HTTPConnection(host, timeout=10)
    try:
        connection.request(method, target, body=body, headers=dict(headers))
        response = connection.getresponse()
        status, data = response.status, response.read()
    finally:
        connection.close()
    decoded = orjson.loads(data)
    assert isinstance(decoded, dict)
    return status, decoded


def test_the_raw_signer_is_accepted_unchanged(running: Fixture, victim: Readable) -> None:
    """The control: the requests the attacks below alter are accepted as they were signed."""
    host = running.server.endpoint
    made = victim.warehouse
    path = f"/api/v1/projects/{made.project}"
    status, body = _send(host, "GET", path, _signed(host, made.root, "GET", path, "GetProject"))
    assert status == 200, body
    assert body["data"]["name"] == made.project  # type: ignore[index]


def test_a_path_changed_after_signing_is_refused(running: Fixture, victim: Readable) -> None:
    host = running.server.endpoint
    other = running.other  # signs for its own (absent) project, then aims at the victim's
    path = "/api/v1/projects/merlin_attacker_own"
    headers = _signed(host, other, "GET", path, "GetProject")
    status, body = _send(host, "GET", f"/api/v1/projects/{victim.warehouse.project}", headers)
    assert (status, body["Code"]) == (400, "SignatureDoesNotMatch")
    assert victim.warehouse.project not in str(body["Message"]).split("server canonical")[0]


def test_a_query_changed_after_signing_is_refused(running: Fixture, victim: Readable) -> None:
    host = running.server.endpoint
    made = victim.warehouse
    headers = _signed(host, made.member, "GET", "/api/v1/projects", "ListProjects", {"prefix": "x"})
    status, body = _send(host, "GET", "/api/v1/projects?prefix=actiontrail", headers)
    assert (status, body["Code"]) == (400, "SignatureDoesNotMatch")
    # Adding a parameter the signature does not cover is refused the same way.
    headers = _signed(host, made.member, "GET", "/api/v1/projects", "ListProjects")
    status, body = _send(host, "GET", "/api/v1/projects?maxItem=1", headers)
    assert (status, body["Code"]) == (400, "SignatureDoesNotMatch")


def test_a_body_changed_after_signing_is_refused(running: Fixture, victim: Readable) -> None:
    host = running.server.endpoint
    made = victim.warehouse
    signed_body = orjson.dumps({"projectList": ["merlin_nothing"]})
    headers = _signed(host, made.root, "POST", "/api/v1/jobs", "ListJobInfos", body=signed_body)
    sent = orjson.dumps({"projectList": [made.project]})
    status, body = _send(host, "POST", "/api/v1/jobs", headers, sent)
    assert (status, body["Code"]) == (400, "InvalidParameter.ContentSHA256")


def test_a_replayed_request_is_refused(running: Fixture, victim: Readable) -> None:
    host = running.server.endpoint
    made = victim.warehouse
    headers = _signed(host, made.root, "GET", "/api/v1/quotas", "ListQuotas")
    assert _send(host, "GET", "/api/v1/quotas", headers)[0] == 200
    status, body = _send(host, "GET", "/api/v1/quotas", headers)
    assert (status, body["Code"]) == (400, "SignatureNonceUsed")


def test_an_action_header_that_disagrees_with_the_path_is_refused(
    running: Fixture, victim: Readable
) -> None:
    host = running.server.endpoint
    made = victim.warehouse
    headers = _signed(host, made.root, "GET", "/api/v1/projects", "DeleteProject")
    status, body = _send(host, "GET", "/api/v1/projects", headers)
    assert (status, body["Code"]) == (400, "InvalidParameter")
    assert "ListProjects" in str(body["Message"])


def test_unsigned_and_rpc_signed_requests_are_refused(running: Fixture, victim: Readable) -> None:
    host = running.server.endpoint
    path = f"/api/v1/projects/{victim.warehouse.project}"
    status, body = _send(host, "GET", path, {"host": host})
    assert (status, body["Code"]) == (400, "IncompleteSignature")
    # An RPC signature of the same call (canonical URI "/") does not cover this path.
    headers = _signed(host, victim.warehouse.root, "GET", "/", "GetProject")
    status, body = _send(host, "GET", path, headers)
    assert (status, body["Code"]) == (400, "SignatureDoesNotMatch")
    # A V2-style Signature parameter is not accepted for an ROA path.
    status, body = _send(host, "GET", f"{path}?Signature=x&AccessKeyId=y", {"host": host})
    assert (status, body["Code"]) == (400, "IncompleteSignature")


def test_a_service_key_is_refused(running: Fixture, victim: Readable) -> None:
    client = maxcompute(running.server, running.service)
    with pytest.raises(ClientException) as raised:
        client.list_projects(models.ListProjectsRequest())
    assert (raised.value.status_code, raised.value.code) == (403, "NoPermission")


def _absent(call: object) -> ClientException:
    assert callable(call)
    with pytest.raises(ClientException) as raised:
        call()
    assert (raised.value.status_code, raised.value.code) == (404, "NoSuchObject")
    return raised.value


def test_another_tenants_names_are_invisible(running: Fixture, victim: Readable) -> None:
    made = victim.warehouse
    other = maxcompute(running.server, running.other)
    projects = other.list_projects(models.ListProjectsRequest(prefix=made.project)).body
    assert projects.data.projects == []
    # A project that exists is answered exactly as one that never did.
    theirs = _absent(lambda: other.get_project(made.project, models.GetProjectRequest()))
    never = _absent(lambda: other.get_project("merlin_never_made", models.GetProjectRequest()))
    assert (
        theirs.message.replace(made.project, "P").split(" request id")[0]
        == (never.message.replace("merlin_never_made", "P").split(" request id")[0])
    )
    _absent(lambda: other.list_tables(made.project, models.ListTablesRequest()))
    table = _absent(lambda: other.get_table_info(made.project, TABLE, models.GetTableInfoRequest()))
    assert TABLE not in table.message
    _absent(lambda: other.get_quota(QUOTA, models.GetQuotaRequest()))
    quotas = other.list_quotas(models.ListQuotasRequest()).body.data.quota_info_list
    assert QUOTA not in [q.nick_name for q in quotas]
    assert ACCOUNT not in {q.tenant_id for q in quotas}
    _absent(lambda: other.get_job_info(victim.job_id))
    jobs = other.list_job_infos(
        models.ListJobInfosRequest(instance_id_list=[victim.job_id], project_list=[made.project])
    ).body.data
    assert (jobs.job_info_list, jobs.total_count) == ([], 0)


def test_naming_another_tenant_is_refused(running: Fixture, victim: Readable) -> None:
    other = maxcompute(running.server, running.other)
    for call in (
        lambda: other.list_quotas(models.ListQuotasRequest(tenant_id=ACCOUNT)),
        lambda: other.list_projects(models.ListProjectsRequest(tenant_id=ACCOUNT)),
        lambda: other.list_job_infos(models.ListJobInfosRequest(tenant_id=ACCOUNT)),
    ):
        with pytest.raises(ClientException) as raised:
            call()
        assert (raised.value.status_code, raised.value.code) == (400, "InvalidParameter")
        assert "tenantId" in raised.value.message
    own = other.list_quotas(models.ListQuotasRequest(tenant_id=running.other.account_id))
    assert {q.tenant_id for q in own.body.data.quota_info_list} == {running.other.account_id}


def test_a_disabled_then_deleted_key_is_refused_at_its_next_request(
    running: Fixture, victim: Readable
) -> None:
    made = victim.warehouse
    outsider = maxcompute(running.server, made.outsider)
    outsider.list_projects(models.ListProjectsRequest())  # the key works until it is changed
    key = {"UserName": "odps_outsider", "UserAccessKeyId": made.outsider.access_key_id}
    with RpcClient(running.server.url, made.root.access_key_id, made.root.access_key_secret) as rpc:
        rpc.call("UpdateAccessKey", {**key, "Status": "Inactive"})
        with pytest.raises(ClientException) as disabled:
            outsider.list_projects(models.ListProjectsRequest())
        assert (disabled.value.status_code, disabled.value.code) == (
            400,
            "InvalidAccessKeyId.Inactive",
        )
        rpc.call("DeleteAccessKey", key)
    with pytest.raises(ClientException) as deleted:
        outsider.list_projects(models.ListProjectsRequest())
    assert (deleted.value.status_code, deleted.value.code) == (404, "InvalidAccessKeyId.NotFound")
