"""The numbers the trailhouse command prints for people: each rule with its edges."""

from __future__ import annotations

import re

import pytest

from trailhouse.cli import numbers

MONEY = [
    (0, "0.00"),
    (1.5, "1.50"),
    (1234.567, "1,234.57"),
    (0.01, "0.01"),
    (0.00999, "0.01"),  # rounds up to a cent: shown as one
    (0.0042, "0.0042"),
    (0.00424999, "0.0042"),
    (0.0001, "0.0001"),
    (0.000012, "<0.0001"),  # was "$0.000012" / "1.2e-05": never rounded to a free "0.00"
    (1e-12, "<0.0001"),
    (-2.5, "-2.50"),
    (-0.00001, ">-0.0001"),
]

SIZES = [
    (0, "0 B"),
    (1023, "1023 B"),
    (1023.6, "1.0 KB"),
    (1024, "1.0 KB"),
    (1536, "1.5 KB"),
    (1024**2 - 1, "1.0 MB"),  # 1023.999 KB would round to "1024.0 KB"
    (5 * 1024**3, "5.0 GB"),
    (3 * 1024**4, "3.0 TB"),
    (2048 * 1024**5, "2,048.0 PB"),
]

DECIMALS = [
    (1.0, "1"),
    (1.25, "1.25"),
    (12345.678, "12,345.678"),
    (0.1 + 0.2, "0.3"),
    (1.2e-05, "<0.0001"),
    (-1.2e-05, ">-0.0001"),
    (0.0, "0"),
    (2.5e7, "25,000,000"),
]

COUNTS = [
    (0, "partition", "", "0 partitions"),
    (1, "partition", "", "1 partition"),
    (2, "partition", "", "2 partitions"),
    (1234, "row", "", "1,234 rows"),
    (1, "entry", "entries", "1 entry"),
    (3, "entry", "entries", "3 entries"),
]

DURATIONS = [
    (0, "0 ms"),
    (0.85, "850 ms"),
    (0.9996, "1.00 s"),
    (1.25, "1.25 s"),
    (59.999, "1 min 0 s"),
    (185, "3 min 5 s"),
    (7380, "2 h 3 min"),
]

USAGES = [
    (1.2e-05, "GB-day", "12.6 KB-day"),
    (0.5, "GB×complexity", "512.0 MB×complexity"),
    (4, "CU-day", "4 CU-day"),
    (0.333333, "CU-day", "0.3333 CU-day"),
]


@pytest.mark.parametrize(("amount", "shown"), MONEY)
def test_money(amount: float, shown: str) -> None:
    assert numbers.money(amount) == shown


@pytest.mark.parametrize(("count_bytes", "shown"), SIZES)
def test_size(count_bytes: float, shown: str) -> None:
    assert numbers.size(count_bytes) == shown


@pytest.mark.parametrize(("value", "shown"), DECIMALS)
def test_decimal(value: float, shown: str) -> None:
    assert numbers.decimal(value) == shown


@pytest.mark.parametrize(("number", "noun", "plural", "shown"), COUNTS)
def test_count(number: int, noun: str, plural: str, shown: str) -> None:
    assert numbers.count(number, noun, plural) == shown


@pytest.mark.parametrize(("seconds", "shown"), DURATIONS)
def test_duration(seconds: float, shown: str) -> None:
    assert numbers.duration(seconds) == shown


@pytest.mark.parametrize(("value", "unit", "shown"), USAGES)
def test_usage(value: float, unit: str, shown: str) -> None:
    assert numbers.usage(value, unit) == shown


@pytest.mark.parametrize(
    "value", [1e-300, 1.2e-05, 3.4e-7, 9.99e-5, 1e20, 123456789.123456789, 0.1 + 0.2]
)
def test_no_exponent_and_few_decimals_ever(value: float) -> None:
    for shown in (numbers.money(value), numbers.decimal(value), numbers.size(value)):
        assert re.fullmatch(r"[<>-]*\d[\d,]*(\.\d{1,4})?( [KMGTP]?B)?", shown), shown
