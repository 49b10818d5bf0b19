"""Time zones: which one a job's datetimes are shown in, and how instants enter and leave it.

MaxCompute keeps a DATETIME as an instant and shows it in the job's time zone: the project's
(`odps.sql.timezone`, set by its owner) unless the job sets its own. trailhouse holds a DATETIME
as the wall-clock time in that zone, so TO_CHAR, DATETRUNC, DATEADD, YEAR … need nothing more;
only where an instant enters or leaves a query is the zone applied:

- GETDATE(), CURRENT_TIMESTAMP, CURRENT_DATE: now, in the zone;
- FROM_UNIXTIME(n): the instant n, in the zone; UNIX_TIMESTAMP(dt): dt read in the zone;
- a string with an offset (`2026-11-24T09:43:18Z`, the events' `eventTime`) read as a DATETIME:
  that instant, in the zone; a string without one is a wall-clock time already;
- CURRENT_TIMEZONE(): the zone's name.

The parser cannot know the job's zone, so it writes `JOB_ZONE` where the zone goes (as the zone
of a ConvertTimezone, or alone for CURRENT_TIMEZONE); the planner puts the job's zone there
(`apply_time_zone`). Left in place (a tree translated without a plan) it reads as UTC.
"""

from __future__ import annotations

import re
import zoneinfo
from functools import cache

from sqlglot import exp

# Where the job's zone goes, until the planner knows it.
JOB_ZONE = "\x00odps.sql.timezone"
UTC = "UTC"
# The zone of a project created before projects had one: the one its jobs answered in.
LEGACY_ZONE = UTC
# MaxCompute's default: UTC+8, Asia/Shanghai, in every China region.
CHINA_ZONE = "Asia/Shanghai"
# Regions outside mainland China: their local zone (the one DataWorks schedules them in).
_REGION_ZONES = {
    "cn-hongkong": "Asia/Hong_Kong",
    "ap-southeast-1": "Asia/Singapore",
    "ap-southeast-2": "Australia/Sydney",
    "ap-southeast-3": "Asia/Kuala_Lumpur",
    "ap-southeast-5": "Asia/Jakarta",
    "ap-southeast-6": "Asia/Manila",
    "ap-southeast-7": "Asia/Bangkok",
    "ap-northeast-1": "Asia/Tokyo",
    "ap-northeast-2": "Asia/Seoul",
    "ap-south-1": "Asia/Kolkata",
    "us-west-1": "America/Los_Angeles",
    "us-east-1": "America/New_York",
    "eu-central-1": "Europe/Berlin",
    "eu-west-1": "Europe/London",
    "me-east-1": "Asia/Dubai",
    "me-central-1": "Asia/Riyadh",
}
# A time followed by an offset or a zone: `…T09:43:18Z`, `… 09:43:18.123+08:00`,
# `…09:43-0500`, `…09:43:18 +08:00`, `… 09:43:18 UTC`, `… 09:43:18 Asia/Shanghai`. Any such text
# read as a DATETIME is that instant (DuckDB's own cast to TIMESTAMP drops the offset or zone).
OFFSET_PATTERN = (
    "[0-9]{2}:[0-9]{2}(:[0-9]{2}([.][0-9]+)?)? ?"
    "(Z|UTC|GMT|[+-][0-9]{2}(:?[0-9]{2})?|[A-Za-z]+(/[A-Za-z0-9_+-]+)+)$"
)


def region_zone(region: str) -> str:
    """The time zone a new project of `region` gets: Asia/Shanghai in mainland China (as
    MaxCompute's default), else the region's local zone; Asia/Shanghai for a region not known."""
    return _REGION_ZONES.get(region, CHINA_ZONE)


@cache
def _zones() -> dict[str, str]:
    return {name.lower(): name for name in zoneinfo.available_timezones()}


def canonical_zone(name: str) -> str | None:
    """The IANA name of a time zone (`asia/tokyo` → `Asia/Tokyo`), or None when there is none.

    MaxCompute takes region names such as Asia/Shanghai (daylight saving included), not
    offsets such as GMT+9; `Etc/GMT`, `UTC` and `GMT` are IANA names too.
    """
    return _zones().get(name.strip().lower())


def unknown_zone_message(name: str) -> str:
    """What to say about a time zone name that is not one."""
    return (
        f"unknown time zone {name.strip()!r}: use an IANA time zone name such as "
        "Asia/Shanghai, Europe/Berlin, America/New_York or UTC (offsets such as GMT+8 are not "
        "time zone names)"
    )


def job_zone() -> exp.Literal:
    """The job's zone, as the parser writes it."""
    return exp.Literal.string(JOB_ZONE)


def local_time(naive_utc: exp.Expression) -> exp.Expression:
    """An instant (a naive UTC datetime) as the wall-clock time in the job's zone."""
    return exp.ConvertTimezone(
        source_tz=exp.Literal.string(UTC), target_tz=job_zone(), timestamp=naive_utc
    )


def utc_time(local: exp.Expression) -> exp.Expression:
    """A wall-clock time in the job's zone as the naive UTC datetime of that instant."""
    return exp.ConvertTimezone(
        source_tz=job_zone(), target_tz=exp.Literal.string(UTC), timestamp=local
    )


def _now_utc() -> exp.Expression:
    return exp.AtTimeZone(this=exp.CurrentTimestamp(), zone=exp.Literal.string(UTC))


def now() -> exp.Expression:
    """GETDATE(): now, in the job's zone."""
    return local_time(_now_utc())


def _is_offset_free_literal(node: exp.Expression) -> bool:
    return (
        isinstance(node, exp.Literal)
        and node.is_string
        and re.search(OFFSET_PATTERN, str(node.this)) is None
    )


_ZONED = (exp.ConvertTimezone, exp.AtTimeZone, exp.CurrentTimestamp, exp.StrToTime)


def _read_offsets(cast: exp.Cast | exp.TryCast) -> None:
    """`CAST(x AS DATETIME)` of text with an offset is that instant in the job's zone."""
    value = cast.this
    if _is_offset_free_literal(value) or isinstance(value, (*_ZONED, exp.Null)):
        return
    if isinstance(value, (exp.Cast, exp.TryCast)) and value.to.this != exp.DataType.Type.VARCHAR:
        return
    text = exp.cast(value.copy(), exp.DataType.Type.VARCHAR)
    has_offset = exp.RegexpLike(this=text, expression=exp.Literal.string(OFFSET_PATTERN))
    instant = type(cast)(this=_offset_joined(text), to=exp.DataType.build("TIMESTAMPTZ"))
    shown = exp.ConvertTimezone(
        source_tz=exp.Literal.string(UTC), target_tz=job_zone(), timestamp=instant
    )
    cast.replace(exp.If(this=has_offset, true=shown, false=cast.copy()))


def _offset_joined(text: exp.Expression) -> exp.Expression:
    """The text with no space before a numeric offset (`03:04:05 +08:00` → `03:04:05+08:00`),
    which DuckDB reads as an instant only so; no other space of a datetime precedes + or -."""
    joined = text.copy()
    for sign in ("+", "-"):
        joined = exp.Replace(
            this=joined,
            expression=exp.Literal.string(" " + sign),
            replacement=exp.Literal.string(sign),
        )
    return joined


def _date_of_offsets(to_date: exp.TsOrDsToDate) -> None:
    """TO_DATE(text with an offset) is the date of that instant in the job's zone."""
    value = to_date.this
    if _is_offset_free_literal(value) or isinstance(value, (*_ZONED, exp.Null, exp.Cast)):
        return
    text = exp.cast(value.copy(), exp.DataType.Type.VARCHAR)
    has_offset = exp.RegexpLike(this=text, expression=exp.Literal.string(OFFSET_PATTERN))
    instant = exp.TryCast(this=_offset_joined(text), to=exp.DataType.build("TIMESTAMPTZ"))
    shown = exp.ConvertTimezone(
        source_tz=exp.Literal.string(UTC), target_tz=job_zone(), timestamp=instant
    )
    local = exp.cast(shown, exp.DataType.Type.VARCHAR)
    to_date.set("this", exp.If(this=has_offset, true=local, false=value.copy()))


def apply_time_zone(tree: exp.Expr, zone: str) -> None:
    """Put the job's zone into a parsed query: now and CURRENT_DATE in it, text with an offset
    read as a DATETIME shown in it, and every `JOB_ZONE` replaced by it (in place)."""
    for node in list(tree.find_all(exp.CurrentTimestamp)):
        if not isinstance(node.parent, exp.AtTimeZone):
            node.replace(now())
    for today in list(tree.find_all(exp.CurrentDate)):
        today.replace(exp.cast(now(), exp.DataType.Type.DATE))
    for cast in list(tree.find_all(exp.Cast, exp.TryCast)):
        if cast.to.this in (exp.DataType.Type.TIMESTAMP, exp.DataType.Type.DATETIME):
            _read_offsets(cast)
    for to_date in list(tree.find_all(exp.TsOrDsToDate)):
        _date_of_offsets(to_date)
    for literal in list(tree.find_all(exp.Literal)):
        if literal.is_string and literal.this == JOB_ZONE:
            literal.replace(exp.Literal.string(zone))


def _zone_of(node: exp.Expression | None) -> str:
    text = str(node.this) if isinstance(node, exp.Literal) else UTC
    return UTC if text == JOB_ZONE else text


def duckdb_convert(node: exp.ConvertTimezone) -> exp.Expression:
    """A ConvertTimezone as DuckDB computes it (ICU's `timezone`); the same zone twice is the
    datetime itself, so a UTC job pays nothing."""
    source = _zone_of(node.args.get("source_tz"))
    target = _zone_of(node.args.get("target_tz"))
    timestamp: exp.Expression = node.args["timestamp"]
    if _is_instant(timestamp):  # text with an offset, read as TIMESTAMPTZ: already an instant
        return exp.Anonymous(this="timezone", expressions=[exp.Literal.string(target), timestamp])
    if source.lower() == target.lower():
        return timestamp
    instant = exp.Anonymous(this="timezone", expressions=[exp.Literal.string(source), timestamp])
    return exp.Anonymous(this="timezone", expressions=[exp.Literal.string(target), instant])


def spark_convert(node: exp.ConvertTimezone) -> exp.Expression:
    """A ConvertTimezone as Spark computes it, its session in UTC: FROM_UTC_TIMESTAMP and
    TO_UTC_TIMESTAMP."""
    source = _zone_of(node.args.get("source_tz"))
    target = _zone_of(node.args.get("target_tz"))
    timestamp: exp.Expression = node.args["timestamp"]
    if _is_instant(timestamp):  # Spark's TIMESTAMP of text with an offset is the instant
        timestamp.set("to", exp.DataType.build("TIMESTAMP"))
        source = UTC
    if source.lower() == target.lower():
        return timestamp
    if source == UTC:
        return exp.Anonymous(
            this="FROM_UTC_TIMESTAMP", expressions=[timestamp, exp.Literal.string(target)]
        )
    utc = exp.Anonymous(
        this="TO_UTC_TIMESTAMP", expressions=[timestamp, exp.Literal.string(source)]
    )
    if target == UTC:
        return utc
    return exp.Anonymous(this="FROM_UTC_TIMESTAMP", expressions=[utc, exp.Literal.string(target)])


def _is_instant(node: exp.Expression) -> bool:
    return isinstance(node, (exp.Cast, exp.TryCast)) and node.to.this == (
        exp.DataType.Type.TIMESTAMPTZ
    )


def lower_for_duckdb(tree: exp.Expr) -> exp.Expr:
    """The tree with every ConvertTimezone written as DuckDB computes it (innermost first), and
    a `JOB_ZONE` no plan filled in read as UTC."""
    for node in reversed(list(tree.walk(bfs=False))):
        if isinstance(node, exp.Literal) and node.is_string and node.this == JOB_ZONE:
            node.replace(exp.Literal.string(UTC))
            continue
        if not isinstance(node, exp.ConvertTimezone):
            continue
        lowered = duckdb_convert(node)
        if node is tree:
            return lowered
        node.replace(lowered)
    return tree
