"""A Sigma rule's condition compiled once into a Python predicate over a parsed event.

pySigma parses the detection and its condition into a tree (`ConditionAND`, `ConditionOR`,
`ConditionNOT` over field/value leaves, modifiers already applied to the values); `compile_tree`
turns that tree into nested closures so an event is matched without walking pySigma's objects.
Strings compare case-insensitively, as Sigma specifies, unless the rule says `|cased`; patterns
run on RE2, as pySigma's own safe policy checks them.
"""

from __future__ import annotations

import functools
import ipaddress
import operator
import re
from collections.abc import Callable, Iterator
from typing import Any

from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionNOT,
    ConditionOR,
    ConditionValueExpression,
)
from sigma.policy.regex_engine import RE2RegexEngine
from sigma.types import (
    CompareOperators,
    SigmaBool,
    SigmaCasedString,
    SigmaCIDRExpression,
    SigmaCompareExpression,
    SigmaExists,
    SigmaNull,
    SigmaNumber,
    SigmaRegularExpression,
    SigmaRegularExpressionFlag,
    SigmaString,
    SpecialChars,
)

# RE2 matches in linear time: a rule's regex cannot make evaluation backtrack for ever.
_RE2 = RE2RegexEngine()
Event = dict[str, Any]
Predicate = Callable[[Event], bool]
_MISSING = object()
_FLAGS = {
    SigmaRegularExpressionFlag.IGNORECASE: re.IGNORECASE,
    SigmaRegularExpressionFlag.MULTILINE: re.MULTILINE,
    SigmaRegularExpressionFlag.DOTALL: re.DOTALL,
}
_COMPARE = {
    CompareOperators.LT: operator.lt,
    CompareOperators.LTE: operator.le,
    CompareOperators.GT: operator.gt,
    CompareOperators.GTE: operator.ge,
    CompareOperators.NEQ: operator.ne,
}


class UnsupportedValue(ValueError):
    """The rule uses a value or modifier trailhouse cannot evaluate."""


def values_at(event: Event, field: str) -> list[Any]:
    """The values at a dotted path of `event`: one per list element walked through; none when
    the path is absent."""
    current: list[Any] = [event]
    for part in field.split("."):
        found: list[Any] = []
        for item in current:
            if isinstance(item, dict) and part in item:
                value = item[part]
                found.extend(value if isinstance(value, list) else [value])
        current = found
    return current


@functools.lru_cache(maxsize=4096)
def path_reader(field: str) -> Callable[[Event], list[Any]]:
    """`values_at(event, field)` as a function of the event, the path split once: events are
    plain dicts of dicts, walked directly; a list on the way takes `values_at`'s general walk."""
    parts = tuple(field.split("."))

    def read(event: Event) -> list[Any]:
        item: Any = event
        for part in parts:
            if type(item) is not dict:
                return values_at(event, field)  # a list (or anything else) on the way
            item = item.get(part, _MISSING)
            if item is _MISSING:
                return []
        return item if isinstance(item, list) else [item]

    return read


def as_read(value: Any) -> Any:
    """`value` as rules have always seen it: an integer outside 64 bits as the float orjson
    reads it as (pySigma reads such a number in a rule as a float too). Events are now read by
    msgspec (`dispatch.py`), which keeps such integers exact."""
    if type(value) is int and value not in _INT64:
        return float(value)
    return value


_INT64 = range(-(2**63), 2**64)  # what orjson reads as an int


def _text(value: Any) -> str | None:
    if type(value) is str:
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(as_read(value))
    return None


def string_test(value: SigmaString) -> Callable[[Any], bool]:
    """Whether an event value equals a Sigma string (wildcards, case as Sigma says)."""
    cased = isinstance(value, SigmaCasedString)
    if not value.contains_special():
        plain = value.to_plain()
        wanted = plain if cased else plain.lower()
        if cased:
            return lambda v: _text(v) == wanted  # None (not a scalar) never equals a string

        def equal(v: Any) -> bool:
            t = v if type(v) is str else _text(v)
            return t is not None and t.lower() == wanted

        return equal
    simple = _affix_test(value, cased)
    if simple is not None:
        return simple
    pattern = _RE2.compile(
        value.to_regex().regexp.to_plain(), re.DOTALL | (0 if cased else re.IGNORECASE)
    )
    return lambda v: (t := _text(v)) is not None and pattern.fullmatch(t) is not None


def _affix_test(value: SigmaString, cased: bool) -> Callable[[Any], bool] | None:
    """`startswith`, `endswith` and `contains` (`x*`, `*x`, `*x*`: the commonest patterns) as
    plain string tests, without a regex; None for any other pattern. Lower-casing both sides
    is how Sigma's case-insensitive match is meant for these."""
    parts = list(value.s)
    star = SpecialChars.WILDCARD_MULTI
    texts = [p for p in parts if isinstance(p, str)]
    if len(texts) != 1 or any(p not in (star,) and not isinstance(p, str) for p in parts):
        return None
    word = texts[0] if cased else texts[0].lower()
    shape = tuple(p == star for p in parts)

    if shape == (False, True):
        found: Callable[[str], bool] = lambda t: t.startswith(word)  # noqa: E731
    elif shape == (True, False):
        found = lambda t: t.endswith(word)  # noqa: E731
    elif shape == (True, False, True):
        found = lambda t: word in t  # noqa: E731
    else:
        return None

    def test(v: Any) -> bool:
        t = v if type(v) is str else _text(v)
        return t is not None and found(t if cased else t.lower())

    return test


def _value_test(value: Any) -> Callable[[Any], bool]:
    if isinstance(value, SigmaString):
        return string_test(value)
    if isinstance(value, SigmaBool):
        wanted_bool = value.boolean
        return lambda v: (
            v is wanted_bool or (isinstance(v, str) and v.lower() == str(wanted_bool).lower())
        )
    if isinstance(value, SigmaNumber):
        number = value.number
        return lambda v: _number(v) == number
    if isinstance(value, SigmaRegularExpression):
        flags = 0
        for flag in value.flags:
            flags |= _FLAGS[flag]
        pattern = _RE2.compile(value.regexp.to_plain(), flags)
        return lambda v: (t := _text(v)) is not None and pattern.search(t) is not None
    if isinstance(value, SigmaCIDRExpression):
        network = value.network
        return lambda v: _in_network(v, network)
    if isinstance(value, SigmaCompareExpression):
        compare, bound = _COMPARE[value.op], value.number.number
        return lambda v: (n := _number(v)) is not None and bool(compare(n, bound))
    raise UnsupportedValue(f"values of kind {type(value).__name__.removeprefix('Sigma')}")


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return as_read(value)  # type: ignore[no-any-return]
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _in_network(value: Any, network: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        return ipaddress.ip_address(value) in network
    except ValueError:
        return False


def _leaf(node: ConditionFieldEqualsValueExpression) -> Predicate:
    field, value = node.field, node.value
    read = path_reader(field)
    if isinstance(value, SigmaNull):
        return lambda event: all(v is None for v in read(event))
    if isinstance(value, SigmaExists):
        exists = value.exists

        def present(event: Event) -> bool:
            for found in read(event):  # per event and rule: a loop, no generator
                if found is not None:
                    return exists
            return not exists

        return present
    test = _value_test(value)

    def check(event: Event) -> bool:
        # A loop, not any(generator): this runs per event and rule, and a generator costs more.
        for found in read(event):  # noqa: SIM110
            if test(found):
                return True
        return False

    return check


def _keyword(node: ConditionValueExpression) -> Predicate:
    """A keyword matches any string anywhere in the event."""
    test = _value_test(node.value)
    return lambda event: any(test(v) for v in _strings(event))


def _strings(value: Any) -> Iterator[Any]:
    if isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
    else:
        yield value


def compile_tree(node: Any) -> Predicate:
    """The predicate of a parsed Sigma condition."""
    if isinstance(node, ConditionAND):
        return _all([compile_tree(arg) for arg in node.args])
    if isinstance(node, ConditionOR):
        return _any([compile_tree(arg) for arg in node.args])
    if isinstance(node, ConditionNOT):
        inner = compile_tree(node.args[0])
        return lambda event: not inner(event)
    if isinstance(node, ConditionFieldEqualsValueExpression):
        return _leaf(node)
    if isinstance(node, ConditionValueExpression):
        return _keyword(node)
    raise UnsupportedValue(f"conditions of kind {type(node).__name__}")


def _all(parts: list[Predicate]) -> Predicate:
    """Every part holds, tried in order until one fails."""
    if len(parts) == 1:
        return parts[0]
    if len(parts) == 2:
        first, second = parts
        return lambda event: first(event) and second(event)

    def every(event: Event) -> bool:
        for part in parts:  # noqa: SIM110 - faster than all(generator), per event and rule
            if not part(event):
                return False
        return True

    return every


def _any(parts: list[Predicate]) -> Predicate:
    """Some part holds, tried in order until one does."""
    if len(parts) == 1:
        return parts[0]
    if len(parts) == 2:
        first, second = parts
        return lambda event: first(event) or second(event)

    def some(event: Event) -> bool:
        for part in parts:  # noqa: SIM110 - faster than any(generator), per event and rule
            if part(event):
                return True
        return False

    return some


def leaves(node: Any) -> Iterator[Any]:
    """The field/value and keyword leaves of a parsed condition."""
    if isinstance(node, (ConditionAND, ConditionOR, ConditionNOT)):
        for arg in node.args:
            yield from leaves(arg)
    else:
        yield node


def only_wildcards(value: Any) -> bool:
    """Whether a value matches any string (`*`, or a contains of nothing)."""
    return isinstance(value, SigmaString) and all(
        part == SpecialChars.WILDCARD_MULTI or part == "" for part in value.s
    )


def name_guard(node: Any) -> Callable[[Any], bool] | None:
    """A test on `eventName` alone that every event the condition matches passes (None when
    the condition does not restrict it): most rules name their API, so most events are ruled
    out by their name without walking the condition."""
    if isinstance(node, ConditionAND):
        guards = [g for g in map(name_guard, node.args) if g is not None]
        if not guards:
            return None
        return lambda name: all(guard(name) for guard in guards)
    if isinstance(node, ConditionOR):
        options = [name_guard(arg) for arg in node.args]
        chosen = [g for g in options if g is not None]
        if len(chosen) < len(options):
            return None
        return lambda name: any(guard(name) for guard in chosen)
    if (
        isinstance(node, ConditionFieldEqualsValueExpression)
        and node.field == "eventName"
        and not isinstance(node.value, (SigmaNull, SigmaExists))
    ):
        return _value_test(node.value)
    return None


def remembered_guard(node: Any) -> Callable[[str], bool] | None:
    """The condition's name guard (`name_guard`), its answer remembered per eventName (a few
    thousand names at most); None when the condition does not restrict eventName."""
    guard = name_guard(node)
    if guard is None:
        return None
    memo: dict[str, bool] = {}

    def accepts(name: str) -> bool:
        allowed = memo.get(name)
        if allowed is None:
            allowed = bool(guard(name))
            if len(memo) < 4096:
                memo[name] = allowed
        return allowed

    return accepts


def guarded(predicate: Predicate, accepts: Callable[[str], bool] | None) -> Predicate:
    """`predicate`, skipped for an event whose eventName (a string) `accepts` rules out."""
    if accepts is None:
        return predicate

    def check(event: Event) -> bool:
        name = event.get("eventName")
        if isinstance(name, str) and not accepts(name):
            return False
        return predicate(event)

    return check
