"""Compute quotas: which an account has in a region, and the limits a project's jobs run under.

An account has the pay-as-you-go quota in every region listed by `payg_quota_regions` (every
served region by default) and any subscription quotas it bought, sized in CU (1 CU = 1 core +
4 GB). A project is bound to one quota when it is created; its SQL jobs get that quota's threads
and memory, and at most `concurrency` of them run at once (see `jobs.QuotaGate`).
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable

from trailhouse.errors import InvalidParameter, NoAvailableQuota, QuotaExceeded, VersionConflict
from trailhouse.settings import Settings
from trailhouse.store.documents import decode, encode, read
from trailhouse.store.ports import DocumentWrite, MetadataStore
from trailhouse.warehouse.model import PAYG_QUOTA, QUOTA_KIND, Quota
from trailhouse.warehouse.sql.engine import JobControl

_QUOTA_NAME = re.compile(r"^[a-z][a-z0-9_-]{2,63}\Z")
GB_PER_CU = 4.0


class QuotaService:
    """The quotas of each account and region."""

    def __init__(
        self,
        metadata: MetadataStore,
        settings: Settings,
        served_regions: tuple[str, ...],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._metadata = metadata
        self._settings = settings
        configured = tuple(r.strip() for r in settings.payg_quota_regions.split(",") if r.strip())
        self._payg_regions = configured or served_regions
        self._clock = clock

    def list(self, account_id: str, region: str | None = None) -> list[Quota]:
        """The account's quotas (in one region, or all), pay-as-you-go first."""
        regions = [region] if region else sorted(set(self._payg_regions))
        quotas = [self._payg(account_id, r) for r in regions if r in self._payg_regions]
        for document in self._metadata.list_documents(QUOTA_KIND, account_id):
            quota = decode(Quota, document.body)
            if region is None or quota.region == region:
                quotas.append(quota)
        return quotas

    def get(self, account_id: str, region: str, name: str) -> Quota:
        """One quota by name; NoAvailableQuota naming the ones that exist when it does not."""
        for quota in self.list(account_id, region):
            if quota.name == name:
                return quota
        names = ", ".join(q.name for q in self.list(account_id, region)) or "none"
        raise NoAvailableQuota(
            f"account {account_id} has no quota named {name} in {region} (it has: {names})"
        )

    def choose(self, account_id: str, region: str, name: str = "") -> Quota:
        """The quota a new project in `region` is bound to: `name`, or the first there is.

        With none in the region, the error names the regions that have one.
        """
        if name:
            return self.get(account_id, region, name)
        quotas = self.list(account_id, region)
        if quotas:
            return quotas[0]
        elsewhere = sorted({q.region for q in self.list(account_id)})
        offer = ", ".join(elsewhere) if elsewhere else "none; buy one with trailhouse quota create"
        raise NoAvailableQuota(
            f"account {account_id} has no MaxCompute quota in {region}, so no project can be "
            f"created there; regions with a quota: {offer}"
        )

    def create_subscription(self, account_id: str, region: str, name: str, cu: int) -> Quota:
        """Buy a subscription quota of `cu` CUs: `cu` threads, 4 GB each, `cu` jobs at once."""
        if not _QUOTA_NAME.match(name) or name == PAYG_QUOTA:
            raise InvalidParameter(
                f"quota name {name!r}: use 3-64 lowercase letters, digits, '-' or '_', "
                f"starting with a letter, and not {PAYG_QUOTA!r}"
            )
        if not 1 <= cu <= 2048:
            raise InvalidParameter(f"a subscription quota has 1 to 2048 CU, not {cu}")
        quota = Quota(
            account_id=account_id,
            region=region,
            name=name,
            kind="subscription",
            cu=cu,
            threads=cu,
            memory_gb=cu * GB_PER_CU,
            concurrency=cu,
            created_at=int(self._clock()),
        )
        existing, _ = read(self._metadata, Quota, QUOTA_KIND, account_id, name)
        if existing is not None:
            raise InvalidParameter(f"account {account_id} already has a quota named {name}")
        try:
            self._metadata.commit([DocumentWrite(QUOTA_KIND, account_id, name, encode(quota), 0)])
        except VersionConflict as exc:
            raise InvalidParameter(
                f"account {account_id} already has a quota named {name}"
            ) from exc
        return quota

    def _payg(self, account_id: str, region: str) -> Quota:
        settings = self._settings
        return Quota(
            account_id=account_id,
            region=region,
            name=PAYG_QUOTA,
            kind="pay-as-you-go",
            cu=0,
            threads=settings.payg_threads,
            memory_gb=settings.payg_memory_gb,
            concurrency=settings.payg_concurrency,
            created_at=0,
        )


class QuotaGate:
    """Lets at most `concurrency` jobs of one quota run at once; the rest wait, in order."""

    def __init__(self, concurrency: int, queue_limit: int) -> None:
        self._slots = threading.Semaphore(max(1, concurrency))
        self._lock = threading.Lock()
        self._waiting = 0
        self._queue_limit = queue_limit

    def reserve(self, quota: Quota) -> None:
        """Take a place in the queue, or QuotaExceeded when the queue is full."""
        with self._lock:
            if self._waiting >= self._queue_limit:
                raise QuotaExceeded(
                    f"quota {quota.name} of account {quota.account_id} in {quota.region} runs "
                    f"{quota.concurrency} jobs at once and already has {self._waiting} waiting; "
                    "wait for some to finish, or move the project to a bigger quota"
                )
            self._waiting += 1

    def acquire(self, control: JobControl) -> bool:
        """Wait for a slot (releasing the queue place); False when cancelled meanwhile."""
        try:
            while not self._slots.acquire(timeout=0.1):
                if control.cancelled.is_set():
                    return False
            if control.cancelled.is_set():
                self._slots.release()
                return False
            return True
        finally:
            with self._lock:
                self._waiting -= 1

    def release(self) -> None:
        """Give the slot back."""
        self._slots.release()


class MemoryBudget:
    """The memory all running SQL jobs of this process hold together (`sql_memory_budget_gb`).

    A job takes its memory limit from the budget before it runs and gives it back when it ends;
    while the running jobs' limits leave too little, it waits, in its quota's slot. A limit
    bigger than the whole budget is cut to the budget, so every job can run eventually.
    """

    def __init__(self, total_gb: float) -> None:
        self._total = total_gb if total_gb > 0 else machine_memory_gb() / 2
        self._used = 0.0
        self._changed = threading.Condition()

    @property
    def total_gb(self) -> float:
        """The budget, in GB."""
        return self._total

    @property
    def used_gb(self) -> float:
        """What running jobs hold now, in GB."""
        with self._changed:
            return self._used

    def limit_of(self, quota: Quota) -> float:
        """The memory a job of this quota runs with: the quota's, at most the whole budget."""
        return min(quota.memory_gb, self._total)

    def acquire(self, gb: float, control: JobControl) -> bool:
        """Wait until `gb` fits beside the running jobs and take it; False when cancelled."""
        with self._changed:
            while self._used + gb > self._total + 1e-9:
                if control.cancelled.is_set():
                    return False
                self._changed.wait(timeout=0.1)
            if control.cancelled.is_set():
                return False
            self._used += gb
            return True

    def release(self, gb: float) -> None:
        """Give `gb` back and wake the jobs waiting for memory."""
        with self._changed:
            self._used = max(0.0, self._used - gb)
            self._changed.notify_all()


def machine_memory_gb() -> float:
    """This machine's physical memory in GB (4 GB when the system does not say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3
    except (AttributeError, ValueError, OSError):
        return 4.0
