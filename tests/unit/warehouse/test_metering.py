"""Storage samples and bills, checked against MaxCompute's price formulas computed here."""

from __future__ import annotations

import calendar
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from builders import ACCOUNT, REGION, WarehouseFixture, logged_events, open_test_warehouse, root

from trailhouse.errors import InvalidParameter
from trailhouse.warehouse.metering import Metering
from trailhouse.warehouse.pricing import BYTES_PER_GB

TABLE = "actiontrail_audit_trail"


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


def at(day: str, hour: int) -> float:
    return calendar.timegm(time.strptime(f"{day}{hour:02d}", "%Y%m%d%H"))


@pytest.fixture
def tw(tmp_path: Path) -> Iterator[WarehouseFixture]:
    # No free allowance and a visible price, so that a small test table has a non-zero bill.
    opened = open_test_warehouse(
        tmp_path / "data", storage_free_gb=0.0, storage_price_per_gb_day=2.0, sql_price_per_gb=5.0
    )
    yield opened
    opened.close()


def metering(tw: WarehouseFixture, clock: Clock) -> Metering:
    w = tw.warehouse
    return Metering(tw.settings, tw.metadata, w.catalog, w.quotas, w.jobs, clock)


def test_storage_is_billed_on_the_mean_of_the_days_samples(tw: WarehouseFixture) -> None:
    clock = Clock(at("20260301", 0))
    meter = metering(tw, clock)
    meter.sample_storage()  # empty project: 0 bytes
    tw.append(logged_events(500))
    clock.now = at("20260301", 1)
    size = tw.warehouse.catalog.project_bytes(tw.project)
    meter.sample_storage()
    clock.now = at("20260301", 1) + 1800  # same hour: replaces that hour's sample
    meter.sample_storage()
    (line,) = [b for b in meter.bill(ACCOUNT, "20260301", "20260301") if b.item == "storage"]
    mean_gb = (0 + size) / 2 / BYTES_PER_GB
    assert line.usage == pytest.approx(mean_gb)
    assert line.amount_usd == pytest.approx(mean_gb * 2.0)
    assert line.project == tw.project.name and line.region == REGION


def test_the_first_gb_is_free(tw: WarehouseFixture) -> None:
    from trailhouse.settings import Settings
    from trailhouse.warehouse.pricing import storage_cost

    standard = Settings.load({}, environ={})
    assert storage_cost(0.5, standard) == 0.0
    assert storage_cost(10240, standard) == pytest.approx((10240 - 1) * 0.0006)  # reference §4


def test_sql_is_billed_per_job_on_the_day_it_finished(tw: WarehouseFixture) -> None:
    tw.append(logged_events(500))
    jobs = tw.warehouse.jobs
    done = []
    for sql in (
        f"SELECT event_name, COUNT(*) FROM {TABLE} GROUP BY event_name",
        f"SELECT DISTINCT a.user_name FROM {TABLE} a JOIN {TABLE} b ON a.event_id = b.event_id "
        "GROUP BY a.user_name ORDER BY a.user_name LIMIT 3",
    ):
        job = jobs.submit(root(), tw.project, sql)
        done.append(jobs.wait(root(), job.job_id, timeout=60))
    assert [j.complexity for j in done] == [1.0, 1.5]
    today = time.strftime("%Y%m%d", time.gmtime())
    lines = [b for b in tw.warehouse.metering.bill(ACCOUNT, today, today) if b.item == "sql"]
    expected = sum(j.input_bytes / BYTES_PER_GB * j.complexity * 5.0 for j in done)
    assert sum(b.amount_usd for b in lines) == pytest.approx(expected)
    assert expected > 0


def test_subscription_jobs_are_free_and_the_quota_is_billed_per_day(tw: WarehouseFixture) -> None:
    w = tw.warehouse
    w.quotas.create_subscription(ACCOUNT, "cn-shanghai", "team", 3)
    project = w.catalog.ensure_project(ACCOUNT, "cn-shanghai", "team_data", quota="team")
    w.catalog.ensure_table(project, "t1")
    job = w.jobs.wait(root(), w.jobs.submit(root(), project, "SELECT COUNT(*) FROM t1").job_id, 60)
    assert job.status == "Terminated" and job.cost_usd == 0.0
    meter = metering(tw, Clock(time.time() + 2 * 86400))  # two days after buying it
    today = time.strftime("%Y%m%d", time.gmtime())
    subscription = [b for b in meter.bill(ACCOUNT, today, "20991231") if b.item == "subscription"]
    assert len(subscription) == 3
    assert all(b.amount_usd == pytest.approx(3 * 22.0 / 30) for b in subscription)


def test_bad_days_are_refused(tw: WarehouseFixture) -> None:
    with pytest.raises(InvalidParameter, match="YYYYMMDD"):
        tw.warehouse.metering.bill(ACCOUNT, "2026-03-01", "20260302")


def test_a_reversed_range_is_refused_not_an_empty_bill(tw: WarehouseFixture) -> None:
    with pytest.raises(InvalidParameter, match="20260302 is after the last day 20260301"):
        tw.warehouse.metering.bill(ACCOUNT, "20260302", "20260301")
    assert tw.warehouse.metering.bill(ACCOUNT, "20260301", "20260301") == []
