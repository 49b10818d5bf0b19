"""How the trailhouse command writes numbers for people: money, sizes, counts and durations.

Only what a person reads goes through here (tables, summaries, progress lines); `--output json`
and CSV keep the exact figures. The rules are in `docs/cli.md`.
"""

from __future__ import annotations

BYTES_PER_GB = 1024**3
_SIZE_UNITS = ("B", "KB", "MB", "GB", "TB", "PB")
# Below this a sub-cent amount is written "<0.0001" rather than rounded to zero.
_SMALLEST_SHOWN = 0.0001


def money(amount: float) -> str:
    """An amount of money without its currency: two decimals from a cent up ("1,234.50"),
    four below a cent ("0.0042"), and "<0.0001" for a charge smaller than that but not zero."""
    if amount < 0:
        shown = money(-amount)
        return ">-" + shown[1:] if shown.startswith("<") else "-" + shown
    if amount == 0 or round(amount, 2) >= 0.01:
        return f"{amount:,.2f}"
    if round(amount, 4) >= _SMALLEST_SHOWN:
        return f"{amount:.4f}"
    return f"<{_SMALLEST_SHOWN:.4f}"


def size(count_bytes: float) -> str:
    """A size in bytes, in binary units (1 KB = 1024 bytes): "512 B", "1.5 KB", "20.0 GB"."""
    value = float(count_bytes)
    for unit in _SIZE_UNITS:
        if unit == "B" and round(abs(value)) < 1024:
            return f"{value:.0f} B"
        # Promote when rounding would show 1024.0 of this unit.
        if unit != "B" and (round(abs(value), 1) < 1024 or unit == _SIZE_UNITS[-1]):
            return f"{value:,.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable: the last unit always returns")


def decimal(value: float, places: int = 4) -> str:
    """A plain decimal, never in exponent form, at most `places` decimals and no trailing zeros:
    1.0 → "1", 1.25 → "1.25", 12345.678 → "12,345.678"; a value too small to show is "<0.0001"."""
    shown = f"{value:,.{places}f}".rstrip("0").rstrip(".")
    if value != 0 and shown in ("0", "-0"):
        smallest = f"{10**-places:.{places}f}"
        return f"<{smallest}" if value > 0 else f">-{smallest}"
    return shown


def count(number: int, noun: str, plural: str = "") -> str:
    """`number` with its noun in the singular or plural: "1 partition", "2 partitions",
    "1,234 rows" (`plural` for a noun that does not just take an "s")."""
    word = noun if number == 1 else (plural or noun + "s")
    return f"{number:,} {word}"


def duration(seconds: float) -> str:
    """A duration: "850 ms" under a second, "1.25 s" under a minute, "3 min 5 s", "2 h 3 min"."""
    if seconds < 0:
        return "-" + duration(-seconds)
    if round(seconds * 1000) < 1000:
        return f"{seconds * 1000:.0f} ms"
    if round(seconds, 2) < 60:
        return f"{seconds:.2f} s"
    whole = round(seconds)
    if whole < 3600:
        return f"{whole // 60} min {whole % 60} s"
    return f"{whole // 3600} h {whole % 3600 // 60} min"


def usage(value: float, unit: str) -> str:
    """A bill line's usage in its unit, a GB-based unit in the size that reads best:
    (1.2e-05, "GB-day") → "12.6 KB-day"; (4, "CU-day") → "4 CU-day"."""
    if unit.startswith("GB"):
        return size(value * BYTES_PER_GB) + unit[2:]
    return f"{decimal(value)} {unit}"
