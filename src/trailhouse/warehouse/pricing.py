"""MaxCompute's prices as trailhouse applies them (reference §4); every number is a setting.

- SQL on the pay-as-you-go quota: GB scanned (after pruning, compressed) × complexity × price
  per GB. Jobs under a subscription quota are paid by the quota's CUs instead, so cost 0 each.
- Storage: per project and day, the mean of the hourly samples in GB, less the free allowance,
  × price per GB-day.
- Subscription quota: CU × price per CU-month / 30 per day.
"""

from __future__ import annotations

from trailhouse.settings import Settings
from trailhouse.warehouse.model import Quota

BYTES_PER_GB = 1024**3
DAYS_PER_MONTH = 30


def sql_cost(input_bytes: int, complexity: float, quota: Quota, settings: Settings) -> float:
    """USD one SQL job costs; 0 under a subscription quota."""
    if quota.is_subscription:
        return 0.0
    return input_bytes / BYTES_PER_GB * complexity * settings.sql_price_per_gb


def storage_cost(mean_gb: float, settings: Settings) -> float:
    """USD one project's storage costs for a day with this mean size."""
    return max(0.0, mean_gb - settings.storage_free_gb) * settings.storage_price_per_gb_day


def subscription_cost_per_day(quota: Quota, settings: Settings) -> float:
    """USD a subscription quota costs per day."""
    return quota.cu * settings.cu_price_per_month / DAYS_PER_MONTH
