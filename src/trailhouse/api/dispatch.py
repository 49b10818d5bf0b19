"""From a signed HTTP request to an action's answer: authenticate, authorize, run, audit.

The order is fixed: the signature and its time are checked first, against the key as the store
holds it now (keys are never cached, so a key deleted by any process is refused at once), then
the key's status (a disabled key is refused, to whoever holds its secret), then the nonce (so a
replayed request is refused even when it is otherwise valid), then the action is found and run.
Calls that pass authentication are audited in the caller's account, failed ones with their error
code.

The web console authenticates its users itself (a session signed in with an AccessKey pair) and
runs actions through `run_as`: the same authorisation, handler and audit as a signed call, so the
console can never see or do more than the API allows the same key.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from trailhouse.api.actions import Action, ActionContext
from trailhouse.api.audit import AuditWriter, audit_record
from trailhouse.api.failures import unexpected
from trailhouse.errors import (
    ApiError,
    DiskError,
    DiskFailed,
    DiskFailedUnavailable,
    DiskFull,
    DiskFullUnavailable,
    InternalError,
    InvalidActionNotFound,
    InvalidRegionException,
    NoPermission,
    SignatureNonceUsed,
)
from trailhouse.iam.permissions import require
from trailhouse.iam.principals import Caller, PrincipalKind
from trailhouse.iam.signatures import SignedRequest, verify_request
from trailhouse.metrics import API_REQUESTS
from trailhouse.runtime import Services

log = logging.getLogger(__name__)

SERVICE_KEY_ACTIONS = frozenset({"PutEvents"})


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a request came from (for its audit event) and which port it reached (its region);
    `console` for a call the web console made for its signed-in user."""

    source_ip: str
    user_agent: str
    port: int | None = None
    console: bool = False


@dataclass(frozen=True, slots=True)
class Call:
    """One call of an action, whoever authenticated it: its parameters and raw body."""

    action: str
    params: Mapping[str, str]
    body: bytes = b""
    content_type: str = ""


class Dispatcher:
    """Runs RPC actions for verified callers."""

    def __init__(
        self, services: Services, actions: Mapping[str, Action], audit: AuditWriter
    ) -> None:
        self._services = services
        self._actions = actions
        self._audit = audit

    def dispatch(self, request: SignedRequest, request_id: str, origin: Origin) -> dict[str, Any]:
        """Authenticate `request`, run its action and return the response fields."""
        try:
            caller, call = self._authenticated(request)
        except (ApiError, DiskError) as exc:  # counted here: the action never ran
            error = api_error(exc, "the call")
            self._services.counters.add(API_REQUESTS, action="", code=error.code)
            raise error from exc
        return self.run_as(caller, call, request_id, origin)

    def _authenticated(self, request: SignedRequest) -> tuple[Caller, Call]:
        """The caller a signed request comes from and the call it makes, or the API error."""
        settings = self._services.settings
        key = self._services.accounts.request_key()  # read once, as the store holds it now
        verified = verify_request(
            request,
            key.secret_of,
            now=time.time(),
            max_skew_seconds=settings.clock_skew_seconds,
        )
        caller = key.caller(verified.access_key_id)  # a disabled key is refused here
        if not self._services.nonces.claim(verified.access_key_id, verified.nonce):
            raise SignatureNonceUsed(
                f"the signature nonce {verified.nonce} was already used; sign every request with "
                "a fresh SignatureNonce"
            )
        call = Call(
            action=verified.action,
            params=verified.params,
            body=verified.body,  # only what the signature covers is acted on
            content_type=request.headers.get("content-type", ""),
        )
        return caller, call

    def run_as(self, caller: Caller, call: Call, request_id: str, origin: Origin) -> dict[str, Any]:
        """Run `call` for a caller someone already authenticated (the console's session).

        Everything after authentication is shared with signed calls: the action must exist,
        the caller must be allowed it, and the call is audited in the caller's account.
        """
        action = self._actions.get(call.action)
        if action is None:
            raise InvalidActionNotFound(unknown_action_message(call.action))
        if caller.is_service and action.name not in SERVICE_KEY_ACTIONS:
            raise NoPermission(
                f"service key {caller.access_key_id} may only call PutEvents, not {action.name}"
            )
        ctx = ActionContext(
            services=self._services,
            caller=caller,
            action=action.name,
            params=call.params,
            body=call.body,
            content_type=call.content_type,
            request_id=request_id,
            source_ip=origin.source_ip,
            user_agent=origin.user_agent,
            region=self._services.regions.for_port(origin.port),
            via_console=origin.console,
        )
        counters = self._services.counters
        try:
            ctx = self._authorised(action, ctx)
            limiter = self._services.read_limiters.get(action.name)
            if limiter is not None:
                limiter.acquire(caller.account_id)
            result = action.handler(ctx)
        except ApiError as error:
            counters.add(API_REQUESTS, action=action.name, code=error.code)
            self._audited(action, ctx, error)
            raise
        except Exception as exc:
            failure = api_error(exc, action.name)
            if isinstance(failure, InternalError):  # not a refusal: a bug, logged and counted
                failure = unexpected(counters, "api", request_id, f"running {action.name}")
            counters.add(API_REQUESTS, action=action.name, code=failure.code)
            self._audited(action, ctx, failure)
            raise failure from exc
        counters.add(API_REQUESTS, action=action.name, code="OK")
        self._audited(action, ctx, None)
        return result

    def _authorised(self, action: Action, ctx: ActionContext) -> ActionContext:
        """The context with the region the call names; NoPermission for a RAM user without
        the action's permission (or any non-root key for a root-only action)."""
        requested = ctx.params.get("RegionId")
        if requested:
            if requested not in self._services.regions:
                raise InvalidRegionException(
                    f"RegionId {requested!r} is not one of "
                    f"{', '.join(self._services.regions.ids())}"
                )
            ctx = replace(ctx, region=requested)
        if action.root_only and ctx.caller.kind != PrincipalKind.ROOT:
            who = (
                f"the owner of account {ctx.caller.account_id} must call it with the account's "
                "root AccessKey"
                if ctx.caller.account_id
                else "an account's root AccessKey must call it"
            )
            raise NoPermission(
                f"{action.name} needs the account's root key; {ctx.caller.kind} "
                f"{ctx.caller.name} may not call it, and no policy can allow it: {who}"
            )
        # A service key holds no policies: the actions it may call are SERVICE_KEY_ACTIONS.
        if action.permission and not ctx.caller.is_service:
            require(ctx.caller, action.permission, self._services.roles)
        return ctx

    def _audited(self, action: Action, ctx: ActionContext, error: ApiError | None) -> None:
        if action.audited and not ctx.caller.is_service:
            self._audit.submit(audit_record(ctx, action, error))


def unknown_action_message(action: str) -> str:
    """ActionTrail's own answer to an action it does not have, naming the action sent."""
    shown = action if len(action) <= 64 else action[:61] + "..."
    return (
        "Specified api is not found, please check your url and method. "
        f"(there is no action {shown!r}; the Action parameter is case-sensitive)"
    )


def api_error(exc: Exception, action: str) -> ApiError:
    """The API error a failure while running `action` is answered with: itself for an ApiError,
    a 503 with its own code when the disk refused a write, InternalError for anything else."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, DiskFull):
        log.warning("%s refused, the disk is full: %s", action, exc)
        return DiskFullUnavailable(
            f"the disk holding the server's data directory is full, so {action} was refused and "
            "nothing of it was stored; reads keep working. Retry once space is freed"
        )
    if isinstance(exc, DiskFailed):
        log.warning("%s refused, the storage failed: %s", action, exc)
        return DiskFailedUnavailable(
            f"the storage of the server's data directory failed (I/O error), so {action} was "
            "refused and nothing of it was stored. Retry later; the server's log says more"
        )
    return InternalError(f"internal error while running {action}")
