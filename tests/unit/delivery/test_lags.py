"""The lag window gives the same percentiles as sorting every lag, and forgets old batches."""

from __future__ import annotations

import random

from trailhouse.delivery.lags import LagWindow


def sorted_percentiles(values: list[int]) -> tuple[int, int, int]:
    ordered = sorted(values)
    if not ordered:
        return 0, 0, 0
    size = len(ordered)
    return ordered[size // 2], ordered[min(size - 1, int(size * 0.99))], ordered[-1]


def test_percentiles_match_sorting_every_lag() -> None:
    rng = random.Random(5)
    window = LagWindow(300)
    kept: list[tuple[float, list[int]]] = []
    for second in range(0, 900, 7):
        batch = [rng.randrange(0, 4000) for _ in range(rng.randrange(1, 400))]
        window.add(second, batch)
        kept.append((second, batch))
        pending = [rng.randrange(0, 9000) for _ in range(rng.randrange(0, 50))]
        recent = [lag for at, lags in kept if at >= second - 300 for lag in lags]
        assert window.percentiles(second, pending) == sorted_percentiles(recent + pending)
        assert window.percentiles(second) == sorted_percentiles(recent)


def test_an_empty_window_reports_zeros() -> None:
    window = LagWindow(60)
    assert window.percentiles(0) == (0, 0, 0)
    window.add(0, [120, 80])
    assert window.percentiles(61) == (0, 0, 0)
    assert window.percentiles(61, [7]) == (7, 7, 7)
