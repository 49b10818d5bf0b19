"""Alibaba Cloud Resource Names (ARNs) trailhouse reads and writes.

role              acs:ram::<account>:role/<role name>          (role names are case-insensitive)
MaxCompute project acs:odps:<region>:<account>:project/<name>
Log Service project acs:log:<region>:<account>:project/<name>
trail             acs:actiontrail:<home region>:<account>:trail/<name>
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_ROLE = re.compile(r"^acs:ram::(?P<account>[0-9]{16}):role/(?P<name>[A-Za-z0-9.-]{1,64})\Z")
_PROJECT = re.compile(
    r"^acs:(?P<service>odps|log):(?P<region>[a-z0-9-]+):(?P<account>[0-9]{16}):"
    r"project/(?P<name>[A-Za-z0-9_-]{3,63})\Z"
)


@dataclass(frozen=True, slots=True)
class RoleArn:
    """A RAM role in an account."""

    account_id: str
    role_name: str

    def __str__(self) -> str:
        return f"acs:ram::{self.account_id}:role/{self.role_name.lower()}"


@dataclass(frozen=True, slots=True)
class ProjectArn:
    """A MaxCompute (`odps`) or Log Service (`log`) project in a region of an account."""

    service: str
    region: str
    account_id: str
    name: str

    def __str__(self) -> str:
        return f"acs:{self.service}:{self.region}:{self.account_id}:project/{self.name}"


def parse_role_arn(text: str) -> RoleArn | None:
    """The role an ARN names, or None when it is not a role ARN."""
    match = _ROLE.match(text)
    return RoleArn(match["account"], match["name"]) if match else None


def parse_project_arn(text: str, service: str) -> ProjectArn | None:
    """The project an ARN of `service` (odps or log) names, or None when it is not one."""
    match = _PROJECT.match(text)
    if match is None or match["service"] != service:
        return None
    return ProjectArn(service, match["region"], match["account"], match["name"])


def trail_arn(home_region: str, account_id: str, name: str) -> str:
    """The ARN of a trail."""
    return f"acs:actiontrail:{home_region}:{account_id}:trail/{name}"
