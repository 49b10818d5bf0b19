"""Detection rules and findings of each account, kept as metadata documents, and the hook that
evaluates the enabled rules on every event the recorder accepts.

The starter pack (`starter/*.yml`) is offered to every account, disabled until the account
enables a rule; an account's own rules are enabled when created. A match becomes a finding
(`findings.py`): a document listed by ListFindings, and an event of type `TrailhouseFinding` in
the account's own history, so LookupEvents shows it and trails deliver it.
"""

from __future__ import annotations

import functools
import logging
import re
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from importlib import resources

import msgspec

from trailhouse.detections.baselines import FirstSeenBaselines
from trailhouse.detections.dispatch import Dispatch
from trailhouse.detections.egress import Egress
from trailhouse.detections.engine import Evaluator, Match, MemoryFirstSeen, moment_of
from trailhouse.detections.findings import FINDING_EVENT_TYPE, Finding, Findings
from trailhouse.detections.matcher import Event
from trailhouse.detections.rules import CompiledRule, RuleRefused, parse_rule
from trailhouse.detections.webhooks import Webhooks
from trailhouse.events.model import EventRecord, StoredEvent
from trailhouse.retry import DELIVERY, RetryPolicy, retry_on_conflict
from trailhouse.store.ports import DocumentWrite, MetadataStore

log = logging.getLogger(__name__)

RULE_KIND = "detection-rule"
MAX_RULES = 200
CACHE_SECONDS = 5.0
RULE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}")


class RuleNotFound(LookupError):
    """The account has no rule with this id."""


class RuleExists(ValueError):
    """The account already has a rule with this id."""


class TooManyRules(ValueError):
    """The account already has `MAX_RULES` rules of its own."""


class StarterRuleKept(ValueError):
    """A starter rule cannot be deleted, only disabled."""


class RuleDocument(msgspec.Struct, frozen=True):
    """An account's rule: its YAML ("" for a starter rule, read from the package) and state."""

    rule_id: str
    text: str
    enabled: bool
    created_ms: int


class RuleInfo(msgspec.Struct, frozen=True):
    """A rule as ListDetectionRules shows it."""

    rule_id: str
    title: str
    level: str
    kind: str
    enabled: bool
    starter: bool
    text: str
    created_ms: int


def starter_rules() -> dict[str, str]:
    """The starter pack: rule id → YAML text."""
    found: dict[str, str] = {}
    for entry in sorted(resources.files("trailhouse.detections.starter").iterdir(), key=str):
        if entry.name.endswith(".yml"):
            text = entry.read_text(encoding="utf-8")
            found[parse_rule(text).rule_id] = text
    return found


class DetectionService:
    """Rules, their evaluation on arriving events, and findings."""

    def __init__(
        self,
        metadata: MetadataStore,
        record: Callable[[Sequence[EventRecord]], int],
        webhook_policy: RetryPolicy = DELIVERY,
        egress: Egress | None = None,
        changed: Callable[[str, str], None] | None = None,
        *,
        record_is_durable: bool = True,
    ) -> None:
        self._metadata = metadata
        # Told (account, rule id) of each rule this process changed, once the change is durable.
        self._on_change = changed
        self.webhooks = Webhooks(metadata, webhook_policy, egress=egress)
        self.findings = Findings(
            metadata, record, self.webhooks, record_is_durable=record_is_durable
        )
        self._starter = starter_rules()
        self._compiled = {rule_id: parse_rule(text) for rule_id, text in self._starter.items()}
        self._baselines = FirstSeenBaselines(metadata)
        self._evaluator = Evaluator(self._baselines)
        self._cache: dict[str, tuple[float, Dispatch]] = {}
        self._lock = threading.Lock()

    # Rules

    def create_rule(self, account_id: str, text: str, now_ms: int) -> RuleInfo:
        """Check and save a rule of the account's own, enabled."""
        rule = parse_rule(text)
        if not RULE_ID.fullmatch(rule.rule_id):
            raise RuleRefused(
                f"the rule's name {rule.rule_id[:80]!r} cannot be its RuleId: use 1-128 letters, "
                "digits, '_', '-', '.' or ':'",
                _line_of_name(text),
            )
        if rule.rule_id in self._starter or self._document(account_id, rule.rule_id):
            raise RuleExists(rule.rule_id)
        if len(self._metadata.list_documents(RULE_KIND, account_id)) >= MAX_RULES:
            raise TooManyRules(account_id)
        document = RuleDocument(rule.rule_id, text, True, now_ms)
        body = msgspec.json.encode(document)
        self._metadata.commit([DocumentWrite(RULE_KIND, account_id, rule.rule_id, body, 0)])
        self._changed(account_id, rule.rule_id)
        return self._info(rule, document)

    def list_rules(self, account_id: str) -> list[RuleInfo]:
        """The starter pack and the account's own rules, by id."""
        documents = {
            d.rule_id: d
            for d in (
                msgspec.json.decode(doc.body, type=RuleDocument)
                for doc in self._metadata.list_documents(RULE_KIND, account_id)
            )
        }
        infos = [
            self._info(self._compiled[rule_id], documents.get(rule_id)) for rule_id in self._starter
        ]
        infos += [self._stored(d) for d in documents.values() if d.rule_id not in self._starter]
        return sorted(infos, key=lambda info: info.rule_id)

    def _stored(self, document: RuleDocument) -> RuleInfo:
        """A stored rule as listed; one this version no longer accepts is shown as `refused`
        (with why, as its title) and never runs."""
        try:
            return self._info(_parsed(document.text, document.rule_id), document)
        except RuleRefused as refused:
            return RuleInfo(
                rule_id=document.rule_id,
                title=f"refused: {refused}",
                level="",
                kind="refused",
                enabled=False,
                starter=False,
                text=document.text,
                created_ms=document.created_ms,
            )

    def get_rule(self, account_id: str, rule_id: str) -> CompiledRule:
        """One rule of the account (a starter rule or its own)."""
        if rule_id in self._compiled:
            return self._compiled[rule_id]
        document = self._document(account_id, rule_id)
        if document is None:
            raise RuleNotFound(rule_id)
        return _parsed(document.text, rule_id)

    def set_enabled(self, account_id: str, rule_id: str, enabled: bool, now_ms: int) -> RuleInfo:
        """Enable or disable a rule; a disabled rule's open windows are dropped. A stored rule
        this version refuses can be disabled, not enabled (RuleRefused, nothing written)."""

        def attempt() -> RuleInfo:
            stored = self._metadata.get_document(RULE_KIND, account_id, rule_id)
            if stored is None and rule_id not in self._starter:
                raise RuleNotFound(rule_id)
            if enabled:
                self.get_rule(account_id, rule_id)  # refuses before anything is written
            current = (
                msgspec.json.decode(stored.body, type=RuleDocument)
                if stored is not None
                else RuleDocument(rule_id, "", enabled, now_ms)
            )
            changed = msgspec.structs.replace(current, enabled=enabled)
            body = msgspec.json.encode(changed)
            version = stored.version if stored is not None else 0
            self._metadata.commit([DocumentWrite(RULE_KIND, account_id, rule_id, body, version)])
            if rule_id in self._starter:
                return self._info(self._compiled[rule_id], changed)
            return self._stored(changed)

        info = retry_on_conflict(attempt, what=f"detection rule {rule_id}")
        self._changed(account_id, rule_id)
        return info

    def delete_rule(self, account_id: str, rule_id: str) -> None:
        """Delete a rule of the account's own."""
        if rule_id in self._starter:
            raise StarterRuleKept(rule_id)

        def attempt() -> None:
            stored = self._metadata.get_document(RULE_KIND, account_id, rule_id)
            if stored is None:
                raise RuleNotFound(rule_id)
            self._metadata.commit(
                [DocumentWrite(RULE_KIND, account_id, rule_id, None, stored.version)]
            )

        retry_on_conflict(attempt, what=f"detection rule {rule_id}")
        self._changed(account_id, rule_id)

    # Evaluation

    def on_accepted(self, records: Sequence[StoredEvent]) -> None:
        """Evaluate the enabled rules of each record's account; record what matched. Never
        raises: the events are already durable, and a detection failure is logged."""
        try:
            by_account: dict[str, list[StoredEvent]] = defaultdict(list)
            for record in records:
                by_account[record.account_id].append(record)
            for account_id, batch in by_account.items():
                dispatch = self._dispatch(account_id)
                if dispatch:
                    events = _events(dispatch, batch)
                    matches = self._evaluator.evaluate_each(account_id, events)
                    self._found(matches)
        except Exception:  # the events are stored; a finding missed is logged, never raised
            log.exception("detection rules could not be evaluated on %d events", len(records))

    def test_rule(self, rule: CompiledRule, events: Iterable[dict[str, object]]) -> list[Match]:
        """What `rule` finds in `events`, with fresh state (first seen: within these events)."""
        timed = [(moment_of(event), event) for event in events]
        return Evaluator(MemoryFirstSeen()).evaluate("", [rule], timed)

    def _found(self, matches: list[Match]) -> None:
        """Commit the batch's findings with what it taught the first-seen baselines."""
        learnt = self._baselines.take()
        self.findings.add_all(
            matches, int(time.time() * 1000), lambda: self._baselines.writes(learnt)
        )

    def _dispatch(self, account_id: str) -> Dispatch:
        """The account's enabled rules, indexed by eventName (cached `CACHE_SECONDS`)."""
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(account_id)
            if cached is not None and now - cached[0] < CACHE_SECONDS:
                return cached[1]
        rules = [
            self.get_rule(account_id, info.rule_id)
            for info in self.list_rules(account_id)
            if info.enabled
        ]
        dispatch = Dispatch(rules)
        with self._lock:
            self._cache[account_id] = (now, dispatch)
        return dispatch

    def has_enabled(self, account_id: str) -> bool:
        """Whether the account has any rule enabled (read afresh)."""
        return any(info.enabled for info in self.list_rules(account_id))

    def forget(self, account_id: str, rule_id: str) -> None:
        """Read the account's enabled rules afresh next time, and drop the rule's open
        correlation windows (it was created, changed, disabled or deleted)."""
        with self._lock:
            self._cache.pop(account_id, None)
        self._evaluator.forget(account_id, rule_id)

    def _changed(self, account_id: str, rule_id: str) -> None:
        self.forget(account_id, rule_id)
        if self._on_change is not None:
            self._on_change(account_id, rule_id)

    def _document(self, account_id: str, rule_id: str) -> RuleDocument | None:
        stored = self._metadata.get_document(RULE_KIND, account_id, rule_id)
        return None if stored is None else msgspec.json.decode(stored.body, type=RuleDocument)

    def _info(self, rule: CompiledRule, document: RuleDocument | None) -> RuleInfo:
        starter = rule.rule_id in self._starter
        return RuleInfo(
            rule_id=rule.rule_id,
            title=rule.title,
            level=rule.level,
            kind=rule.kind,
            enabled=document.enabled if document is not None else False,
            starter=starter,
            text=self._starter[rule.rule_id] if starter else (document.text if document else ""),
            created_ms=document.created_ms if document is not None else 0,
        )


def _line_of_name(text: str) -> int | None:
    for number, line in enumerate(text.splitlines(), start=1):
        if re.match(r"\s*(name|id)\s*:", line):
            return number
    return None


@functools.lru_cache(maxsize=4096)
def _parsed(text: str, rule_id: str) -> CompiledRule:
    """A stored rule, parsed once per process (rules are re-read every few seconds)."""
    return parse_rule(text, rule_id)


def _events(
    dispatch: Dispatch, records: Sequence[StoredEvent]
) -> Iterator[tuple[int, Event, Sequence[CompiledRule]]]:
    """Each record some rule may match, read for the fields its rules look at, with them: a
    record no rule can match by its eventName is never parsed. One at a time: an event read is
    dropped once evaluated, never kept for the whole batch (kept, a batch's events outlive the
    young collections and make the collector sweep the whole heap far more often)."""
    for record in records:
        if record.event_type == FINDING_EVENT_TYPE:
            continue  # a finding never feeds the rules again
        plan = dispatch.plan(record.event_name)
        if plan is None:
            continue
        event = plan.read(record.body)
        if event.get("eventType") != FINDING_EVENT_TYPE:
            yield record.event_time, event, plan.rules


__all__ = ["Finding", "RuleRefused"]
