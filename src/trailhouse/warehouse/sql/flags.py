"""MaxCompute's SET flags: `SET key=value;` lines before a query (as odpscmd and DataWorks send a
script) and job settings given through the API.

Each flag trailhouse knows is either honoured (it changes what the query does) or accepted as a
no-op because trailhouse always behaves as the flag asks; a value trailhouse cannot honour, and any
flag it does not know, is refused naming the flag, so no setting is ignored in silence.
docs/warehouse.md ("SET flags") lists them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from trailhouse.warehouse.sql.dialect import UnsupportedSql
from trailhouse.warehouse.sql.timezones import canonical_zone, unknown_zone_message


@dataclass(frozen=True, slots=True)
class SqlFlags:
    """The flags a query runs under, after defaults."""

    allow_fullscan: bool = True
    # The job's time zone (an IANA name), None for the project's.
    timezone: str | None = None

    @staticmethod
    def of(settings: Mapping[str, str]) -> SqlFlags:
        """The flags of these settings; UnsupportedSql naming an unknown flag or value."""
        allow_fullscan = True
        timezone: str | None = None
        for key, raw in settings.items():
            name = key.strip().lower()
            value = _unquoted(raw).lower()
            if name == _TIMEZONE:
                timezone = canonical_zone(value)
                if timezone is None:
                    raise UnsupportedSql(
                        f"setting {name}={_unquoted(raw)} is not valid: "
                        + unknown_zone_message(_unquoted(raw)),
                        key.strip(),
                    )
                continue
            rule = _FLAGS.get(name)
            if rule is None:
                known = ", ".join(sorted([*_FLAGS, _TIMEZONE]))
                raise UnsupportedSql(
                    f"unknown setting {key.strip()}; trailhouse takes these SET flags: {known}",
                    key.strip(),
                )
            accepted, why = rule
            if accepted is None:
                if not value.isdigit() or int(value) < 1:
                    raise UnsupportedSql(
                        f"setting {name}={_unquoted(raw)} is not valid: use a whole number",
                        key.strip(),
                    )
                continue
            if value not in accepted:
                choices = " or ".join(sorted(accepted))
                raise UnsupportedSql(
                    f"setting {name}={_unquoted(raw)} is not supported: {why} "
                    f"(accepted: {choices})",
                    key.strip(),
                )
            if name == "odps.sql.allow.fullscan":
                allow_fullscan = value == "true"
        return SqlFlags(allow_fullscan=allow_fullscan, timezone=timezone)


_BOOLEAN = frozenset({"true", "false"})
# Honoured: the job's time zone, any IANA name (warehouse/sql/timezones.py).
_TIMEZONE = "odps.sql.timezone"
# Resource hints (split sizes, instance counts, memory): trailhouse sizes a job by its quota, so
# they are accepted, when they are whole numbers, and change nothing.
_HINTS = (
    "odps.sql.mapper.split.size",
    "odps.sql.reducer.instances",
    "odps.sql.joiner.instances",
    "odps.stage.mapper.split.size",
    "odps.stage.reducer.num",
    "odps.stage.joiner.num",
    "odps.stage.mapper.mem",
    "odps.stage.reducer.mem",
    "odps.stage.joiner.mem",
)
# flag → (values accepted, None for any whole number; why other values are refused)
_FLAGS: dict[str, tuple[frozenset[str] | None, str]] = {
    # Honoured: false refuses a query that reads a partitioned table with no ds condition.
    "odps.sql.allow.fullscan": (_BOOLEAN, "use true or false"),
    # No-ops: trailhouse always behaves as these values ask.
    "odps.sql.type.system.odps2": (
        frozenset({"true"}),
        "trailhouse always uses MaxCompute's 2.0 type system",
    ),
    "odps.sql.decimal.odps2": (
        frozenset({"true"}),
        "trailhouse always uses MaxCompute's 2.0 DECIMAL",
    ),
    "odps.sql.hive.compatible": (
        frozenset({"false"}),
        "trailhouse answers as MaxCompute's default (not Hive-compatible) mode",
    ),
    "odps.sql.allow.cartesian": (
        frozenset({"true"}),
        "trailhouse always allows a JOIN without a condition",
    ),
    # GET_JSON_OBJECT's new mode, which MaxCompute's page asks for before `$['a.b']` paths and
    # which JSON_TUPLE always follows: the original text of the value, `['']` steps.
    "odps.sql.udf.getjsonobj.new": (
        frozenset({"true"}),
        "trailhouse's GET_JSON_OBJECT always answers as the new mode (the value's original "
        "text, ['key'] steps)",
    ),
    # trailhouse runs no UDFs, so whether a UDF error fails the query changes nothing (PyODPS
    # sends "true" with every SQL task).
    "odps.sql.udf.strict.mode": (_BOOLEAN, "use true or false"),
    **dict.fromkeys(_HINTS, (None, "a resource hint takes a whole number")),
}

# `SET key = value;` at the start of a script, and the comments (`--` and `/* */`) and blank
# lines around them.
_SET = re.compile(r"SET\s+([A-Za-z0-9_.\-]+)\s*=\s*([^;\n]*?)\s*;", re.IGNORECASE)
_GAP = re.compile(r"(?:\s+|--[^\n]*|/\*.*?\*/)+", re.DOTALL)


def split_script(sql: str) -> tuple[dict[str, str], str]:
    """The `SET key=value;` statements that open the script, and the script with them blanked
    out (spaces, the line breaks kept, so positions in the rest stay those of the text)."""
    settings: dict[str, str] = {}
    blanked = list(sql)
    position = 0
    while True:
        gap = _GAP.match(sql, position)
        if gap is not None:
            position = gap.end()
        match = _SET.match(sql, position)
        if match is None:
            break
        settings[match.group(1)] = match.group(2)
        for index in range(match.start(), match.end()):
            if blanked[index] != "\n":
                blanked[index] = " "
        position = match.end()
    return settings, "".join(blanked)


def _unquoted(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value
