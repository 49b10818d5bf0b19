"""What a trail's delivery has done so far: the `delivery-state` document.

It holds the live checkpoint, counts, the latest delivery and error, lag figures, the
delivered-up-to watermark, and the log ranges the trail has covered (live sessions and history
jobs), which is how a history job knows what not to deliver twice.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from trailhouse.retry import retry_on_conflict
from trailhouse.store.documents import encode, read
from trailhouse.store.ports import DocumentWrite, EventLog, MetadataStore
from trailhouse.trails.model import Trail

DELIVERY_KIND = "delivery-state"


@dataclass(frozen=True, slots=True)
class DeliveryState:
    """How far a trail's delivery has got, kept with every commit (`delivery-state` document).

    `watermark_ms`: every event whose PutEvents call returned before it is in the table.
    """

    account_id: str
    trail_name: str
    checkpoint_seq: int
    delivered_events: int
    latest_delivery_time: int
    latest_error: str
    error_time: int
    watermark_ms: int
    lag_p50_ms: int
    lag_p99_ms: int
    lag_max_ms: int
    table: str = ""
    lost_events: int = 0
    # Log ranges (after, upto] this trail has covered, live or by history jobs; the last one
    # grows with the live checkpoint. A history job fills only what lies outside them.
    covered: tuple[tuple[int, int], ...] = ()
    session_started: int = 0
    # Where the last session ended (StopLogging): what was accepted up to here is delivered.
    session_end: int = 0

    @classmethod
    def initial(cls, trail: Trail) -> DeliveryState:
        """The state of a trail that has delivered nothing yet."""
        return cls(trail.account_id, trail.name, 0, 0, 0, "", 0, 0, 0, 0, 0)


def read_state(metadata: MetadataStore, trail: Trail) -> tuple[DeliveryState, int]:
    """A trail's delivery state and its document version (initial, 0 when it has none)."""
    state, version = read(metadata, DeliveryState, DELIVERY_KIND, trail.account_id, trail.name)
    return (state or DeliveryState.initial(trail)), version


def begin_session(metadata: MetadataStore, events: EventLog, trail: Trail) -> DeliveryState:
    """Start delivering from the log's end: a trail records events from when it is started.

    Called by StartLogging (and by the engine, should it meet a session nobody began). Events
    of the time the trail was stopped, or from before it existed, are left to a delivery
    history job.
    """

    def attempt() -> DeliveryState:
        state, version = read_state(metadata, trail)
        if state.session_started == trail.start_logging_time and not state.session_end:
            # This session already began (StartLogging again, or the engine after it). A
            # session that ended (StopLogging, then StartLogging within the same second, so
            # with the same start time) is over: a new one begins. An end at seq 0 (stopped
            # on an empty log) cannot be told from an open session; nothing precedes it.
            return state
        start = max(events.last_seq(), state.checkpoint_seq)
        began = replace(
            state,
            session_end=0,
            checkpoint_seq=start,
            covered=_merge((*state.covered, (start, start))),
            session_started=trail.start_logging_time,
        )
        metadata.commit([state_write(began, version)])
        return began

    return retry_on_conflict(attempt, what=f"the delivery state of trail {trail.name}")


def end_session(metadata: MetadataStore, events: EventLog, trail: Trail) -> DeliveryState:
    """StopLogging: the session ends at the log's end; what was accepted before is delivered."""

    def attempt() -> DeliveryState:
        state, version = read_state(metadata, trail)
        ended = replace(state, session_end=max(events.last_seq(), state.checkpoint_seq))
        metadata.commit([state_write(ended, version)])
        return ended

    return retry_on_conflict(attempt, what=f"the delivery state of trail {trail.name}")


def skip_covered(cursor: int, covered: tuple[tuple[int, int], ...]) -> int:
    """The cursor moved past any covered range it is in (or at the start of)."""
    for after, upto in covered:
        if after <= cursor < upto:
            cursor = upto
    return cursor


def state_write(state: DeliveryState, version: int) -> DocumentWrite:
    """The document write that stores a trail's delivery state over `version`."""
    return DocumentWrite(DELIVERY_KIND, state.account_id, state.trail_name, encode(state), version)


def _merge(ranges: Iterable[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    """Ranges (after, upto] sorted, with touching or overlapping ones joined."""
    merged: list[tuple[int, int]] = []
    for after, upto in sorted(ranges):
        if merged and after <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], upto))
        else:
            merged.append((after, upto))
    return tuple(merged)


def extend_coverage(state: DeliveryState, after: int, upto: int) -> tuple[tuple[int, int], ...]:
    """The state's covered ranges with (after, upto] added."""
    return _merge((*state.covered, (after, upto)))


def is_covered(covered: tuple[tuple[int, int], ...], seq: int) -> bool:
    """True when `seq` lies in one of the ranges."""
    return any(after < seq <= upto for after, upto in covered)
