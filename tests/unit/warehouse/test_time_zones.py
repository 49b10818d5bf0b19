"""Time zones on DuckDB and on Spark: a project's `odps.sql.timezone` (its region's default at
creation, changed by its owner) and a job's own (`SET odps.sql.timezone=…;`, job settings) are
the zone GETDATE, FROM_UNIXTIME, UNIX_TIMESTAMP, CURRENT_TIMEZONE and the reading of text with
an offset (the events' `eventTime`) honour; the delivered `event_time` text stays as recorded.

FROM_UNIXTIME(123456789) and UNIX_TIMESTAMP('2009-03-20 11:11:00') are MaxCompute's documented
examples (in a UTC+8 project); the other zones' answers are computed with Python's zoneinfo
below, around a daylight saving change in Europe/Berlin and America/New_York.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from builders import ACCOUNT, REGION, WarehouseFixture, logged_events, ram_user, root
from conformance_helpers import ENGINES, engine_warehouse

from trailhouse.errors import ApiError, InvalidParameter, NoPermission
from trailhouse.warehouse.model import JobStatus, Project
from trailhouse.warehouse.sql.engine import ResultSet
from trailhouse.warehouse.sql.timezones import canonical_zone, region_zone

TABLE = "actiontrail_audit_trail"
ZONES = ["UTC", "Asia/Shanghai", "Europe/Berlin", "America/New_York"]


@pytest.fixture(scope="module", params=ENGINES)
def tw(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WarehouseFixture]:
    for opened in engine_warehouse(request, tmp_path_factory):
        opened.append(logged_events(40, days=2))
        yield opened


def _project(tw: WarehouseFixture) -> Project:
    return tw.warehouse.catalog.get_project(REGION, tw.project.name)


def run(tw: WarehouseFixture, sql: str, settings: dict[str, str] | None = None) -> ResultSet:
    jobs = tw.warehouse.jobs
    job = jobs.submit(root(), _project(tw), sql, settings)
    job = jobs.wait(root(), job.job_id, timeout=120)
    assert job.status == JobStatus.TERMINATED, (job.error_code, job.error_message)
    return jobs.result(root(), job.job_id)


def value(tw: WarehouseFixture, zone: str, expression: str) -> object:
    rows = run(tw, f"SET odps.sql.timezone={zone};\nSELECT {expression}").rows
    return rows[0][0]


def _local(epoch: int, zone: str) -> str:
    return datetime.fromtimestamp(epoch, ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M:%S")


def _epoch(local: str, zone: str) -> int:
    moment = datetime.strptime(local, "%Y-%m-%d %H:%M:%S").replace(tzinfo=ZoneInfo(zone))
    return int(moment.timestamp())


# ---- the project's zone -----------------------------------------------------------------


def test_a_new_project_takes_its_regions_zone() -> None:
    assert region_zone("cn-hangzhou") == "Asia/Shanghai"
    assert region_zone("eu-central-1") == "Europe/Berlin"
    assert region_zone("us-east-1") == "America/New_York"
    assert canonical_zone("asia/tokyo") == "Asia/Tokyo"
    assert canonical_zone("GMT+8") is None


def test_documented_examples_in_the_projects_default_zone(tw: WarehouseFixture) -> None:
    assert _project(tw).time_zone == "Asia/Shanghai"
    assert run(tw, "SELECT CURRENT_TIMEZONE()").rows == [["Asia/Shanghai"]]
    assert run(tw, "SELECT FROM_UNIXTIME(123456789)").rows == [["1973-11-30 05:33:09"]]
    documented = "SELECT UNIX_TIMESTAMP(DATETIME '2009-03-20 11:11:00')"
    assert run(tw, documented).rows == [[1237518660]]
    assert run(tw, "SELECT UNIX_TIMESTAMP('2009-03-20 11:11:00')").rows == [[1237518660]]
    assert run(tw, "SELECT FROM_UNIXTIME(123456789)").types == ("DATETIME",)


def test_the_owner_changes_the_projects_zone_and_a_job_overrides_it(tw: WarehouseFixture) -> None:
    catalog = tw.warehouse.catalog
    try:
        changed = catalog.set_time_zone(root(), REGION, tw.project.name, "europe/berlin")
        assert changed.timezone == "Europe/Berlin"
        assert run(tw, "SELECT CURRENT_TIMEZONE(), FROM_UNIXTIME(0)").rows == [
            ["Europe/Berlin", "1970-01-01 01:00:00"]
        ]
        # SET in the script, then the job's settings, override the project's zone.
        assert run(tw, "SET odps.sql.timezone=UTC;\nSELECT FROM_UNIXTIME(0)").rows == [
            ["1970-01-01 00:00:00"]
        ]
        tokyo = {"odps.sql.timezone": "Asia/Tokyo"}
        assert run(tw, "SELECT FROM_UNIXTIME(0)", tokyo).rows == [["1970-01-01 09:00:00"]]
    finally:
        catalog.set_time_zone(root(), REGION, tw.project.name, "Asia/Shanghai")


def test_only_the_owners_root_key_sets_the_zone_and_only_a_known_one(
    tw: WarehouseFixture,
) -> None:
    catalog = tw.warehouse.catalog
    with pytest.raises(NoPermission, match="only the root key of the owner account"):
        catalog.set_time_zone(ram_user("alice"), REGION, tw.project.name, "UTC")
    with pytest.raises(InvalidParameter, match="unknown time zone 'Mars/Olympus'"):
        catalog.set_time_zone(root(), REGION, tw.project.name, "Mars/Olympus")
    with pytest.raises(InvalidParameter, match="unknown time zone 'GMT\\+8'"):
        catalog.set_time_zone(root(), REGION, tw.project.name, "GMT+8")
    assert _project(tw).time_zone == "Asia/Shanghai"


def test_an_unknown_zone_in_a_job_is_refused_by_name(tw: WarehouseFixture) -> None:
    with pytest.raises(ApiError) as refused:
        tw.warehouse.jobs.submit(root(), _project(tw), "SELECT 1", {"odps.sql.timezone": "Nowhere"})
    assert refused.value.code == "ODPS-0130071"
    assert "unknown time zone 'Nowhere'" in refused.value.message


# ---- the functions, in several zones ----------------------------------------------------

# Instants on both sides of the 2026 daylight saving changes (Europe: 29 March and 25 October;
# America/New_York: 8 March and 1 November), and the epoch.
INSTANTS = [0, 123456789, 1774746000, 1774749600, 1792890000, 1772953200, 1782900000]


@pytest.mark.parametrize("zone", ZONES)
def test_from_unixtime_shows_the_instant_in_the_zone(tw: WarehouseFixture, zone: str) -> None:
    listed = ", ".join(f"FROM_UNIXTIME({n})" for n in INSTANTS)
    got = run(tw, f"SET odps.sql.timezone={zone};\nSELECT {listed}").rows[0]
    assert got == [_local(n, zone) for n in INSTANTS]


@pytest.mark.parametrize("zone", ZONES)
def test_unix_timestamp_reads_a_datetime_in_the_zone(tw: WarehouseFixture, zone: str) -> None:
    locals_ = ["2009-03-20 11:11:00", "2026-01-15 12:00:00", "2026-07-01 12:00:00"]
    listed = ", ".join(f"UNIX_TIMESTAMP('{t}')" for t in locals_)
    got = run(tw, f"SET odps.sql.timezone={zone};\nSELECT {listed}").rows[0]
    assert got == [_epoch(t, zone) for t in locals_]
    # FROM_UNIXTIME and UNIX_TIMESTAMP undo each other in every zone.
    round_trip = f"UNIX_TIMESTAMP(FROM_UNIXTIME({INSTANTS[3]}))"
    assert value(tw, zone, round_trip) == INSTANTS[3]


@pytest.mark.parametrize("zone", ZONES)
def test_getdate_and_current_date_are_now_in_the_zone(tw: WarehouseFixture, zone: str) -> None:
    before = datetime.now(ZoneInfo(zone)).replace(tzinfo=None) - timedelta(seconds=2)
    got = run(tw, f"SET odps.sql.timezone={zone};\nSELECT GETDATE(), CURRENT_TIMEZONE()").rows
    after = datetime.now(ZoneInfo(zone)).replace(tzinfo=None) + timedelta(seconds=2)
    shown = datetime.strptime(str(got[0][0]), "%Y-%m-%d %H:%M:%S")
    assert before <= shown <= after and got[0][1] == zone
    now_epoch = int(value(tw, zone, "UNIX_TIMESTAMP(GETDATE())"))  # type: ignore[call-overload]
    assert abs(now_epoch - datetime.now(UTC).timestamp()) < 5


@pytest.mark.parametrize("zone", ZONES)
def test_text_with_an_offset_is_that_instant_in_the_zone(tw: WarehouseFixture, zone: str) -> None:
    # eventTime is ISO text in UTC; read as a DATETIME it is shown in the job's zone, while
    # text without an offset is a wall-clock time already.
    recorded = "2026-10-24T23:43:18Z"
    epoch = int(datetime(2026, 10, 24, 23, 43, 18, tzinfo=UTC).timestamp())
    shown = _local(epoch, zone)
    got = run(
        tw,
        f"SET odps.sql.timezone={zone};\n"
        f"SELECT TO_CHAR('{recorded}', 'yyyy-mm-dd hh:mi:ss'), DATETRUNC('{recorded}', 'dd'), "
        f"UNIX_TIMESTAMP('{recorded}'), CAST('{recorded}' AS DATETIME), "
        f"TO_CHAR('2026-10-24 23:43:18', 'yyyy-mm-dd hh:mi:ss'), TO_DATE('{recorded}')",
    ).rows[0]
    day = shown[:10]
    assert got == [shown, day + " 00:00:00", epoch, shown, "2026-10-24 23:43:18", day]


# Text with an offset or a zone after its time, and the instant it names (2026-01-01 19:04:05
# UTC unless said): CAST to DATETIME or TIMESTAMP is that instant shown in the job's zone on
# both engines, never the wall-clock text with its offset dropped (DuckDB's own cast).
OFFSET_TEXTS = [
    ("2026-01-02T03:04:05+08:00", 0),
    ("2026-01-02 03:04:05+08:00", 0),
    ("2026-01-02T03:04:05+0800", 0),
    ("2026-01-02T03:04:05+08", 0),
    ("2026-01-02T03:04:05 +08:00", 0),
    ("2026-01-02 03:04:05 -05:30", 13 * 3600 + 30 * 60),
    ("2026-01-01 19:04:05 UTC", 0),
    ("2026-01-01T19:04:05Z", 0),
    ("2026-01-02 03:04:05 Asia/Shanghai", 0),
]


@pytest.mark.parametrize(("text", "later"), OFFSET_TEXTS)
@pytest.mark.parametrize("kind", ["DATETIME", "TIMESTAMP"])
def test_a_cast_of_text_with_an_offset_honours_it(
    tw: WarehouseFixture, text: str, later: int, kind: str
) -> None:
    epoch = int(datetime(2026, 1, 1, 19, 4, 5, tzinfo=UTC).timestamp()) + later
    zone = "Europe/Berlin"
    got = run(
        tw,
        f"SET odps.sql.timezone={zone};\n"
        f"SELECT CAST('{text}' AS {kind}), CAST(CONCAT('{text}', '') AS {kind})",
    ).rows[0]
    assert got == [_local(epoch, zone)] * 2


# ---- delivered events -----------------------------------------------------------------


@pytest.mark.parametrize("zone", ["UTC", "Asia/Shanghai", "America/New_York"])
def test_event_time_stays_as_recorded_and_reads_in_the_zone(
    tw: WarehouseFixture, zone: str
) -> None:
    got = run(
        tw,
        f"SET odps.sql.timezone={zone};\n"
        "SELECT event_time, GET_JSON_OBJECT(event, '$.eventTime'), ds, "
        f"TO_CHAR(event_time, 'yyyy-mm-dd hh:mi:ss') FROM {TABLE} ORDER BY event_id LIMIT 5",
    ).rows
    assert got
    for text, recorded, ds, shown in got:
        assert text == recorded and str(text).endswith("Z")  # the text as recorded
        instant = datetime.strptime(str(text), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        assert ds == instant.strftime("%Y%m%d")  # ds stays the UTC day of eventTime
        assert shown == instant.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M:%S")


def test_a_project_from_before_zones_answers_in_utc() -> None:
    old = Project("cn-hangzhou", "p", ACCOUNT, "q", (), 0)
    assert old.time_zone == "UTC"
