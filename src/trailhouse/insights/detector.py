"""The insight computation: per account, per-minute counts of each series (an API's calls, an
API's errors, an AccessKey's calls, the IP addresses each AccessKey is used from) compared with
the series' own rolling baseline, turned into start and end signals.

Pure and in memory: events go in (`observe`), signals come out; `insights/service.py` stores
and records them. Buckets are minutes of `eventTime` (the bucket length is a setting); a
series' bucket closes when an event of a later bucket arrives for it, or when the series has
been idle for `idle_seconds` of wall-clock time (`close_idle`). An event older than its
series' open bucket is too late to count and is left out.
"""

from __future__ import annotations

import math
import threading
import uuid
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

import msgspec

API_CALL_RATE = "ApiCallRateInsight"
API_ERROR_RATE = "ApiErrorRateInsight"
IP = "IpInsight"
ACCESS_KEY = "AkInsight"
START = "Start"
END = "End"


@dataclass(frozen=True, slots=True)
class Thresholds:
    """How insights are computed (settings `insights_*`, docs/insights.md)."""

    bucket_seconds: int = 60
    baseline_buckets: int = 1440  # a day of minutes
    min_baseline_buckets: int = 60  # an hour of history before a series may fire
    factor: float = 4.0  # a minute above factor × the baseline mean (and its spread) fires
    min_count: int = 15  # ... and above this many calls (or errors) in the minute
    idle_seconds: float = 120.0


class Observed(msgspec.Struct, frozen=True, gc=False):
    """The facts of one event that insights read (a Struct: one is made per accepted event,
    several times faster than a frozen dataclass)."""

    account_id: str
    event_time: int
    event_name: str
    service_name: str
    access_key_id: str
    source_ip: str
    region: str
    is_error: bool


@dataclass(frozen=True, slots=True)
class Signal:
    """An insight starting or ending: one insight event to record."""

    account_id: str
    insight_type: str
    insight_object: str
    state: str  # START or END
    event_time: int
    shared_event_id: str
    value: float  # the insight's measure: per minute (rates) or calls (IpInsight)
    baseline: float  # the baseline's per-minute mean (0 for IpInsight)
    baseline_minutes: int
    insight_minutes: int
    insight_count: int
    region: str
    attributes: tuple[tuple[str, str], ...] = ()


@dataclass(slots=True)
class _Active:
    shared_event_id: str
    start_bucket: int
    baseline: float
    threshold: float
    count: int = 0
    peak: int = 0
    minutes: int = 0


@dataclass(slots=True)
class _Baseline:
    """The values of a series' last closed usual minutes, with their running sums (a close
    costs the same whatever the window's length)."""

    limit: int
    values: deque[int] = field(default_factory=deque)
    total: int = 0
    squares: int = 0

    def __len__(self) -> int:
        return len(self.values)

    def append(self, value: int) -> None:
        """Add a closed minute, dropping the oldest beyond the window."""
        self.values.append(value)
        self.total += value
        self.squares += value * value
        if len(self.values) > self.limit:
            old = self.values.popleft()
            self.total -= old
            self.squares -= old * old

    def append_zeros(self, count: int) -> None:
        """Add `count` closed minutes without a call (a quiet series' gap), in O(window)."""
        if count >= self.limit:
            self.values = deque([0] * self.limit)
            self.total = self.squares = 0
            return
        for _ in range(count):
            self.append(0)

    def mean(self) -> float:
        """The mean per minute."""
        return self.total / len(self.values)

    def spread(self) -> float:
        """The standard deviation per minute."""
        mean = self.mean()
        return math.sqrt(max(self.squares / len(self.values) - mean * mean, 0.0))


@dataclass(slots=True)
class _Series:
    """One measured series: its open bucket, its closed history and any running insight."""

    bucket: int
    region: str
    attributes: tuple[tuple[str, str], ...]
    history: _Baseline
    count: int = 0
    last_arrival: float = 0.0
    active: _Active | None = None


@dataclass(slots=True)
class _KeyIps:
    """The IP addresses one AccessKey was used from (last bucket each), how many minutes it was
    used in, and the unusual addresses it is being used from now."""

    last_bucket: int
    buckets_used: int = 1  # minutes the key was used in: how well its addresses are known
    ips: dict[str, int] = field(default_factory=dict)
    active: dict[str, tuple[_Active, int]] = field(default_factory=dict)  # ip → (insight, last)
    last_arrival: float = 0.0
    region: str = ""


def _event_time(event: Observed) -> int:
    return event.event_time


class Detector:
    """Baseline-and-deviation over the events of each account, thread-safe."""

    def __init__(self, thresholds: Thresholds) -> None:
        self._t = thresholds
        self._lock = threading.Lock()
        self._series: dict[tuple[str, str, str], _Series] = {}
        self._keys: dict[tuple[str, str], _KeyIps] = {}
        self._arrival = 0.0  # the wall-clock time of the batch being observed

    def observe(self, events: Iterable[Observed], arrival: float) -> list[Signal]:
        """Count `events` (any order: taken by eventTime) and return the signals they cause."""
        signals: list[Signal] = []
        width = self._t.bucket_seconds
        with self._lock:
            self._arrival = arrival
            for event in sorted(events, key=_event_time):
                bucket = event.event_time // width
                account, name = event.account_id, event.event_name
                self._count(signals, (account, API_CALL_RATE, name), bucket, 1, event)
                self._count(
                    signals, (account, API_ERROR_RATE, name), bucket, int(event.is_error), event
                )
                if event.access_key_id:
                    key = (account, ACCESS_KEY, event.access_key_id)
                    self._count(signals, key, bucket, 1, event)
                    if event.source_ip:
                        self._ip(signals, event, bucket)
        return signals

    def _count(
        self,
        signals: list[Signal],
        series_key: tuple[str, str, str],
        bucket: int,
        increment: int,
        event: Observed,
    ) -> None:
        """Count one event into a series: in its open minute (nearly always) at once, else
        through `_add`."""
        series = self._series.get(series_key)
        if series is not None and bucket == series.bucket:
            series.last_arrival = self._arrival
            series.count += increment
            if event.region:
                series.region = event.region
            return
        if series_key[1] == ACCESS_KEY:
            attributes: tuple[tuple[str, str], ...] = (("accessKeyId", event.access_key_id),)
        else:
            attributes = (("eventName", event.event_name), ("serviceName", event.service_name))
        self._add(signals, series_key, bucket, increment, event, attributes)

    def close_idle(self, now: float) -> list[Signal]:
        """Close the open bucket of every series idle for `idle_seconds`, ending its insight."""
        signals: list[Signal] = []
        idle = now - self._t.idle_seconds
        with self._lock:
            # A series silent for a whole baseline window has an all-zero baseline: forgotten.
            forgotten = now - self._t.baseline_buckets * self._t.bucket_seconds
            for series_key, series in list(self._series.items()):
                if series.last_arrival < idle and (series.count or series.active):
                    self._advance(signals, series_key, series, series.bucket + 2)
                elif series.last_arrival < forgotten and series.active is None:
                    del self._series[series_key]
            for (account, key_id), ips in self._keys.items():
                if ips.last_arrival < idle and ips.active:
                    for ip, (active, last) in list(ips.active.items()):
                        signals.append(self._ip_end(account, key_id, ip, active, last, ips))
                        del ips.active[ip]
        return signals

    def _add(
        self,
        signals: list[Signal],
        series_key: tuple[str, str, str],
        bucket: int,
        increment: int,
        event: Observed,
        attributes: tuple[tuple[str, str], ...],
    ) -> None:
        series = self._series.get(series_key)
        if series is None:
            series = _Series(bucket, event.region, attributes, _Baseline(self._t.baseline_buckets))
            self._series[series_key] = series
        series.last_arrival = self._arrival
        if bucket < series.bucket:
            return  # too late: its minute is closed
        if bucket > series.bucket:
            self._advance(signals, series_key, series, bucket)
        series.count += increment
        series.region = event.region or series.region

    def _advance(
        self,
        signals: list[Signal],
        series_key: tuple[str, str, str],
        series: _Series,
        bucket: int,
    ) -> None:
        """Close the open bucket and the empty ones up to `bucket`, which becomes the open one."""
        gap = max(min(bucket - series.bucket - 1, self._t.baseline_buckets + 1), 0)
        self._close(signals, series_key, series, series.bucket, series.count)
        if gap and series.active is not None:  # a quiet minute ends an insight
            self._close(signals, series_key, series, series.bucket + 1, 0)
            gap -= 1
        # The rest of the gap: quiet minutes never start an insight (the threshold is at least
        # min_count), so they join the baseline at once, not one close each.
        series.history.append_zeros(gap)
        series.bucket = bucket
        series.count = 0

    def _close(
        self,
        signals: list[Signal],
        series_key: tuple[str, str, str],
        series: _Series,
        bucket: int,
        value: int,
    ) -> None:
        account, kind, subject = series_key
        active = series.active
        if active is None:
            threshold = self._threshold(series.history)
            if threshold is not None and value > threshold:
                mean = series.history.mean()
                series.active = _Active(uuid.uuid4().hex, bucket, mean, threshold, value, value, 1)
                signals.append(self._rate_signal(account, kind, subject, START, bucket, series))
                return
            series.history.append(value)
            return
        if value > active.threshold:
            active.count += value
            active.peak = max(active.peak, value)
            active.minutes += 1
            return
        signals.append(self._rate_signal(account, kind, subject, END, bucket, series))
        series.active = None
        series.history.append(value)

    def _threshold(self, history: _Baseline) -> float | None:
        """The per-minute value above which a minute is unusual; None without enough history."""
        if len(history) < self._t.min_baseline_buckets:
            return None
        mean = history.mean()
        spread = history.spread()
        return max(float(self._t.min_count), self._t.factor * mean, mean + self._t.factor * spread)

    def _rate_signal(
        self, account: str, kind: str, subject: str, state: str, bucket: int, series: _Series
    ) -> Signal:
        active = series.active
        assert active is not None
        return Signal(
            account_id=account,
            insight_type=kind,
            insight_object=subject,
            state=state,
            event_time=bucket * self._t.bucket_seconds,
            shared_event_id=active.shared_event_id,
            value=active.count / max(active.minutes, 1),
            baseline=round(active.baseline, 3),
            baseline_minutes=len(series.history) * self._t.bucket_seconds // 60,
            insight_minutes=active.minutes * self._t.bucket_seconds // 60,
            insight_count=active.count,
            region=series.region,
            attributes=series.attributes,
        )

    def _ip(self, signals: list[Signal], event: Observed, bucket: int) -> None:
        account, key_id, ip = event.account_id, event.access_key_id, event.source_ip
        ips = self._keys.get((account, key_id))
        if ips is None:
            ips = self._keys[(account, key_id)] = _KeyIps(bucket)
        ips.last_arrival = self._arrival
        if bucket > ips.last_bucket:
            ips.buckets_used += 1
            ips.last_bucket = bucket
        ips.region = event.region or ips.region
        if ips.active:  # nearly always empty: no list made per event
            for other, (active, last) in list(ips.active.items()):
                if other != ip and last < bucket - 1:  # a whole minute without it: usual again
                    signals.append(self._ip_end(account, key_id, other, active, last, ips))
                    del ips.active[other]
        running = ips.active.get(ip)
        if running is not None:
            running[0].count += 1
            ips.active[ip] = (running[0], max(running[1], bucket))
        else:
            seen = ips.ips.get(ip)
            known = seen is not None and seen >= bucket - self._t.baseline_buckets
            # A key is known well enough once used in min_baseline_buckets different minutes.
            if not known and ips.buckets_used > self._t.min_baseline_buckets:
                active = _Active(uuid.uuid4().hex, bucket, 0.0, 0.0, 1, 1, 1)
                ips.active[ip] = (active, bucket)
                signals.append(self._ip_signal(account, key_id, ip, START, bucket, active, ips))
        if ips.ips.get(ip, bucket) <= bucket:
            ips.ips[ip] = bucket

    def _ip_end(
        self, account: str, key_id: str, ip: str, active: _Active, last: int, ips: _KeyIps
    ) -> Signal:
        active.minutes = last - active.start_bucket + 1
        return self._ip_signal(account, key_id, ip, END, last + 1, active, ips)

    def _ip_signal(
        self,
        account: str,
        key_id: str,
        ip: str,
        state: str,
        bucket: int,
        active: _Active,
        ips: _KeyIps,
    ) -> Signal:
        minutes = active.minutes * self._t.bucket_seconds // 60
        return Signal(
            account_id=account,
            insight_type=IP,
            insight_object=ip,
            state=state,
            event_time=bucket * self._t.bucket_seconds,
            shared_event_id=active.shared_event_id,
            value=float(active.count),
            baseline=0.0,
            baseline_minutes=self._t.baseline_buckets * self._t.bucket_seconds // 60,
            insight_minutes=minutes,
            insight_count=active.count,
            region=ips.region,
            attributes=(("accessKeyId", key_id), ("sourceIpAddress", ip)),
        )
