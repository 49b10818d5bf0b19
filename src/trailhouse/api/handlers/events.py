"""PutEvents (trailhouse's ingest action) and LookupEvents (ActionTrail's history search)."""

from __future__ import annotations

import time
from typing import Any

import msgspec
import orjson

from trailhouse.api import params
from trailhouse.api.actions import ActionContext
from trailhouse.errors import (
    InvalidParameter,
    InvalidParameterTooDeep,
    MalformedBody,
    MalformedBodyTooDeep,
)
from trailhouse.events.fast_path import Batch
from trailhouse.events.lookup import (
    DEFAULT_MAX_RESULTS,
    MAX_RESULTS_LIMIT,
    InvalidLookup,
    LookupRequest,
)
from trailhouse.events.model import Direction, LookupKey
from trailhouse.events.validation import format_event_time
from trailhouse.jsonlimits import MAX_DOCUMENT_DEPTH, MAX_EVENT_DEPTH, nests_deeper_than
from trailhouse.metrics import EVENTS_ACCEPTED, EVENTS_REFUSED


def put_events(ctx: ActionContext) -> dict[str, Any]:
    """Validate and durably record a batch of events; bad ones are reported by index."""
    events = _events_from(ctx)
    limit = ctx.services.settings.max_events_per_call
    if len(events) > limit:
        raise InvalidParameter(
            f"PutEvents takes at most {limit} events per call, not {len(events)}; split the batch"
        )
    result = ctx.services.ingest.put_events(ctx.caller, events)
    counters = ctx.services.counters
    counters.add(EVENTS_ACCEPTED, result.accepted)
    for failed in result.failed:
        counters.add(EVENTS_REFUSED, code=failed.code)
    return {
        "Accepted": result.accepted,
        "Failed": [
            {"Index": failed.index, "Code": failed.code, "Message": failed.message}
            for failed in result.failed
        ],
    }


def lookup_events(ctx: ActionContext) -> dict[str, Any]:
    """One page of the caller's account history (reference §1.4)."""
    request = LookupRequest(
        account_id=ctx.caller.account_id,
        start=params.optional_timestamp(ctx.params, "StartTime"),
        end=params.optional_timestamp(ctx.params, "EndTime"),
        direction=Direction(
            params.choice(ctx.params, "Direction", "BACKWARD", ("BACKWARD", "FORWARD"))
        ),
        conditions=_conditions(ctx),
        max_results=params.integer(
            ctx.params, "MaxResults", DEFAULT_MAX_RESULTS, 1, MAX_RESULTS_LIMIT
        ),
        next_token=ctx.params.get("NextToken") or None,
        region=ctx.region,
        global_region=ctx.services.trails.global_events.region_of(ctx.caller.account_id),
        # trailhouse's extension (docs/api.md): leave out the web console's own reads
        hide_console_reads=params.boolean(ctx.params, "HideConsoleReads", False),
    )
    try:
        result = ctx.services.lookup.lookup(request, now=int(time.time()))
    except InvalidLookup as invalid:
        raise InvalidParameter(str(invalid)) from None
    response: dict[str, Any] = {
        "StartTime": format_event_time(result.start),
        "EndTime": format_event_time(result.end),
        "Events": [orjson.Fragment(body) for body in result.bodies],
    }
    if result.next_token:
        response["NextToken"] = result.next_token
    if request.hide_console_reads:
        response["HiddenConsoleReads"] = result.hidden
    return response


_KEYS = {key.value: key for key in LookupKey}


def _conditions(ctx: ActionContext) -> tuple[tuple[LookupKey, str], ...]:
    conditions = []
    for number, attribute in enumerate(params.indexed_list(ctx.params, "LookupAttribute"), 1):
        name, value = attribute.get("Key"), attribute.get("Value")
        if name not in _KEYS:
            raise InvalidParameter(
                f"LookupAttribute.{number}.Key {name!r} must be one of {', '.join(_KEYS)}"
            )
        if not value:
            raise InvalidParameter(f"LookupAttribute.{number}.Value is required for Key {name}")
        if _KEYS[name] is LookupKey.EVENT_RW and value not in {"Read", "Write"}:
            raise InvalidParameter(
                f"LookupAttribute.{number}.Value for EventRW must be Read or Write"
            )
        if _KEYS[name] is LookupKey.SENSITIVE_ACTION and value not in {"true", "false"}:
            raise InvalidParameter(
                f"LookupAttribute.{number}.Value for SensitiveAction must be true or false"
            )
        conditions.append((_KEYS[name], value))
    return tuple(conditions)


def _events_from(ctx: ActionContext) -> list[bytes]:
    """Each event's raw JSON: from a JSON body, or a form/query field holding the JSON array,
    or the SDK's flattened form fields."""
    is_json = "json" in ctx.content_type or ctx.body.lstrip()[:1] == b"{"
    if ctx.body and is_json:
        try:
            raws = [bytes(raw) for raw in _decode_batch(ctx.body).Events]
        except msgspec.ValidationError as exc:
            raise MalformedBody(_batch_problem(str(exc), ctx.body)) from None
        except msgspec.DecodeError as exc:
            raise MalformedBody(f"the request body is not valid JSON: {exc}") from None
        except RecursionError:  # msgspec stops near 1,000 levels: far past the limit
            raise _body_too_deep() from None
        # {"Events": [...]} adds two levels to each event's own; most events are counted in C.
        if any(nests_deeper_than(raw, MAX_DOCUMENT_DEPTH - 2) for raw in raws):
            raise _body_too_deep()
        return raws
    if "Events" in ctx.params:
        if nests_deeper_than(ctx.params["Events"], MAX_DOCUMENT_DEPTH):
            raise InvalidParameterTooDeep(
                f"the Events parameter nests arrays and objects more than {MAX_DOCUMENT_DEPTH} "
                "levels deep; no event was stored"
            )
        try:
            events = orjson.loads(ctx.params["Events"])
        except orjson.JSONDecodeError as exc:
            raise MalformedBody(f"the Events parameter is not valid JSON: {exc}") from None
    else:
        events = params.unflatten(ctx.params, "Events")
        if events is not None:
            events = [_typed_form_event(event) for event in events]
    if events is None:
        raise MalformedBody(_batch_problem("Object missing required field `Events`"))
    if not isinstance(events, list):
        raise MalformedBody("Events must be a JSON array of event objects")
    return [orjson.dumps(event) for event in events]


_decode_batch = msgspec.json.Decoder(Batch).decode


def _body_too_deep() -> MalformedBodyTooDeep:
    return MalformedBodyTooDeep(
        f"the request body nests arrays and objects more than {MAX_DOCUMENT_DEPTH} levels deep "
        f"(an event may nest at most {MAX_EVENT_DEPTH}); no event was stored"
    )


def _batch_problem(detail: str, body: bytes = b"") -> str:
    if body.lstrip()[:1] == b"[":
        return (
            'the body is a JSON array; PutEvents needs a JSON object {"Events": [...]} whose '
            "Events is the JSON array of event objects"
        )
    if "missing required field" in detail:
        return (
            'PutEvents needs a JSON body {"Events": [...]}, a form field Events holding the JSON '
            "array, or the SDK's flattened form fields Events.N.…"
        )
    return "Events must be a JSON array of event objects"


# Form fields carry only strings; these event fields are booleans in the schema.
_FORM_BOOLEANS = ("isGlobal",)


def _typed_form_event(event: Any) -> Any:
    """Restore the boolean fields of an event rebuilt from flattened form fields."""
    if isinstance(event, dict):
        for name in _FORM_BOOLEANS:
            value = event.get(name)
            if isinstance(value, str) and value.lower() in {"true", "false"}:
                event[name] = value.lower() == "true"
    return event
