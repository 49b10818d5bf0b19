"""trailhouse audits itself: every call of its API becomes an event in the caller's account.

Audit events are recorded a moment after the call (batched on a background thread), so auditing
never slows the caller down; `close` records whatever is still queued.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Protocol

import orjson

from trailhouse.api.actions import Action, ActionContext
from trailhouse.errors import ApiError, DiskError
from trailhouse.events.console_calls import console_call_data, console_user_agent
from trailhouse.events.ingest import IngestService
from trailhouse.events.model import EventRecord
from trailhouse.events.validation import format_event_time
from trailhouse.iam.principals import Caller
from trailhouse.runtime import Services

log = logging.getLogger(__name__)

_SENSITIVE = ("secret", "password", "securitytoken", "signature")


def _not_rpc(ctx: ActionContext) -> dict[str, Any]:
    raise NotImplementedError("a REST call is not an RPC action")


class RestCall(Protocol):
    """What the REST edges' calls (`CatalogCall`, `OpenApiCall`) hold that their audit needs."""

    @property
    def services(self) -> Services: ...
    @property
    def caller(self) -> Caller: ...
    @property
    def region(self) -> str: ...
    @property
    def params(self) -> Mapping[str, str]: ...
    @property
    def resources(self) -> list[tuple[str, str]]: ...


class RestOrigin(Protocol):
    """Where a REST call came from, as its audit event records it."""

    @property
    def source_ip(self) -> str: ...
    @property
    def user_agent(self) -> str: ...


@contextmanager
def audited_rest_call(
    audit: AuditWriter,
    call: RestCall,
    action: str,
    request_id: str,
    origin: RestOrigin,
    *,
    api_version: str,
    refusal: Callable[[Exception], ApiError],
    read_only: bool = True,
) -> Iterator[None]:
    """Audit the call run inside the block as a MaxCompute event named `action`, as RPC actions
    are audited: for the REST edges (PyODPS's `/api`, the MaxCompute OpenAPI's `/api/v1`), whose
    calls are not in the action table. The event names the resources the block added to
    `call.resources`; `refusal` turns what the block raised into the error recorded;
    `read_only=False` records an attempted write (eventRW Write), refused or not."""
    ctx = ActionContext(
        services=call.services,
        caller=call.caller,
        action=action,
        params=dict(call.params),
        body=b"",
        content_type="",
        request_id=request_id,
        source_ip=origin.source_ip,
        user_agent=origin.user_agent,
        region=call.region,
        resources=call.resources,  # the same list: what the block touches is recorded
    )
    failure: ApiError | None = None
    try:
        yield
    except Exception as exc:
        failure = refusal(exc)
        raise
    finally:
        rest_action = Action(
            action,
            _not_rpc,
            read_only=read_only,
            service_name="MaxCompute",
            api_version=api_version,
        )
        audit.submit(audit_record(ctx, rest_action, failure))


def audit_record(ctx: ActionContext, action: Action, error: ApiError | None) -> EventRecord:
    """The audit event of one call, ready to append to the caller's log."""
    now = int(time.time())
    identity = ctx.caller.identity()
    resource_types = tuple(dict.fromkeys(kind for kind, _ in ctx.resources))
    resource_names = tuple(dict.fromkeys(name for _, name in ctx.resources))
    event: dict[str, Any] = {
        "eventId": ctx.request_id,
        "eventVersion": "1",
        "eventTime": format_event_time(now),
        "eventSource": f"{action.service_name.lower()}.{ctx.region}.aliyuncs.com",
        "eventName": ctx.action,
        "eventType": "ApiCall",
        "eventRW": "Read" if action.read_only else "Write",
        "eventCategory": "Management",
        "acsRegion": ctx.region,
        "serviceName": action.service_name,
        "apiVersion": action.api_version,
        "requestId": ctx.request_id,
        "sourceIpAddress": ctx.source_ip,
        "userAgent": ctx.user_agent,
        "userIdentity": identity,
        "requestParameters": public_parameters(ctx.params),
        "recipientAccountId": ctx.caller.account_id,
        "isGlobal": False,
    }
    if ctx.via_console:  # as ActionTrail marks its console's calls (events/console_calls.py)
        event["userAgent"] = console_user_agent(action.service_name)
        event["additionalEventData"] = console_call_data(ctx.user_agent)
    if resource_types:
        event["resourceType"] = ";".join(resource_types)
        event["resourceName"] = ";".join(resource_names)
    if error is not None:
        event["errorCode"] = error.code
        event["errorMessage"] = error.message
    return EventRecord(
        account_id=ctx.caller.account_id,
        event_id=ctx.request_id,
        event_time=now,
        event_name=ctx.action,
        service_name=action.service_name,
        event_rw=event["eventRW"],
        user_name=identity.get("userName"),
        access_key_id=ctx.caller.access_key_id,
        resource_types=resource_types,
        resource_names=resource_names,
        body=orjson.dumps(event),
    )


def public_parameters(params: dict[str, str] | Any) -> dict[str, str]:
    """Request parameters with every secret-bearing one left out."""
    return {
        name: value
        for name, value in params.items()
        if not any(word in name.lower() for word in _SENSITIVE)
    }


class AuditWriter:
    """Appends audit events in batches on a background thread."""

    def __init__(self, ingest: IngestService, max_delay: float = 0.05) -> None:
        self._ingest = ingest
        self._max_delay = max_delay
        self._queue: queue.SimpleQueue[EventRecord | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="trailhouse-audit", daemon=True)
        self._thread.start()

    def submit(self, record: EventRecord) -> None:
        """Queue one audit event."""
        self._queue.put(record)

    def close(self) -> None:
        """Record what is queued and stop."""
        self._queue.put(None)
        self._thread.join()

    def _run(self) -> None:
        running = True
        while running:
            first = self._queue.get()
            if first is None:
                break
            batch = [first]
            deadline = time.monotonic() + self._max_delay
            while len(batch) < 1000:
                try:
                    item = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    break
                if item is None:
                    running = False
                    break
                batch.append(item)
            try:
                self._ingest.record(batch)
            except DiskError as exc:  # an operating condition, said in one line
                log.error("could not record %d audit events: %s", len(batch), exc)
            except Exception:  # the caller got its answer; losing audit must be loud
                log.exception("could not record %d audit events", len(batch))
