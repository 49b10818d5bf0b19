"""trailhouse's own detection actions (docs/api.md, docs/detections.md): Create, List, Enable,
Disable, Delete and TestDetectionRule, ListFindings, and Set/Get/DeleteFindingWebhook."""

from __future__ import annotations

import re
import time
from typing import Any

import orjson

from trailhouse.api import params
from trailhouse.api.actions import ActionContext
from trailhouse.detections.engine import Match
from trailhouse.detections.errors import (
    EntityAlreadyExistDetectionRule,
    EntityNotExistDetectionRule,
    EntityNotExistFindingWebhook,
    LimitExceededDetectionRule,
    OperationFailedDetectionHistory,
)
from trailhouse.detections.findings import Finding
from trailhouse.detections.history import HistoryFailed, run_history
from trailhouse.detections.rules import CompiledRule, RuleRefused, parse_rule
from trailhouse.detections.service import (
    MAX_RULES,
    RuleExists,
    RuleInfo,
    RuleNotFound,
    StarterRuleKept,
    TooManyRules,
)
from trailhouse.detections.webhooks import InvalidWebhook
from trailhouse.errors import InvalidParameter

RULE_RESOURCE = "ACS::Trailhouse::DetectionRule"
MAX_TEST_EVENTS = 1000
_TABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
_DAY = re.compile(r"\d{8}")


def create_detection_rule(ctx: ActionContext) -> dict[str, Any]:
    """CreateDetectionRule: check a Sigma rule (RuleYaml) and save it, enabled."""
    text = params.required(ctx.params, "RuleYaml")
    try:
        info = ctx.services.detections.create_rule(ctx.caller.account_id, text, _now_ms())
    except RuleRefused as refused:
        raise _refused(refused) from None
    except RuleExists as exists:
        raise EntityAlreadyExistDetectionRule(
            f"account {ctx.caller.account_id} already has a detection rule {exists}; give the "
            "rule another name (or delete the old one first)"
        ) from None
    except TooManyRules:
        raise LimitExceededDetectionRule(
            f"account {ctx.caller.account_id} already has {MAX_RULES} detection rules of its "
            "own; delete one first"
        ) from None
    ctx.resources.append((RULE_RESOURCE, info.rule_id))
    return {"Rule": _rule(info)}


def list_detection_rules(ctx: ActionContext) -> dict[str, Any]:
    """ListDetectionRules: the starter pack and the account's own rules."""
    rules = ctx.services.detections.list_rules(ctx.caller.account_id)
    return {"Rules": [_rule(info) for info in rules]}


def enable_detection_rule(ctx: ActionContext) -> dict[str, Any]:
    """EnableDetectionRule: the rule runs on every event from now on."""
    return _set_enabled(ctx, True)


def disable_detection_rule(ctx: ActionContext) -> dict[str, Any]:
    """DisableDetectionRule: the rule stops running; its findings stay."""
    return _set_enabled(ctx, False)


def delete_detection_rule(ctx: ActionContext) -> dict[str, Any]:
    """DeleteDetectionRule: delete a rule of the account's own (starter rules are disabled)."""
    rule_id = _rule_id(ctx)
    try:
        ctx.services.detections.delete_rule(ctx.caller.account_id, rule_id)
    except StarterRuleKept:
        raise InvalidParameter(
            f"{rule_id} is a starter rule; it cannot be deleted, disable it instead"
        ) from None
    except RuleNotFound:
        raise _no_rule(ctx, rule_id) from None
    return {}


def test_detection_rule(ctx: ActionContext) -> dict[str, Any]:
    """TestDetectionRule: run a rule (RuleYaml, or RuleId) over given events (Events, a JSON
    array) or over a delivered table's days (Project, Table, StartDay, EndDay)."""
    rule = _rule_to_test(ctx)
    if "Events" in ctx.params:
        if "Table" in ctx.params or "Project" in ctx.params:
            raise InvalidParameter("give either Events or Project and Table, not both")
        events = _events(ctx.params["Events"])
        matches = ctx.services.detections.test_rule(rule, events)
        return {"Matches": [_match(m) for m in matches], "EventsRead": len(events)}
    return _history(ctx, rule)


def list_findings(ctx: ActionContext) -> dict[str, Any]:
    """ListFindings: the account's findings, newest first, a page at a time."""
    limit = params.integer(ctx.params, "MaxResults", 50, 1, 200)
    token = ctx.params.get("NextToken", "")
    # A finding's id: its time, then its match's digest (24 hex; 12 random hex before).
    if token and not re.fullmatch(r"\d{13}-(?:[0-9a-f]{12}){1,2}", token):
        raise InvalidParameter("NextToken is not a token ListFindings returned")
    findings, next_token = ctx.services.detections.findings.list(
        ctx.caller.account_id, ctx.params.get("RuleId", ""), token, limit
    )
    shown: dict[str, Any] = {"Findings": [_finding(f) for f in findings]}
    if next_token:
        shown["NextToken"] = next_token
    return shown


def set_finding_webhook(ctx: ActionContext) -> dict[str, Any]:
    """SetFindingWebhook: send each new finding to Url, signed with a new Secret (shown once)."""
    url = params.required(ctx.params, "Url")
    try:
        webhook = ctx.services.detections.webhooks.set(ctx.caller.account_id, url, _now_ms())
    except InvalidWebhook as invalid:
        raise InvalidParameter(str(invalid)) from None
    return {"Url": webhook.url, "Secret": webhook.secret}


def get_finding_webhook(ctx: ActionContext) -> dict[str, Any]:
    """GetFindingWebhook: where findings go, and those still waiting to be accepted."""
    webhooks = ctx.services.detections.webhooks
    webhook = webhooks.get(ctx.caller.account_id)
    if webhook is None:
        raise EntityNotExistFindingWebhook(
            f"account {ctx.caller.account_id} has no findings webhook (SetFindingWebhook)"
        )
    waiting = webhooks.pending(ctx.caller.account_id)
    return {
        "Url": webhook.url,
        "Pending": len(waiting),
        "LastError": next((w.last_error for w in reversed(waiting) if w.last_error), ""),
    }


def delete_finding_webhook(ctx: ActionContext) -> dict[str, Any]:
    """DeleteFindingWebhook: stop sending findings (those waiting are dropped; all stay listed)."""
    if not ctx.services.detections.webhooks.delete(ctx.caller.account_id):
        raise EntityNotExistFindingWebhook(
            f"account {ctx.caller.account_id} has no findings webhook"
        )
    return {}


def _set_enabled(ctx: ActionContext, enabled: bool) -> dict[str, Any]:
    rule_id = _rule_id(ctx)
    try:
        info = ctx.services.detections.set_enabled(
            ctx.caller.account_id, rule_id, enabled, _now_ms()
        )
    except RuleNotFound:
        raise _no_rule(ctx, rule_id) from None
    except RuleRefused as refused:  # stored before this version stopped accepting it
        raise _refused(refused) from None
    return {"Rule": _rule(info)}


def _rule_to_test(ctx: ActionContext) -> CompiledRule:
    text, rule_id = ctx.params.get("RuleYaml", ""), ctx.params.get("RuleId", "")
    if bool(text) == bool(rule_id):
        raise InvalidParameter("give exactly one of RuleYaml (a rule to try) and RuleId")
    if text:
        try:
            return parse_rule(text)
        except RuleRefused as refused:
            raise _refused(refused) from None
    try:
        return ctx.services.detections.get_rule(ctx.caller.account_id, _rule_id(ctx))
    except RuleNotFound:
        raise _no_rule(ctx, rule_id) from None
    except RuleRefused as refused:
        raise _refused(refused) from None


def _events(text: str) -> list[dict[str, object]]:
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError as error:
        raise InvalidParameter(f"Events is not JSON: {error}") from None
    events = [value] if isinstance(value, dict) else value
    if not isinstance(events, list) or not all(isinstance(e, dict) for e in events):
        raise InvalidParameter("Events is a JSON array of events (objects), or one event")
    if len(events) > MAX_TEST_EVENTS:
        raise InvalidParameter(f"Events holds at most {MAX_TEST_EVENTS} events")
    return events


def _history(ctx: ActionContext, rule: CompiledRule) -> dict[str, Any]:
    project_name = params.required(ctx.params, "Project").lower()
    table = params.required(ctx.params, "Table")
    if not _TABLE.fullmatch(table):
        raise InvalidParameter(f"Table {table!r} is not a table name (letters, digits, _)")
    today = time.strftime("%Y%m%d", time.gmtime())
    start = ctx.params.get("StartDay") or today
    end = ctx.params.get("EndDay") or today
    for name, day in (("StartDay", start), ("EndDay", end)):
        if not _DAY.fullmatch(day):
            raise InvalidParameter(f"{name} {day!r} is not a day as yyyymmdd")
    if start > end:
        raise InvalidParameter(f"StartDay {start} is after EndDay {end}")
    warehouse = ctx.services.warehouse
    project = warehouse.catalog.get_project(ctx.region, project_name)
    try:
        run = run_history(warehouse.jobs, ctx.caller, project, table, rule, (start, end))
    except HistoryFailed as failed:
        raise OperationFailedDetectionHistory(
            f"the rule's SQL job failed ({failed.code}): {failed.message}"
        ) from None
    return {
        "Matches": [_match(m) for m in run.matches],
        "JobId": run.job_id,
        "EventsRead": run.rows_read,
        "Truncated": run.truncated,
    }


def _rule_id(ctx: ActionContext) -> str:
    rule_id = params.required(ctx.params, "RuleId")
    ctx.resources.append((RULE_RESOURCE, rule_id))
    return rule_id


def _no_rule(ctx: ActionContext, rule_id: str) -> EntityNotExistDetectionRule:
    return EntityNotExistDetectionRule(
        f"account {ctx.caller.account_id} has no detection rule {rule_id} "
        "(ListDetectionRules shows them)"
    )


def _refused(refused: RuleRefused) -> InvalidParameter:
    where = f"RuleYaml line {refused.line}" if refused.line else "RuleYaml"
    return InvalidParameter(f"{where}: {refused.reason}")


def _rule(info: RuleInfo) -> dict[str, Any]:
    return {
        "RuleId": info.rule_id,
        "Title": info.title,
        "Severity": info.level,
        "Kind": info.kind,
        "Enabled": info.enabled,
        "Starter": info.starter,
        "RuleYaml": info.text,
    }


def _match(match: Match) -> dict[str, Any]:
    return {"EventIds": list(match.event_ids), "Group": list(match.group)}


def _finding(finding: Finding) -> dict[str, Any]:
    return {
        "FindingId": finding.finding_id,
        "RuleId": finding.rule_id,
        "Title": finding.title,
        "Severity": finding.severity,
        "EventIds": finding.event_ids,
        "Group": finding.group,
        "CreateTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(finding.created_ms // 1000)),
    }


def _now_ms() -> int:
    return int(time.time() * 1000)
