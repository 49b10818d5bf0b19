"""Every rule a trail request can break, through the official SDK: the exact code, HTTP status and
a message fragment, and proof that a refused request changed nothing."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from alibabacloud_actiontrail20200706 import models
from alibabacloud_actiontrail20200706.client import Client
from alibabacloud_tea_openapi.exceptions import ClientException
from compat_support import Keys, Regional, sdk_at

EXISTING = "rules-existing"
FULL_REGION_TRAILS = 5


@dataclass(frozen=True)
class Accounts:
    """`base` owns one trail (EXISTING); `full` owns five trails in cn-hangzhou."""

    base: Keys
    full: Keys


def _project(account_id: str) -> str:
    return f"acs:odps:cn-hangzhou:{account_id}:project/actiontrail_{account_id}"


@pytest.fixture(scope="module")
def accounts(regional: Regional) -> Accounts:
    base = regional.new_account()
    client = sdk_at(regional.endpoint("cn-hangzhou"), base)
    client.create_trail(
        models.CreateTrailRequest(name=EXISTING, max_compute_project_arn=_project(base.account_id))
    )
    full = regional.new_account()  # `trailhouse account create` while the server runs
    client = sdk_at(regional.endpoint("cn-hangzhou"), full)
    for index in range(FULL_REGION_TRAILS):
        client.create_trail(
            models.CreateTrailRequest(
                name=f"rules-full-{index}", max_compute_project_arn=_project(full.account_id)
            )
        )
    return Accounts(base, full)


def _snapshot(client: Client) -> list[dict[str, Any]]:
    """Every trail the account has, in every detail, as every region port would list it."""
    request = models.DescribeTrailsRequest(include_shadow_trails=True)
    return [trail.to_map() for trail in client.describe_trails(request).body.trail_list]


# Parameter values may name "{account}", the account the request is made with.
VALID = {"max_compute_project_arn": _project("{account}")}
MISSING_TRAIL = "rules-no-such-trail"


@dataclass(frozen=True)
class Case:
    """One broken request: action, SDK request fields, and the error it must get."""

    action: str
    fields: dict[str, Any]
    code: str
    status: int
    message: str
    account: str = "base"


def _create(code: str, message: str, status: int = 400, **fields: Any) -> Case:
    return Case(
        "CreateTrail", {"name": "rules-new-trail", **VALID, **fields}, code, status, message
    )


NAME = "InvalidTrailNameException"
CASES = {
    "name-too-short": _create(NAME, "must be 6-36 characters", name="abcde"),
    "name-uppercase": _create(NAME, "'Rules-Upper'", name="Rules-Upper"),
    "name-starts-with-digit": _create(NAME, "starting with a lowercase letter", name="1rules-x"),
    "name-37-chars": _create(NAME, "must be 6-36 characters", name="r" * 37),
    "name-bad-char": _create(NAME, "'rules.trail'", name="rules.trail"),
    "duplicate-name": _create(
        "TrailAlreadyExistsException", f"a trail named {EXISTING} already exists", name=EXISTING
    ),
    "event-rw-invalid": _create(
        "InvalidParameter", "EventRW must be Read, Write or All, not 'Delete'", event_rw="Delete"
    ),
    "trail-region-unknown": _create(
        "InvalidRegionException", "unknown: mars-north-1", trail_region="cn-hangzhou,mars-north-1"
    ),
    "no-destination": _create(
        "InvalidParameter", "needs at least one destination", max_compute_project_arn=None
    ),
    "max-compute-arn-malformed": _create(
        "InvalidParameter",
        "must look like acs:odps:<region>:<account id>:project/actiontrail_<name>",
        max_compute_project_arn="acs:odps:cn-hangzhou:12345:project/actiontrail_x",
    ),
    "max-compute-project-not-actiontrail": _create(
        "InvalidParameter",
        "the MaxCompute project audit_logs must be named actiontrail_",
        max_compute_project_arn="acs:odps:cn-hangzhou:{account}:project/audit_logs",
    ),
    "max-compute-region-unknown": _create(
        "InvalidRegionException",
        "the region mars-north-1 of MaxComputeProjectArn",
        max_compute_project_arn="acs:odps:mars-north-1:{account}:project/actiontrail_x",
    ),
    "oss-bucket-invalid": _create(
        "InvalidBucketNameException", "OssBucketName 'Bad_Bucket'", oss_bucket_name="Bad_Bucket"
    ),
    "oss-key-prefix-invalid": _create(
        "InvalidPrefixException",
        "OssKeyPrefix '1logs'",
        oss_bucket_name="rules-bucket",
        oss_key_prefix="1logs",
    ),
    "sls-arn-malformed": _create(
        "InvalidParameter",
        "SlsProjectArn 'acs:log:cn-hangzhou:{account}:logstore/x' must look like",
        sls_project_arn="acs:log:cn-hangzhou:{account}:logstore/x",
    ),
    "role-arn-malformed": _create(
        "InvalidParameter",
        "MaxComputeWriteRoleArn 'acs:ram:cn-hangzhou:{account}:role/writer' must look like",
        max_compute_write_role_arn="acs:ram:cn-hangzhou:{account}:role/writer",
    ),
    "sixth-trail-in-region": Case(
        "CreateTrail",
        {"name": "rules-full-5", **VALID},
        "MaximumNumberOfTrailsExceededException",
        403,
        "already has 5 single-account trails in cn-hangzhou",
        account="full",
    ),
    "create-without-name": Case("CreateTrail", dict(VALID), "MissingParameter", 400, "Name"),
    "delete-without-name": Case("DeleteTrail", {}, "MissingParameter", 400, "Name"),
    "update-invalid-event-rw": Case(
        "UpdateTrail",
        {"name": EXISTING, "event_rw": "Sometimes"},
        "InvalidParameter",
        400,
        "EventRW must be Read, Write or All",
    ),
    "update-invalid-bucket": Case(
        "UpdateTrail",
        {"name": EXISTING, "oss_bucket_name": "x"},
        "InvalidBucketNameException",
        400,
        "OssBucketName 'x'",
    ),
    **{
        f"{action}-unknown-trail": Case(
            action,
            {"name": MISSING_TRAIL, **({"event_rw": "Read"} if action == "UpdateTrail" else {})},
            "TrailNotFoundException",
            404,
            f"the trail {MISSING_TRAIL} does not exist in account {{account}}",
        )
        for action in (
            "DeleteTrail",
            "StartLogging",
            "StopLogging",
            "GetTrailStatus",
            "UpdateTrail",
        )
    },
}

_METHODS = {
    "CreateTrail": ("create_trail", models.CreateTrailRequest),
    "UpdateTrail": ("update_trail", models.UpdateTrailRequest),
    "DeleteTrail": ("delete_trail", models.DeleteTrailRequest),
    "StartLogging": ("start_logging", models.StartLoggingRequest),
    "StopLogging": ("stop_logging", models.StopLoggingRequest),
    "GetTrailStatus": ("get_trail_status", models.GetTrailStatusRequest),
}


def _fill(value: Any, account_id: str) -> Any:
    return value.replace("{account}", account_id) if isinstance(value, str) else value


@pytest.mark.parametrize("case", list(CASES.values()), ids=list(CASES))
def test_a_broken_request_is_refused_and_changes_nothing(
    regional: Regional, accounts: Accounts, case: Case
) -> None:
    keys = accounts.full if case.account == "full" else accounts.base
    client = sdk_at(regional.endpoint("cn-hangzhou"), keys)
    before = _snapshot(client)
    assert before, "the account's trails are missing"
    method, request_type = _METHODS[case.action]
    request = request_type(**{k: _fill(v, keys.account_id) for k, v in case.fields.items()})

    with pytest.raises(ClientException) as raised:
        getattr(client, method)(request)
    error = raised.value
    assert (error.code, error.status_code) == (case.code, case.status), error.message
    assert _fill(case.message, keys.account_id) in error.message
    assert error.request_id
    assert _snapshot(client) == before


def test_the_table_covers_every_trail_action() -> None:
    assert {case.action for case in CASES.values()} == set(_METHODS)


def test_a_sixth_trail_fits_in_another_region(regional: Regional) -> None:
    """The limit is per region: an account with five trails in one region may add one elsewhere."""
    keys = regional.new_account()
    hangzhou = sdk_at(regional.endpoint("cn-hangzhou"), keys)
    for index in range(FULL_REGION_TRAILS):
        hangzhou.create_trail(
            models.CreateTrailRequest(
                name=f"region-{index}-{uuid.uuid4().hex[:6]}",
                sls_project_arn=f"acs:log:cn-hangzhou:{keys.account_id}:project/audit",
            )
        )
    shanghai = sdk_at(regional.endpoint("cn-shanghai"), keys)
    created = shanghai.create_trail(
        models.CreateTrailRequest(
            name="region-shanghai",
            sls_project_arn=f"acs:log:cn-shanghai:{keys.account_id}:project/audit",
        )
    ).body
    assert created.home_region == "cn-shanghai"
