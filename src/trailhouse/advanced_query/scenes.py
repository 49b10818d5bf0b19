"""The advanced query's system scenes and their search templates (DescribeScenes,
DescribeSearchTemplates): ready-made statements for common audit questions, the same for every
account. Each template's statement is built from its conditions and parses
(`tests/unit/advanced_query/test_scenes.py`)."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Condition:
    """`key: value`, joined to the previous condition by `oper` (AND/OR)."""

    key: str
    value: str
    oper: str = "AND"


@dataclass(frozen=True, slots=True)
class SearchTemplate:
    """A system template: a name, what it finds, and its conditions."""

    token: str
    name: str
    description: str
    conditions: tuple[Condition, ...]

    @property
    def template_id(self) -> str:
        return "st-" + _id(self.token)

    @property
    def sql(self) -> str:
        """The search statement the conditions make."""
        parts: list[str] = []
        for index, condition in enumerate(self.conditions):
            if index:
                parts.append(condition.oper)
            parts.append(f"{condition.key}: {_quoted(condition.value)}")
        return " ".join(parts)


@dataclass(frozen=True, slots=True)
class Scene:
    """A group of templates for one audit question."""

    token: str
    name: str
    description: str
    templates: tuple[SearchTemplate, ...]

    @property
    def scene_id(self) -> str:
        return "sc-" + _id(self.token)


def _c(key: str, value: str, oper: str = "AND") -> Condition:
    return Condition(f"event.{key}", value, oper)


SCENES: tuple[Scene, ...] = (
    Scene(
        "console-signin",
        "Console logons",
        "Who signed in to the console, and which logons failed",
        (
            SearchTemplate(
                "root-console-signin",
                "Root console logons",
                "Events of console logons by using the root account",
                (_c("eventName", "ConsoleSignin"), _c("userIdentity.type", "root-account")),
            ),
            SearchTemplate(
                "failed-console-signin",
                "Failed console logons",
                "Console logons that failed",
                (_c("eventName", "ConsoleSignin"), _c("errorCode", "*")),
            ),
        ),
    ),
    Scene(
        "accesskey-audit",
        "AccessKey audit",
        "Calls signed with AccessKeys, and the failed ones",
        (
            SearchTemplate(
                "accesskey-calls",
                "AccessKey calls",
                "Every call signed with an AccessKey",
                (_c("userIdentity.accessKeyId", "*"),),
            ),
            SearchTemplate(
                "accesskey-errors",
                "Failed AccessKey calls",
                "Calls signed with an AccessKey that failed",
                (_c("errorCode", "*"), _c("userIdentity.accessKeyId", "*")),
            ),
            SearchTemplate(
                "root-accesskey-calls",
                "Root AccessKey calls",
                "Calls signed with the root account's AccessKey",
                (_c("userIdentity.type", "root-account"), _c("userIdentity.accessKeyId", "*")),
            ),
        ),
    ),
    Scene(
        "resource-changes",
        "Resource changes",
        "Write operations, and resources deleted or released",
        (
            SearchTemplate(
                "write-events",
                "Write events",
                "Every event that changed something",
                (_c("eventRW", "Write"),),
            ),
            SearchTemplate(
                "deletions",
                "Deletions",
                "Resources deleted or released",
                (_c("eventName", "Delete*"), _c("eventName", "Release*", "OR")),
            ),
        ),
    ),
    Scene(
        "actiontrail-changes",
        "ActionTrail configuration",
        "Changes to the trails that record the account",
        (
            SearchTemplate(
                "trail-changes",
                "Trail changes",
                "Trails created, changed, deleted or stopped",
                (
                    _c("eventName", "CreateTrail"),
                    _c("eventName", "UpdateTrail", "OR"),
                    _c("eventName", "DeleteTrail", "OR"),
                    _c("eventName", "StopLogging", "OR"),
                ),
            ),
        ),
    ),
)


def scenes(search_code: str | None) -> list[Scene]:
    """The scenes; with a search code, those whose token contains it (case-insensitively)."""
    wanted = (search_code or "").lower()
    return [scene for scene in SCENES if wanted in scene.token.lower()]


def scene(scene_id: str) -> Scene | None:
    """The scene with this id."""
    return next((s for s in SCENES if s.scene_id == scene_id), None)


def _id(token: str) -> str:
    digest = hashlib.sha256(f"trailhouse-scene:{token}".encode()).digest()[:16]
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def _quoted(value: str) -> str:
    if value == "*" or value.replace("-", "").replace("*", "").isalnum():
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
