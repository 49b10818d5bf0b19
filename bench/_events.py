"""Benchmark events: the shared generator's events, rewritten to belong to the benchmark account.

`gen_events.py` (in `/work/shared/bench`, or wherever `--gen-dir` points) draws accounts of its
own; every event here is rewritten to the one benchmark account and kept inside the retention
window, so the server accepts it as it is.
"""

from __future__ import annotations

import datetime as dt
import importlib
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

DEFAULT_GEN_DIR = Path("/work/shared/bench")
DAY = 86400
# Keep generated times this far inside the retention window at both ends, so a run that takes
# an hour still validates its first events and never sends one from the future.
MARGIN_SECONDS = 3600


class Generator(Protocol):
    """The part of gen_events.EventGenerator the benchmark uses."""

    t0: float
    span: float
    emitted: int

    def batch(self, n: int, total: int | None = None) -> list[dict[str, Any]]: ...


@dataclass(frozen=True, slots=True)
class TimeWindow:
    """Where generated event times fall: [start, start + span) in epoch seconds."""

    start: int
    span: int

    @classmethod
    def last_days(cls, now: int, days: float) -> TimeWindow:
        """The last `days` days before `now`, trimmed by the safety margin at both ends."""
        start = now - int(days * DAY) + MARGIN_SECONDS
        return cls(start=start, span=max(60, now - MARGIN_SECONDS - start))


def load_generator_class(gen_dir: Path) -> Any:
    """gen_events.EventGenerator from `gen_dir`."""
    if str(gen_dir) not in sys.path:
        sys.path.insert(0, str(gen_dir))
    return importlib.import_module("gen_events").EventGenerator


def make_generator(gen_dir: Path, seed: int, window: TimeWindow, stream: int = 0) -> Generator:
    """A generator over `window`; `stream` > 0 draws another stream over the same catalogue."""
    cls = load_generator_class(gen_dir)
    start = dt.datetime.fromtimestamp(window.start, tz=dt.UTC)
    generator: Generator = cls(seed=seed, start=start, days=1)
    generator.span = float(window.span)
    if stream:
        generator.rng.seed(seed * 1_000_003 + stream)  # type: ignore[attr-defined]
    return generator


def owned(events: list[dict[str, Any]], account_id: str) -> list[dict[str, Any]]:
    """`events` rewritten to belong to `account_id` (in place; returned for chaining)."""
    for event in events:
        event["recipientAccountId"] = account_id
        identity = event.get("userIdentity")
        if isinstance(identity, dict):
            identity["accountId"] = account_id
    return events


def chunk_events(
    gen_dir: Path,
    seed: int,
    window: TimeWindow,
    account_id: str,
    index: int,
    size: int,
    total: int,
) -> list[dict[str, Any]]:
    """Chunk `index` (of `size` events) of a `total`-event stream spread over `window`.

    Chunks can be drawn in any process and order: chunk i's times follow chunk i-1's.
    """
    generator = make_generator(gen_dir, seed, window, stream=index + 1)
    generator.emitted = index * size
    return owned(generator.batch(size, total=total), account_id)


def batches(events: list[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    """`events` in consecutive slices of `size`."""
    for offset in range(0, len(events), size):
        yield events[offset : offset + size]


def well_run(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`events` made a well-run account's (in place), as tests/compat/normal_traffic.py makes
    the replay test's and for the same reasons (docs/detections.md, "Normal traffic"): trail
    changes become DescribeTrails reads, the root identity only reads, sign-ins use MFA."""
    for event in events:
        identity = event["userIdentity"]
        if event["eventName"] in {"StopLogging", "DeleteTrail", "UpdateTrail"}:
            event["eventName"], event["eventRW"] = "DescribeTrails", "Read"
        if identity["type"] == "root-account" and event["eventRW"] == "Write":
            identity["type"], identity["userName"] = "ram-user", "operator"
        if event["eventName"] == "ConsoleSignin":
            event["requestParameters"]["MFAUsed"] = "true"
            event["additionalEventData"]["isMFAChecked"] = "true"
    return events
