"""The rules a trail's parameters must follow (reference §1.3), each with its error code.

Every message says what a valid value looks like, so the caller can fix the request.
"""

from __future__ import annotations

import re

from trailhouse.errors import (
    InvalidBucketNameException,
    InvalidParameter,
    InvalidPrefixException,
    InvalidRegionException,
    InvalidTrailNameException,
)
from trailhouse.iam.arns import parse_project_arn, parse_role_arn
from trailhouse.regions import Regions
from trailhouse.trails.model import Destinations

EVENT_RW_VALUES = ("Read", "Write", "All")
DEFAULT_EVENT_RW = "All"
MAX_COMPUTE_PROJECT_PREFIX = "actiontrail_"

_NAME = re.compile(r"^[a-z][a-z0-9_-]{5,35}\Z")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9-]{2,62}\Z")
_PREFIX = re.compile(r"^[A-Za-z][A-Za-z0-9/_-]{5,31}\Z")


def check_name(name: str) -> None:
    """Trail names: 6-36 lowercase letters, digits, '-' or '_', starting with a letter."""
    if not _NAME.match(name):
        raise InvalidTrailNameException(
            f"the trail name {name!r} must be 6-36 characters of lowercase letters, digits, '-' "
            "and '_', starting with a lowercase letter"
        )


def check_event_rw(value: str) -> str:
    """Read, Write or All."""
    if value not in EVENT_RW_VALUES:
        raise InvalidParameter(f"EventRW must be Read, Write or All, not {value!r}")
    return value


def check_trail_region(value: str, regions: Regions) -> str:
    """All, or a comma-separated list of configured regions (normalised, no duplicates)."""
    if value == "All":
        return value
    wanted = [part.strip() for part in value.split(",") if part.strip()]
    unknown = [region for region in wanted if region not in regions]
    if not wanted or unknown:
        raise InvalidRegionException(
            f"TrailRegion must be All or regions of this installation ({', '.join(regions.ids())})"
            + (f"; unknown: {', '.join(unknown)}" if unknown else "")
        )
    return ",".join(dict.fromkeys(wanted))


def check_destinations(destinations: Destinations, regions: Regions) -> None:
    """Each destination parameter well-formed, and at least one destination."""
    d = destinations
    if not d.any():
        raise InvalidParameter(
            "a trail needs at least one destination: MaxComputeProjectArn, SlsProjectArn or "
            "OssBucketName"
        )
    if d.oss_bucket_name and not _BUCKET.match(d.oss_bucket_name):
        raise InvalidBucketNameException(
            f"OssBucketName {d.oss_bucket_name!r} must be 3-63 lowercase letters, digits and '-', "
            "starting with a letter or digit"
        )
    if d.oss_key_prefix and not _PREFIX.match(d.oss_key_prefix):
        raise InvalidPrefixException(
            f"OssKeyPrefix {d.oss_key_prefix!r} must be 6-32 letters, digits, '-', '/' and '_', "
            "starting with a letter"
        )
    if d.oss_key_prefix and not d.oss_bucket_name:
        raise InvalidParameter("OssKeyPrefix needs OssBucketName")
    if d.sls_project_arn:
        project = parse_project_arn(d.sls_project_arn, "log")
        if project is None:
            raise InvalidParameter(
                f"SlsProjectArn {d.sls_project_arn!r} must look like "
                "acs:log:<region>:<account id>:project/<project>"
            )
        _check_region(project.region, "SlsProjectArn", regions)
    if d.max_compute_project_arn:
        project = parse_project_arn(d.max_compute_project_arn, "odps")
        if project is None:
            raise InvalidParameter(
                f"MaxComputeProjectArn {d.max_compute_project_arn!r} must look like "
                "acs:odps:<region>:<account id>:project/actiontrail_<name>"
            )
        if not project.name.startswith(MAX_COMPUTE_PROJECT_PREFIX):
            raise InvalidParameter(
                f"the MaxCompute project {project.name} must be named "
                f"{MAX_COMPUTE_PROJECT_PREFIX}…: only such projects accept trail deliveries"
            )
        _check_region(project.region, "MaxComputeProjectArn", regions)
    for parameter, value in (
        ("OssWriteRoleArn", d.oss_write_role_arn),
        ("SlsWriteRoleArn", d.sls_write_role_arn),
        ("MaxComputeWriteRoleArn", d.max_compute_write_role_arn),
    ):
        if value and parse_role_arn(value) is None:
            raise InvalidParameter(
                f"{parameter} {value!r} must look like acs:ram::<account id>:role/<role name>"
            )
    if d.max_compute_write_role_arn and not d.max_compute_project_arn:
        raise InvalidParameter("MaxComputeWriteRoleArn needs MaxComputeProjectArn")


def check_project_account(destinations: Destinations) -> None:
    """A new MaxCompute destination is `actiontrail_<the ARN's account id>`: such a project
    belongs to that account only, and the prefix is reserved for those (docs/warehouse.md)."""
    project = parse_project_arn(destinations.max_compute_project_arn, "odps")
    if project is None:
        return
    expected = f"{MAX_COMPUTE_PROJECT_PREFIX}{project.account_id}"
    if project.name.lower() != expected:
        raise InvalidParameter(
            f"the MaxCompute project {project.name} of account {project.account_id} must be "
            f"named {expected}: a project {MAX_COMPUTE_PROJECT_PREFIX}<account id> belongs to "
            "that account only, and no other name may take the prefix"
        )


def _check_region(region: str, parameter: str, regions: Regions) -> None:
    if region not in regions:
        raise InvalidRegionException(
            f"the region {region} of {parameter} is not one of {', '.join(regions.ids())}"
        )
