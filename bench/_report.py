"""The benchmark's printed output: detail tables as it goes, and the summary table at the end."""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Row:
    """One figure beside its baseline and target; `better` compares value with target."""

    figure: str
    value: float | None
    unit: str
    baseline: float | None = None
    baseline_name: str = ""
    target: float | None = None
    better: Callable[[float, float], bool] = operator.ge

    def cells(self) -> list[str]:
        """The row as printed cells."""
        ratio = (
            f"{self.value / self.baseline:.2f}×"
            if self.value is not None and self.baseline
            else "-"
        )
        if self.target is None or self.value is None:
            met = "-"
        else:
            met = "yes" if self.better(self.value, self.target) else "NO"
        symbol = "≥" if self.better is operator.ge else "≤" if self.better is operator.le else "<"
        baseline = (
            f"{number(self.baseline, self.unit)} ({self.baseline_name})"
            if self.baseline is not None
            else "-"
        )
        target = "-" if self.target is None else f"{symbol} {number(self.target, self.unit)}"
        return [self.figure, number(self.value, self.unit), baseline, ratio, target, met]


def number(value: float | None, unit: str) -> str:
    """A value with its unit, compactly."""
    if value is None:
        return "n/a"
    if unit == "ms":
        return f"{value:.2f} ms" if value < 10 else f"{value:.1f} ms"
    if unit == "s":
        return f"{value:.2f} s"
    if unit == "GB":
        return f"{value:.3f} GB"
    return f"{value:,.0f} {unit}".rstrip()


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Rows as an aligned plain-text table."""
    widths = [len(header) for header in headers]
    for row in rows:
        widths = [max(width, len(cell)) for width, cell in zip(widths, row, strict=True)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows
    ]
    return "\n".join(lines)


def summary(rows: Sequence[Row]) -> str:
    """The final figure / value / baseline / ratio / target / met? table."""
    headers = ("figure", "value", "baseline", "ratio", "target", "met?")
    return table(headers, [row.cells() for row in rows])


def lt(value: float, target: float) -> bool:
    """Strictly below the target (for latency targets stated as '< x')."""
    return value < target
