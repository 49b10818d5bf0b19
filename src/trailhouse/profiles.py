"""Client credentials the Alibaba Cloud way: environment variables, else a named profile.

`trailhouse configure` stores profiles in `~/.trailhouse/config.json` (or the file
`TRAILHOUSE_CONFIG` names), readable by its owner only. A command's credentials come from
`--profile NAME` when given, else from ALIBABA_CLOUD_ACCESS_KEY_ID /
ALIBABA_CLOUD_ACCESS_KEY_SECRET, else from the current profile. The endpoint comes from
`--endpoint`, else TRAILHOUSE_ENDPOINT, else the profile, else http://127.0.0.1:8080.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from trailhouse.client import DEFAULT_ENDPOINT
from trailhouse.errors import SettingsError

DEFAULT_PROFILE = "default"


@dataclass(frozen=True, slots=True)
class Profile:
    """A named AccessKey pair and the endpoint it is used with."""

    name: str
    access_key_id: str
    access_key_secret: str
    endpoint: str = ""


def config_path(environ: Mapping[str, str] | None = None) -> Path:
    """Where profiles are stored."""
    environ = os.environ if environ is None else environ
    configured = environ.get("TRAILHOUSE_CONFIG")
    return Path(configured) if configured else Path.home() / ".trailhouse" / "config.json"


def save_profile(profile: Profile, path: Path, make_current: bool = True) -> None:
    """Add or replace a profile; the file is written owner-readable only."""
    document = _read(path)
    profiles = [p for p in document.get("profiles", []) if p.get("name") != profile.name]
    profiles.append(
        {
            "name": profile.name,
            "access_key_id": profile.access_key_id,
            "access_key_secret": profile.access_key_secret,
            "endpoint": profile.endpoint,
        }
    )
    document["profiles"] = sorted(profiles, key=lambda p: str(p["name"]))
    if make_current or "current" not in document:
        document["current"] = profile.name
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(orjson.dumps(document, option=orjson.OPT_INDENT_2))
    temporary.replace(path)


def load_profile(name: str | None, path: Path) -> Profile | None:
    """The named profile (or the current one when `name` is None), or None when there is none."""
    document = _read(path)
    wanted = name or document.get("current") or DEFAULT_PROFILE
    for entry in document.get("profiles", []):
        if entry.get("name") == wanted:
            return Profile(
                name=wanted,
                access_key_id=entry["access_key_id"],
                access_key_secret=entry["access_key_secret"],
                endpoint=entry.get("endpoint", ""),
            )
    if name is not None:
        raise SettingsError(
            f"there is no profile {name!r} in {path}; create it with trailhouse configure"
        )
    return None


def resolve(
    profile_name: str | None, endpoint: str | None, environ: Mapping[str, str] | None = None
) -> Profile:
    """Credentials and endpoint for a command, by the precedence in the module docstring."""
    environ = os.environ if environ is None else environ
    path = config_path(environ)
    profile = load_profile(profile_name, path) if profile_name else None
    if profile is None:
        key_id = environ.get("ALIBABA_CLOUD_ACCESS_KEY_ID")
        secret = environ.get("ALIBABA_CLOUD_ACCESS_KEY_SECRET")
        if key_id and secret:
            profile = Profile("environment", key_id, secret)
        else:
            profile = load_profile(None, path)
    if profile is None:
        raise SettingsError(
            "no credentials: set ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET, "
            "or run trailhouse configure"
        )
    chosen = endpoint or environ.get("TRAILHOUSE_ENDPOINT") or profile.endpoint or DEFAULT_ENDPOINT
    return Profile(profile.name, profile.access_key_id, profile.access_key_secret, chosen)


def _read(path: Path) -> dict[str, Any]:
    try:
        document = orjson.loads(path.read_bytes())
    except FileNotFoundError:
        return {}
    except (OSError, orjson.JSONDecodeError) as exc:
        raise SettingsError(f"cannot read profiles from {path}: {exc}") from exc
    if not isinstance(document, dict):
        raise SettingsError(f"{path} does not hold a JSON object of profiles")
    return document
