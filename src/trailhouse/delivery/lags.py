"""Delivery lags of the last minutes, kept as counts per millisecond value.

Percentiles over every event of a five-minute window would mean sorting up to rate × 300
values per batch; counting equal values instead keeps the work proportional to the number of
distinct lags (a few thousand milliseconds), whatever the event rate, with the same answers.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Iterable


class LagWindow:
    """Accepted → committed lags (ms) of the batches committed in the last `seconds`."""

    def __init__(self, seconds: float) -> None:
        self._seconds = seconds
        self._batches: deque[tuple[float, Counter[int]]] = deque()
        self._total: Counter[int] = Counter()

    def add(self, now: float, lags: Iterable[int]) -> None:
        """Count a committed batch's lags."""
        counted = Counter(lags)
        self._batches.append((now, counted))
        self._total.update(counted)

    def percentiles(self, now: float, pending: Iterable[int] = ()) -> tuple[int, int, int]:
        """p50, p99 and max of the window (plus `pending` lags not added); zeros when empty.

        The value at index len // 2 and min(len - 1, int(len * 0.99)) of the sorted lags.
        """
        self._expire(now)
        counts = self._total + Counter(pending)
        size = sum(counts.values())
        if not size:
            return 0, 0, 0
        wanted = (size // 2, min(size - 1, int(size * 0.99)))
        found: list[int] = []
        seen = 0
        for value in sorted(counts):
            seen += counts[value]
            while len(found) < len(wanted) and wanted[len(found)] < seen:
                found.append(value)
        return found[0], found[1], max(counts)

    def _expire(self, now: float) -> None:
        while self._batches and self._batches[0][0] < now - self._seconds:
            _, counted = self._batches.popleft()
            self._total.subtract(counted)
        self._total = +self._total  # drop the values whose count fell to zero
