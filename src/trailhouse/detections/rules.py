"""Parsing a detection rule: Sigma YAML through pySigma, checked and compiled once.

A rule is one YAML text: a single Sigma rule, or a Sigma correlation rule (`event_count`,
`temporal`) with the rules it names, as documents of one text. pySigma parses it and applies the
field pipeline (`fields.py`); trailhouse then refuses what it would run badly, each refusal with
the line and the reason: YAML or Sigma errors, another logsource, a field ActionTrail events do
not have, a detection that would match every event, a correlation trailhouse does not run.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import yaml
from sigma.collection import SigmaCollection
from sigma.correlations import (
    SigmaCorrelationCondition,
    SigmaCorrelationConditionOperator,
    SigmaCorrelationRule,
    SigmaCorrelationType,
)
from sigma.exceptions import (
    SigmaConditionError,
    SigmaDetectionError,
    SigmaError,
    SigmaLevelError,
    SigmaLogsourceError,
    SigmaTimespanError,
)
from sigma.rule import SigmaDetection, SigmaDetectionItem, SigmaRule

from trailhouse.detections.fields import (
    ALIASES,
    PRODUCT,
    SERVICE,
    is_known,
    pipeline,
    probe_events,
)
from trailhouse.detections.matcher import (
    Predicate,
    UnsupportedValue,
    compile_tree,
    guarded,
    leaves,
    only_wildcards,
    remembered_guard,
)

MAX_RULE_BYTES = 64 * 1024
PROBES = probe_events()
LEVELS = ("informational", "low", "medium", "high", "critical")


class RuleRefused(ValueError):
    """A rule trailhouse will not run: where (a 1-based line, when known) and why."""

    def __init__(self, reason: str, line: int | None = None) -> None:
        self.reason = reason
        self.line = line
        super().__init__(f"line {line}: {reason}" if line else reason)


@dataclass(frozen=True, slots=True)
class EventRule:
    """One Sigma rule over single events: its name and its compiled condition."""

    name: str
    predicate: Predicate
    condition: Any  # pySigma's parsed condition, kept to write it as SQL
    # Whether an event of this eventName can match (None: any can), remembered per name.
    names: Callable[[str], bool] | None = None


@dataclass(frozen=True, slots=True)
class FirstSeen:
    """trailhouse's extension: a finding when `value` is new for this `key` (e.g. an IP never
    seen for an access key), once the key's baseline has learned for `learn` seconds of
    eventTime after its first value (0: the first value alone is the baseline)."""

    key: str
    value: str
    learn: int = 0


@dataclass(frozen=True, slots=True)
class CompiledRule:
    """A rule ready to run.

    `kind` is `event` (each matching event is a finding), `event_count` (at least `threshold`
    matches of the base rule within `timespan` seconds, per `group_by`), `temporal` (every base
    rule matched within `timespan`, per `group_by`) or `first_seen`.
    """

    rule_id: str
    title: str
    level: str
    description: str
    kind: str
    bases: tuple[EventRule, ...]
    group_by: tuple[str, ...] = ()
    timespan: int = 0
    threshold: int = 0
    first_seen: FirstSeen | None = None

    def accepts_name(self, name: str) -> bool:
        """Whether an event of this eventName can match any of the rule's base rules."""
        return any(base.names is None or base.names(name) for base in self.bases)


def parse_rule(text: str, rule_id: str = "") -> CompiledRule:
    """Parse and check a rule's YAML; its id is `rule_id`, else its Sigma name or id."""
    if len(text.encode()) > MAX_RULE_BYTES:
        raise RuleRefused(f"the rule is larger than {MAX_RULE_BYTES} bytes")
    _refuse_aliases(text)
    try:
        documents = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark is not None else None
        raise RuleRefused(f"not valid YAML: {error.problem or error.context}", line) from None
    except yaml.YAMLError as error:
        raise RuleRefused(f"not valid YAML: {error}") from None
    if not documents or not all(isinstance(d, dict) for d in documents):
        raise RuleRefused("a rule is a YAML mapping (title, logsource, detection…)", 1)
    try:
        collection = SigmaCollection.from_dicts(documents)
    except SigmaError as error:
        raise _refusal(text, error) from None
    plain = [r for r in collection.rules if isinstance(r, SigmaRule)]
    correlations = [r for r in collection.rules if isinstance(r, SigmaCorrelationRule)]
    if len(correlations) > 1:
        raise RuleRefused(
            "a rule text holds at most one correlation rule", _line(text, "correlation")
        )
    if not correlations and len(plain) != 1:
        raise RuleRefused(
            "a rule text holds one Sigma rule, or one correlation rule and the rules it names",
            1,
        )
    bases = tuple(_event_rule(text, rule) for rule in plain)
    if correlations:
        return _correlation(text, correlations[0], bases, rule_id)
    rule = plain[0]
    first_seen = _first_seen(text, rule)
    return CompiledRule(
        rule_id=rule_id or _identity(rule),
        title=rule.title,
        level=_level(rule),
        description=rule.description or "",
        kind="first_seen" if first_seen else "event",
        bases=bases,
        first_seen=first_seen,
    )


def _refuse_aliases(text: str) -> None:
    """YAML anchors and aliases let a short text expand into a huge one; rules need none."""
    try:
        for token in yaml.scan(text):
            if isinstance(token, (yaml.AliasToken, yaml.AnchorToken)):
                raise RuleRefused(
                    "YAML anchors and aliases (&name, *name) are not accepted in rules; write "
                    "the values out",
                    token.start_mark.line + 1,
                )
    except yaml.MarkedYAMLError:
        return  # the parse that follows reports it with its line


def _identity(rule: SigmaRule | SigmaCorrelationRule) -> str:
    return rule.name or (str(rule.id) if rule.id else str(uuid.uuid4()))


def _level(rule: SigmaRule | SigmaCorrelationRule) -> str:
    return str(rule.level) if rule.level is not None else "medium"


def _event_rule(text: str, rule: SigmaRule) -> EventRule:
    source = rule.logsource
    if (source.product, source.service) != (PRODUCT, SERVICE):
        raise RuleRefused(
            f"logsource must be product: {PRODUCT}, service: {SERVICE} (got product: "
            f"{source.product}, service: {source.service})",
            _line(text, "logsource"),
        )
    for item in _items(rule.detection.detections.values()):
        field = item.field
        if field is not None and not (is_known(field) or field in ALIASES):
            raise RuleRefused(
                f"field {field!r} is not a field of ActionTrail events (docs/detections.md "
                "lists them; maps: requestParameters.*, responseElements.*, "
                "additionalEventData.*)",
                _line(text, field),
            )
    try:
        pipeline().apply(rule)
        parsed = [condition.parsed for condition in rule.detection.parsed_condition]
    except SigmaError as error:
        raise _refusal(text, error) from None
    if len(parsed) != 1:
        raise RuleRefused("a rule has exactly one condition", _line(text, "condition"))
    condition = parsed[0]
    if all(only_wildcards(getattr(leaf, "value", None)) for leaf in leaves(condition)):
        raise RuleRefused(
            "the detection is only wildcards, so it would match every event; name a value",
            _line(text, "detection"),
        )
    try:
        names = remembered_guard(condition)
        predicate = guarded(compile_tree(condition), names)
    except UnsupportedValue as error:
        raise RuleRefused(f"trailhouse cannot evaluate {error}", _line(text, "detection")) from None
    if predicate({}):
        raise RuleRefused(
            "the condition matches an event that has none of its fields, so it would match "
            "every event; select something first (e.g. `selection and not filter`)",
            _line(text, "condition"),
        )
    if all(predicate(probe) for probe in PROBES):
        raise RuleRefused(
            "the condition matches events whatever their values (it matched two made of "
            "made-up values), so it would match every event; name a value to look for",
            _line(text, "condition"),
        )
    return EventRule(rule.name or _identity(rule), predicate, condition, names)


def _items(detections: Any) -> list[SigmaDetectionItem]:
    found: list[SigmaDetectionItem] = []
    for detection in detections:
        for item in detection.detection_items:
            if isinstance(item, SigmaDetection):
                found += _items([item])
            else:
                found.append(item)
    return found


def _correlation(
    text: str, rule: SigmaCorrelationRule, bases: tuple[EventRule, ...], rule_id: str
) -> CompiledRule:
    at = _line(text, "correlation")
    names = [reference.reference for reference in rule.rules or []]
    by_name = {base.name: base for base in bases}
    missing = [name for name in names if name not in by_name]
    if missing:
        raise RuleRefused(
            f"the correlation names rules {missing} that are not in this rule text; put each "
            "rule it names in the same text, as another YAML document (---)",
            _line(text, "rules", at),
        )
    chosen = tuple(by_name[name] for name in names)
    group_by = tuple(ALIASES.get(f, f) for f in rule.group_by or [])
    unknown = [f for f in group_by if not is_known(f)]
    if unknown:
        raise RuleRefused(
            f"group-by field {unknown[0]!r} is not a field of ActionTrail events",
            _line(text, "group-by", at),
        )
    common = CompiledRule(
        rule_id=rule_id or _identity(rule),
        title=rule.title,
        level=_level(rule),
        description=rule.description or "",
        kind="",
        bases=chosen,
        group_by=group_by,
        timespan=rule.timespan.seconds,
    )
    if rule.type == SigmaCorrelationType.EVENT_COUNT:
        condition = rule.condition
        if (
            not isinstance(condition, SigmaCorrelationCondition)
            or condition.op
            not in (
                SigmaCorrelationConditionOperator.GTE,
                SigmaCorrelationConditionOperator.GT,
            )
            or not isinstance(condition.count, int)
        ):
            raise RuleRefused(
                "an event_count correlation needs a condition gte or gt a number (a count "
                "below a bound is only known when the window closes)",
                _line(text, "condition", at),
            )
        extra = 1 if condition.op == SigmaCorrelationConditionOperator.GT else 0
        return replace(common, kind="event_count", threshold=condition.count + extra)
    if rule.type == SigmaCorrelationType.TEMPORAL:
        if len(chosen) < 2:
            raise RuleRefused(
                "a temporal correlation names at least two rules", _line(text, "rules", at)
            )
        return replace(common, kind="temporal")
    raise RuleRefused(
        f"correlation type {rule.type} is not supported; trailhouse runs event_count and temporal",
        _line(text, "type", at),
    )


def _first_seen(text: str, rule: SigmaRule) -> FirstSeen | None:
    extension = rule.custom_attributes.get("trailhouse")
    if extension is None:
        return None
    spec = extension.get("first_seen") if isinstance(extension, dict) else None
    if not isinstance(spec, dict) or not {"value", "per"} <= set(spec) <= {"value", "per", "learn"}:
        raise RuleRefused(
            "trailhouse: takes first_seen: {value: <field>, per: <field>, learn: <timespan>}",
            _line(text, "trailhouse"),
        )
    learn = _learn_seconds(spec.get("learn", "0s"))
    if learn is None:
        raise RuleRefused(
            "first_seen learn must be a timespan such as 1d, 12h or 30m, at most 30d",
            _line(text, "learn"),
        )
    value, per = (ALIASES.get(str(spec[k]), str(spec[k])) for k in ("value", "per"))
    for field in (value, per):
        if not is_known(field):
            raise RuleRefused(
                f"field {field!r} is not a field of ActionTrail events", _line(text, field)
            )
    return FirstSeen(key=per, value=value, learn=learn)


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _learn_seconds(span: object) -> int | None:
    """A learning timespan (`30m`, `1d`) in seconds; None when it is not one or passes 30 days."""
    found = re.fullmatch(r"(\d{1,6})([smhd])", str(span).strip())
    if found is None:
        return None
    seconds = int(found.group(1)) * _UNITS[found.group(2)]
    return seconds if seconds <= 30 * 86400 else None


def _refusal(text: str, error: SigmaError) -> RuleRefused:
    reason = str(error.args[0]) if error.args else "the rule is not valid Sigma"
    line = error.source.line if error.source is not None else None
    key = next((k for kind, k in _ERROR_KEYS if isinstance(error, kind)), None)
    if key is None:
        key = next((k for k in _KEYS if k in reason.lower()), None)
    if key is not None:
        line = line or _line(text, key)
        if key == "condition":
            reason = f"the condition does not parse: {_readable(reason)}"
    return RuleRefused(reason, line)


def _readable(reason: str) -> str:
    """A condition parser's complaint in a user's words (the grammar's own text says little)."""
    at = re.search(r"\(at char (\d+)\)", reason)
    if reason.startswith("Expected") and at is not None:
        return (
            f"expected a selection name, `1 of <pattern>` or `all of <pattern>` at character "
            f"{int(at.group(1)) + 1}"
        )
    return reason.replace("Detection ", "selection ").replace(" in detections", " under detection")


_ERROR_KEYS = (
    (SigmaConditionError, "condition"),
    (SigmaLogsourceError, "logsource"),
    (SigmaDetectionError, "detection"),
    (SigmaTimespanError, "timespan"),
    (SigmaLevelError, "level"),
)
_KEYS = ("condition", "detection", "logsource", "title", "level", "timespan", "status")


def _line(text: str, word: str, after: int | None = 0) -> int | None:
    """The first line past line `after` where `word` is a key (`word:` or `word|modifier:`)."""
    pattern = re.compile(rf"^\s*(-\s*)?['\"]?{re.escape(word)}['\"]?\s*[:|]")
    for number, line in enumerate(text.splitlines(), start=1):
        if number > (after or 0) and pattern.search(line):
            return number
    return None
