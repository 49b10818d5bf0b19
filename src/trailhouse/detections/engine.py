"""Running compiled rules over events as they arrive: single-event rules, the two correlation
kinds (event_count, temporal) and trailhouse's first-seen extension.

Correlation windows are kept in memory, per account, rule and group-by values: a restart
forgets the windows still open (docs/detections.md). First-seen baselines are durable; the
caller passes `first_seen`, which records a value and says whether it was new.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from trailhouse.detections.matcher import Event, as_read, path_reader
from trailhouse.detections.rules import CompiledRule
from trailhouse.events.validation import parse_event_time

MAX_EVENTS_PER_FINDING = 100
MAX_WINDOWS = 100_000  # open correlation groups kept in memory, over all accounts
# (account, rule id, key, value, event time, learn seconds) → True when the value had not been
# seen for the key before, None when the key's baseline is still learning (its first value, or
# any value within `learn` seconds of eventTime after it), False when it was seen.
FirstSeenStore = Callable[[str, str, str, str, int, int], bool | None]


class MemoryFirstSeen:
    """First-seen baselines kept in memory, fresh for one run (TestDetectionRule, a history
    run): the same learning rule as the durable baselines of live evaluation."""

    def __init__(self) -> None:
        self._baselines: dict[tuple[str, str, str], tuple[int, set[str]]] = {}

    def __call__(
        self, account_id: str, rule_id: str, key: str, value: str, moment: int, learn: int
    ) -> bool | None:
        since, values = self._baselines.setdefault((account_id, rule_id, key), (moment, set()))
        if value in values:
            return False
        values.add(value)
        return None if len(values) == 1 or moment < since + learn else True


@dataclass(frozen=True, slots=True)
class Match:
    """A rule matched: the events behind it (ids and times), in order."""

    rule: CompiledRule
    account_id: str
    event_ids: tuple[str, ...]
    group: tuple[str, ...] = ()


@dataclass(slots=True)
class _Window:
    """Matches of one correlation group: (time, event id, base rule index)."""

    hits: deque[tuple[int, str, int]]
    timespan: int


class Evaluator:
    """Evaluates each account's enabled rules on events, keeping correlation state."""

    def __init__(self, first_seen: FirstSeenStore) -> None:
        self._first_seen = first_seen
        self._windows: dict[tuple[str, str, tuple[str, ...]], _Window] = {}
        self._lock = threading.Lock()

    def evaluate(
        self, account_id: str, rules: Iterable[CompiledRule], events: Iterable[tuple[int, Event]]
    ) -> list[Match]:
        """The matches of `rules` over `events` (each with its time in seconds), in order."""
        rules = list(rules)
        # The rules an event of each eventName can match: most rules name their API, so most
        # events are tried against few rules.
        by_name: dict[str, list[CompiledRule]] = {}
        chosen: list[tuple[int, Event, Sequence[CompiledRule]]] = []
        for moment, event in events:
            name = event.get("eventName")
            some = rules
            if isinstance(name, str):
                known = by_name.get(name)
                if known is None:
                    known = by_name[name] = [r for r in rules if r.accepts_name(name)]
                some = known
            chosen.append((moment, event, some))
        return self.evaluate_each(account_id, chosen)

    def evaluate_each(
        self, account_id: str, events: Iterable[tuple[int, Event, Sequence[CompiledRule]]]
    ) -> list[Match]:
        """The matches over `events`, each (time in seconds, event, the rules it can match:
        the others could not, `dispatch.py`), in order."""
        found: list[Match] = []
        with self._lock:
            for moment, event, rules in events:
                for rule in rules:
                    match = self._one(account_id, rule, moment, event)
                    if match is not None:
                        found.append(match)
        return found

    def forget(self, account_id: str, rule_id: str) -> None:
        """Drop a rule's open windows (it was changed, disabled or deleted)."""
        with self._lock:
            for key in [k for k in self._windows if k[:2] == (account_id, rule_id)]:
                del self._windows[key]

    def _one(self, account_id: str, rule: CompiledRule, moment: int, event: Event) -> Match | None:
        if rule.kind == "event":
            if rule.bases[0].predicate(event):
                return Match(rule, account_id, (str(event.get("eventId", "")),))
            return None
        event_id = str(event.get("eventId", ""))
        if rule.kind == "first_seen":
            spec = rule.first_seen
            if spec is None or not rule.bases[0].predicate(event):
                return None
            keys, values = path_reader(spec.key)(event), path_reader(spec.value)(event)
            if not keys or not values:
                return None
            key, value = str(as_read(keys[0])), str(as_read(values[0]))
            if self._first_seen(account_id, rule.rule_id, key, value, moment, spec.learn):
                return Match(rule, account_id, (event_id,), (key, value))
            return None
        hit = [i for i, base in enumerate(rule.bases) if base.predicate(event)]
        if not hit:
            return None
        group = group_of(event, rule.group_by)
        if group is None:
            return None
        slot = (account_id, rule.rule_id, group)
        window = self._windows.get(slot)
        if window is None:
            if len(self._windows) >= MAX_WINDOWS:
                self._sweep(moment)
            window = self._windows[slot] = _Window(deque(), rule.timespan)
        for index in hit:
            window.hits.append((moment, event_id, index))
        while window.hits and window.hits[0][0] < moment - rule.timespan:
            window.hits.popleft()
        if rule.kind == "event_count":
            fired = len(window.hits) >= rule.threshold
        else:  # temporal: every base rule within the timespan
            fired = {index for _, _, index in window.hits} == set(range(len(rule.bases)))
        if not fired:
            return None
        ids = tuple(dict.fromkeys(event_id for _, event_id, _ in window.hits))
        window.hits.clear()  # one finding per burst; the next window starts afresh
        return Match(rule, account_id, ids[-MAX_EVENTS_PER_FINDING:], group)

    def _sweep(self, moment: int) -> None:
        """Drop the windows whose every match has expired; if too many stay, the oldest."""
        for key, window in list(self._windows.items()):
            if not window.hits or window.hits[-1][0] < moment - window.timespan:
                del self._windows[key]
        if len(self._windows) >= MAX_WINDOWS:
            newest = sorted(self._windows, key=lambda k: self._windows[k].hits[-1][0])
            for key in newest[: len(newest) // 2]:
                del self._windows[key]


def moment_of(event: Event) -> int:
    """The event's time in seconds (0 when it has no valid eventTime)."""
    when = event.get("eventTime")
    try:
        return parse_event_time(when) if isinstance(when, str) else 0
    except ValueError:
        return 0


def group_of(event: Event, fields: tuple[str, ...]) -> tuple[str, ...] | None:
    """The event's group-by values, or None when it lacks one (it joins no group)."""
    values: list[str] = []
    for field in fields:
        found: list[Any] = path_reader(field)(event)
        if not found or found[0] is None:
            return None
        values.append(str(as_read(found[0])))
    return tuple(values)
