"""The insight detector alone: a rate insight starts on the first unusual minute and ends on
the first usual one, needs its baseline first, ignores late events, ends when its series goes
quiet; an IP insight needs a key known well enough."""

from __future__ import annotations

from trailhouse.insights.detector import (
    ACCESS_KEY,
    API_CALL_RATE,
    API_ERROR_RATE,
    END,
    IP,
    START,
    Detector,
    Observed,
    Signal,
)
from trailhouse.insights.detector import Thresholds as Limits

T0 = 1_790_000_000 // 60 * 60
LIMITS = Limits(min_baseline_buckets=10, idle_seconds=100)


def _call(minute: int, second: int = 0, name: str = "Describe", **fields: object) -> Observed:
    values: dict[str, object] = {
        "account_id": "1" * 16,
        "event_time": T0 + minute * 60 + second,
        "event_name": name,
        "service_name": "Ecs",
        "access_key_id": "LTAIkey",
        "source_ip": "192.0.2.1",
        "region": "cn-hangzhou",
        "is_error": False,
    }
    values.update(fields)
    return Observed(**values)  # type: ignore[arg-type]


def _steady(minutes: range, per_minute: int = 2, **fields: object) -> list[Observed]:
    return [_call(m, s, **fields) for m in minutes for s in range(per_minute)]


def _of(signals: list[Signal], kind: str) -> list[tuple[str, int]]:
    return [(s.state, (s.event_time - T0) // 60) for s in signals if s.insight_type == kind]


def test_a_burst_starts_and_the_next_usual_minute_ends_it() -> None:
    detector = Detector(LIMITS)
    events = _steady(range(20)) + [_call(20, 1) for _ in range(40)] + _steady(range(21, 23))
    signals = detector.observe(events, arrival=0.0)
    assert _of(signals, API_CALL_RATE) == [(START, 20), (END, 21)]
    assert _of(signals, ACCESS_KEY) == [(START, 20), (END, 21)]
    assert _of(signals, API_ERROR_RATE) == [] and _of(signals, IP) == []
    start = next(s for s in signals if s.insight_type == API_CALL_RATE)
    assert start.baseline == 2.0 and start.insight_object == "Describe"


def test_no_insight_before_the_baseline_is_long_enough() -> None:
    detector = Detector(LIMITS)
    events = _steady(range(5)) + [_call(5, 1) for _ in range(40)] + _steady(range(6, 8))
    assert detector.observe(events, arrival=0.0) == []


def test_normal_variation_stays_quiet() -> None:
    detector = Detector(LIMITS)
    events = [_call(m, s) for m in range(60) for s in range(2 + (m % 5) * 2)]
    assert detector.observe(events, arrival=0.0) == []


def test_errors_need_more_than_the_floor() -> None:
    detector = Detector(LIMITS)
    quiet = _steady(range(20)) + [_call(20, 1, is_error=True) for _ in range(LIMITS.min_count)]
    assert _of(detector.observe([*quiet, *_steady(range(21, 22))], 0.0), API_ERROR_RATE) == []
    loud = [_call(22, 1, is_error=True) for _ in range(LIMITS.min_count + 1)]
    signals = detector.observe([*loud, *_steady(range(23, 25))], 0.0)
    assert _of(signals, API_ERROR_RATE) == [(START, 22), (END, 23)]


def test_a_late_event_is_left_out() -> None:
    detector = Detector(LIMITS)
    detector.observe(_steady(range(20)), 0.0)
    assert detector.observe([_call(3, 1) for _ in range(50)], 0.0) == []


def test_an_insight_ends_when_its_series_goes_quiet() -> None:
    detector = Detector(LIMITS)
    signals = detector.observe(_steady(range(20)) + [_call(20, 1) for _ in range(40)], 0.0)
    assert detector.observe([_call(20, 2)], 10.0) == []  # still the open minute
    assert detector.close_idle(50.0) == []
    ended = detector.close_idle(200.0)
    assert _of(signals + ended, API_CALL_RATE) == [(START, 20), (END, 21)]


def test_a_key_from_a_new_address_once_its_addresses_are_known() -> None:
    detector = Detector(LIMITS)
    early = detector.observe([*_steady(range(3)), _call(3, 1, source_ip="198.51.100.9")], 0.0)
    assert _of(early, IP) == []  # a key used in 3 minutes: its addresses are not known yet
    signals = detector.observe(
        [*_steady(range(4, 20)), _call(20, 1, source_ip="203.0.113.5"), *_steady(range(21, 23))],
        0.0,
    )
    assert _of(signals, IP) == [(START, 20), (END, 21)]
    assert {s.insight_object for s in signals if s.insight_type == IP} == {"203.0.113.5"}
    again = detector.observe([_call(30, 1, source_ip="203.0.113.5"), *_steady(range(31, 33))], 0.0)
    assert _of(again, IP) == []  # seen within the baseline window: usual now


def test_accounts_are_apart() -> None:
    detector = Detector(LIMITS)
    mine = _steady(range(20))
    theirs = [_call(20, 1, account_id="2" * 16) for _ in range(40)]
    assert detector.observe([*mine, *theirs, *_steady(range(21, 22))], 0.0) == []


def test_a_series_silent_for_a_whole_baseline_window_is_forgotten() -> None:
    limits = Limits(min_baseline_buckets=10, baseline_buckets=30, idle_seconds=100)
    detector = Detector(limits)
    detector.observe(_steady(range(20)), 0.0)
    detector.close_idle(200.0)  # closes the open minutes
    detector.close_idle(200.0 + 30 * 60 + 1)
    # Forgotten: a burst now has no baseline, so no rate fires.
    burst = [_call(100, 1) for _ in range(40)]
    signals = detector.observe([*burst, *_steady(range(101, 103))], 0.0)
    assert {s.insight_type for s in signals} <= {IP}  # its address is unusual again
