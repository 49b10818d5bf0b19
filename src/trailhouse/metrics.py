"""`GET /metrics` in Prometheus' text format: counters of this process, and gauges of the state.

Counters (API calls by action and outcome, events accepted and refused, SQL jobs by how they
ended) count what this process did since it started, as Prometheus expects of each process.
Gauges (the event log, each trail's delivery and digests, each project's storage) are read from
the stores at every scrape, so every process reports the same state.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

Labels = tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class Family:
    """A metric's name, type and help text."""

    name: str
    kind: str
    help: str


API_REQUESTS = Family("trailhouse_api_requests_total", "counter", "API calls by action and code.")
EVENTS_ACCEPTED = Family(
    "trailhouse_events_accepted_total", "counter", "Events PutEvents accepted."
)
EVENTS_REFUSED = Family(
    "trailhouse_events_refused_total", "counter", "Events PutEvents refused, by code."
)
INTERNAL_ERRORS = Family(
    "trailhouse_internal_errors_total",
    "counter",
    "Unexpected errors (answered InternalError or failing a SQL job), by where they happened.",
)


class Counters:
    """Thread-safe counters of this process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: dict[Family, dict[Labels, float]] = defaultdict(dict)

    def add(self, family: Family, amount: float = 1.0, **labels: str) -> None:
        """Add `amount` to the counter with these labels."""
        key = tuple(sorted(labels.items()))
        with self._lock:
            series = self._values[family]
            series[key] = series.get(key, 0.0) + amount

    def samples(self) -> list[tuple[Family, Labels, float]]:
        """Every counter's current value."""
        with self._lock:
            return [
                (family, labels, value)
                for family, series in self._values.items()
                for labels, value in series.items()
            ]


def render(samples: Iterable[tuple[Family, Labels, float]]) -> str:
    """The samples in Prometheus' text exposition format, grouped by family."""
    grouped: dict[Family, list[tuple[Labels, float]]] = defaultdict(list)
    for family, labels, value in samples:
        grouped[family].append((labels, value))
    lines: list[str] = []
    for family in sorted(grouped, key=lambda f: f.name):
        lines.append(f"# HELP {family.name} {family.help}")
        lines.append(f"# TYPE {family.name} {family.kind}")
        for pairs, value in sorted(grouped[family]):
            lines.append(f"{family.name}{_labels(pairs)} {_number(value)}")
    return "\n".join(lines) + "\n"


def gauge(name: str, help: str) -> Family:
    """A gauge family."""
    return Family(name, "gauge", help)


def labels(**values: str) -> Labels:
    """Labels as a sample carries them."""
    return tuple(sorted(values.items()))


def _labels(pairs: Labels | Mapping[str, str]) -> str:
    items = pairs.items() if isinstance(pairs, Mapping) else pairs
    inner = ",".join(f'{k}="{_escape(v)}"' for k, v in items)
    return f"{{{inner}}}" if inner else ""


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))
