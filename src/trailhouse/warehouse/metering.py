"""Storage samples and bills: what each project stored each hour, and what each day cost.

Storage is sampled hourly per project (the committed files' bytes); a day's storage fee uses
the mean of that day's samples (the hours trailhouse was running). SQL fees are the costs the
jobs recorded when they ran, on the day they finished; failed jobs are free. Subscription quotas
cost their CUs per day from the day they were bought.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

from trailhouse.errors import InvalidParameter
from trailhouse.settings import Settings
from trailhouse.store.documents import decode, encode
from trailhouse.store.ports import DocumentWrite, MetadataStore
from trailhouse.warehouse.catalog import Catalog
from trailhouse.warehouse.jobs import SqlJobService
from trailhouse.warehouse.model import STORAGE_SAMPLE_KIND, JobStatus
from trailhouse.warehouse.pricing import (
    BYTES_PER_GB,
    storage_cost,
    subscription_cost_per_day,
)
from trailhouse.warehouse.quotas import QuotaService

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class StorageSample:
    """The bytes a project held at one hourly sample."""

    region: str
    project: str
    hour: str
    bytes: int
    sampled_at: int


@dataclass(frozen=True, slots=True)
class BillLine:
    """One charge: a day, an account, a project (or quota), what it is for, usage and amount."""

    day: str
    account_id: str
    region: str
    project: str
    item: str
    usage: float
    unit: str
    amount_usd: float


def _day(epoch: float) -> str:
    return time.strftime("%Y%m%d", time.gmtime(epoch))


def check_day(value: str, what: str) -> str:
    """A YYYYMMDD day, or InvalidParameter saying how to write it."""
    try:
        if not (len(value) == 8 and value.isascii() and value.isdigit()):
            raise ValueError(value)  # strptime also takes other scripts' digits
        time.strptime(value, "%Y%m%d")
    except ValueError as exc:
        raise InvalidParameter(f"{what} {value!r}: write the day as YYYYMMDD") from exc
    return value


class Metering:
    """Takes storage samples and turns samples and jobs into bills."""

    def __init__(
        self,
        settings: Settings,
        metadata: MetadataStore,
        catalog: Catalog,
        quotas: QuotaService,
        jobs: SqlJobService,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._settings = settings
        self._metadata = metadata
        self._catalog = catalog
        self._quotas = quotas
        self._jobs = jobs
        self._clock = clock

    def sample_storage(self, at: float | None = None) -> list[StorageSample]:
        """Record every project's bytes for the current hour (a second sample replaces it).

        `at` samples for an earlier hour instead, as the hourly sampler would have then: the
        demo loads its past days hour by hour and samples after each.
        """
        now = self._clock() if at is None else at
        hour = time.strftime("%Y%m%d%H", time.gmtime(now))
        taken = []
        for project in self._catalog.list_projects():
            sample = StorageSample(
                project.region, project.name, hour, self._catalog.project_bytes(project), int(now)
            )
            name = f"{project.region}/{project.name}/{hour}"
            found = self._metadata.get_document(STORAGE_SAMPLE_KIND, project.owner, name)
            self._metadata.commit(
                [
                    DocumentWrite(
                        STORAGE_SAMPLE_KIND,
                        project.owner,
                        name,
                        encode(sample),
                        found.version if found else 0,
                    )
                ]
            )
            taken.append(sample)
        return taken

    def bill(self, account_id: str | None, first_day: str, last_day: str) -> list[BillLine]:
        """Daily charges of one account (or all) from first_day to last_day, both included."""
        check_day(first_day, "the first day")
        check_day(last_day, "the last day")
        if first_day > last_day:  # a reversed range is a mistake, not an empty bill
            raise InvalidParameter(
                f"the first day {first_day} is after the last day {last_day}: "
                "give a first day (StartDay, --from) on or before the last (EndDay, --to)"
            )
        accounts = (
            [account_id] if account_id else sorted({p.owner for p in self._catalog.list_projects()})
        )
        lines: list[BillLine] = []
        for account in accounts:
            lines.extend(self._storage_lines(account, first_day, last_day))
            lines.extend(self._sql_lines(account, first_day, last_day))
            lines.extend(self._subscription_lines(account, first_day, last_day))
        return sorted(lines, key=lambda b: (b.day, b.account_id, b.region, b.project, b.item))

    def _storage_lines(self, account: str, first_day: str, last_day: str) -> list[BillLine]:
        by_day: dict[tuple[str, str, str], list[int]] = defaultdict(list)
        for document in self._metadata.list_documents(STORAGE_SAMPLE_KIND, account):
            sample = decode(StorageSample, document.body)
            day = sample.hour[:8]
            if first_day <= day <= last_day:
                by_day[(day, sample.region, sample.project)].append(sample.bytes)
        lines = []
        for (day, region, project), samples in by_day.items():
            mean_gb = sum(samples) / len(samples) / BYTES_PER_GB
            amount = storage_cost(mean_gb, self._settings)
            lines.append(
                BillLine(day, account, region, project, "storage", mean_gb, "GB-day", amount)
            )
        return lines

    def _sql_lines(self, account: str, first_day: str, last_day: str) -> list[BillLine]:
        usage: dict[tuple[str, str, str], list[float]] = defaultdict(lambda: [0.0, 0.0])
        for job in self._jobs.jobs_billed_to(account):
            day = _day(job.finished_at)
            if job.status != JobStatus.TERMINATED or job.kind != "query":
                continue
            if first_day <= day <= last_day:
                totals = usage[(day, job.region, job.project)]
                totals[0] += job.input_bytes / BYTES_PER_GB * job.complexity
                totals[1] += job.cost_usd
        return [
            BillLine(day, account, region, project, "sql", gb, "GB×complexity", amount)
            for (day, region, project), (gb, amount) in usage.items()
        ]

    def _subscription_lines(self, account: str, first_day: str, last_day: str) -> list[BillLine]:
        lines = []
        for quota in self._quotas.list(account):
            if not quota.is_subscription:
                continue
            day = max(_day(quota.created_at), first_day)
            while day <= last_day and day <= _day(self._clock()):
                amount = subscription_cost_per_day(quota, self._settings)
                lines.append(
                    BillLine(
                        day,
                        account,
                        quota.region,
                        quota.name,
                        "subscription",
                        quota.cu,
                        "CU-day",
                        amount,
                    )
                )
                day = _next_day(day)
        return lines


def _next_day(day: str) -> str:
    following = dt.datetime.strptime(day, "%Y%m%d") + dt.timedelta(days=1)
    return following.strftime("%Y%m%d")
