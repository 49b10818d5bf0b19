"""Which of an account's rules an arriving event can match, decided from its record before its
JSON is read, and reading only the top-level fields those rules look at.

Most rules name their API (`eventName: X`, a list, `|startswith`), so most events can match none
of an account's rules: they are ruled out by `EventRecord.event_name` (the event's own
`eventName`, as every record is built) and never parsed. An event some rule may match is read
for the top-level fields its candidate rules name (`userIdentity`, `sourceIpAddress`…), msgspec
skipping the rest of its bytes, unless one of them is a keyword rule (a string anywhere in the
event), which reads the whole event. A rule sees exactly the values it would see in the whole
event: the fields it does not name are the only ones left out.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
from sigma.conditions import ConditionFieldEqualsValueExpression

from trailhouse.detections.matcher import Event, leaves
from trailhouse.detections.rules import CompiledRule

# Read for every candidate event: the finding check (eventType), the name guard (eventName) and
# the id a match names (eventId).
ALWAYS = frozenset({"eventId", "eventName", "eventType"})
MAX_NAMES = 4096  # eventNames whose plan is remembered (producers choose names)

Reader = Callable[[bytes], Event]
_decode_whole = msgspec.json.Decoder().decode


def roots_of(rule: CompiledRule) -> frozenset[str] | None:
    """The top-level fields `rule` reads (of its conditions, group-by and first-seen fields);
    None when it reads the whole event (a keyword: a string anywhere)."""
    fields: list[str] = [*rule.group_by]
    if rule.first_seen is not None:
        fields += [rule.first_seen.key, rule.first_seen.value]
    for base in rule.bases:
        for leaf in leaves(base.condition):
            if not isinstance(leaf, ConditionFieldEqualsValueExpression):
                return None
            fields.append(leaf.field)
    return frozenset(field.split(".", 1)[0] for field in fields)


@functools.lru_cache(maxsize=256)
def reader(roots: frozenset[str] | None) -> Reader:
    """A decoder of an event's JSON to a dict of the top-level fields `roots` (those present),
    or of the whole event for None."""
    if roots is None:
        return _whole
    names = sorted(roots | ALWAYS)
    # Positional field names, renamed to the JSON keys: a key need not be a Python name.
    struct = msgspec.defstruct(
        "Fields",
        [(f"f{i}", Any, msgspec.UNSET) for i in range(len(names))],
        rename={f"f{i}": name for i, name in enumerate(names)},
    )
    decode = msgspec.json.Decoder(struct).decode

    def read(body: bytes) -> Event:
        # A Struct to builtins: its fields by their JSON names, the absent (UNSET) left out.
        fields: Event = msgspec.to_builtins(decode(body))
        return fields

    return read


def _whole(body: bytes) -> Event:
    event = _decode_whole(body)
    return event if isinstance(event, dict) else {}


@dataclass(frozen=True, slots=True)
class Plan:
    """The rules an event of one eventName can match, and how to read what they look at."""

    rules: tuple[CompiledRule, ...]
    read: Reader


class Dispatch:
    """An account's enabled rules, indexed by the eventNames they can match."""

    def __init__(self, rules: Sequence[CompiledRule]) -> None:
        self.rules = tuple(rules)
        self._roots = tuple((rule, roots_of(rule)) for rule in self.rules)
        self._plans: dict[str, Plan | None] = {}

    def __bool__(self) -> bool:
        return bool(self.rules)

    def plan(self, name: str) -> Plan | None:
        """What an event named `name` is tested against; None when no rule can match it."""
        if name in self._plans:
            return self._plans[name]
        chosen = [(rule, roots) for rule, roots in self._roots if rule.accepts_name(name)]
        found = None
        if chosen:
            rules = tuple(rule for rule, _ in chosen)
            found = Plan(rules, reader(_union(roots for _, roots in chosen)))
        if len(self._plans) < MAX_NAMES:
            self._plans[name] = found
        return found


def _union(roots: Iterable[frozenset[str] | None]) -> frozenset[str] | None:
    joined: set[str] = set()
    for some in roots:
        if some is None:
            return None
        joined |= some
    return frozenset(joined)
