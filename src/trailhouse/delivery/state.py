"""What a trail's delivery has done so far: the `delivery-state` document.

It holds the live checkpoint, counts, the latest delivery and error, lag figures, the
delivered-up-to watermark, the log ranges the trail has covered (live sessions and history
jobs), which is how a history job knows what not to deliver twice, and the ranges of its
sessions that live delivery still owes.

Live delivery walks the trail's sessions in log order: the one the checkpoint is in (up to
`session_end` once it ended), then each range of `owed`. StartLogging on a stopped trail whose
last session is not delivered yet appends the new session to `owed` instead of moving the
checkpoint, so what was accepted while the trail logged is delivered whatever follows; the
stretch between two sessions (accepted while the trail was stopped) is passed over, and left
uncovered for a history job.
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
    # Where the checkpoint's session ended (StopLogging): what was accepted up to here is
    # delivered. 0 while that session still logs (or when it ended on an empty log).
    session_end: int = 0
    # Later sessions' ranges (after, upto] that live delivery still owes once the checkpoint's
    # session is delivered, in log order; the last one's upto is OPEN while it still logs.
    owed: tuple[tuple[int, int], ...] = ()

    @classmethod
    def initial(cls, trail: Trail) -> DeliveryState:
        """The state of a trail that has delivered nothing yet."""
        return cls(trail.account_id, trail.name, 0, 0, 0, "", 0, 0, 0, 0, 0)


def read_state(metadata: MetadataStore, trail: Trail) -> tuple[DeliveryState, int]:
    """A trail's delivery state and its document version (initial, 0 when it has none)."""
    state, version = read(metadata, DeliveryState, DELIVERY_KIND, trail.account_id, trail.name)
    return (state or DeliveryState.initial(trail)), version


OPEN = 0
"""The end of an owed session that still logs (an ended, empty session is never owed)."""


def session_writes(
    metadata: MetadataStore, events: EventLog, before: Trail, after: Trail
) -> list[DocumentWrite]:
    """The delivery-state change of StartLogging or StopLogging (`before` → `after`), to commit
    in the same transaction as the trail: none unless the trail starts or stops logging."""
    if before.is_logging == after.is_logging:
        return []
    state, version = read_state(metadata, after)
    if after.is_logging:
        changed = _begun(state, events.last_seq(), after)
    else:
        changed = _ended(state, events.last_seq())
    return [state_write(changed, version)]


def begin_session(metadata: MetadataStore, events: EventLog, trail: Trail) -> DeliveryState:
    """Begin the session of a logging trail whose state has none (a store written before
    StartLogging began sessions with the trail's commit): the engine calls it on meeting one."""

    def attempt() -> DeliveryState:
        state, version = read_state(metadata, trail)
        if state.session_started == trail.start_logging_time:
            return state
        began = _begun(state, events.last_seq(), trail)
        metadata.commit([state_write(began, version)])
        return began

    return retry_on_conflict(attempt, what=f"the delivery state of trail {trail.name}")


def _begun(state: DeliveryState, last_seq: int, trail: Trail) -> DeliveryState:
    """A session begun at the log's end: a trail records events from when it is started.

    Events of the time the trail was stopped, or from before it existed, are left to a delivery
    history job. What earlier sessions accepted and live delivery has not delivered yet stays
    owed, ahead of the new session."""
    start = max(last_seq, state.checkpoint_seq, *(after for after, _ in state.owed))
    covered = _merge((*state.covered, (start, start)))
    if state.session_end > state.checkpoint_seq or state.owed:
        return replace(
            state,
            owed=(*state.owed, (start, OPEN)),
            covered=covered,
            session_started=trail.start_logging_time,
        )
    return replace(
        state,
        checkpoint_seq=start,
        session_end=0,
        owed=(),
        covered=covered,
        session_started=trail.start_logging_time,
    )


def _ended(state: DeliveryState, last_seq: int) -> DeliveryState:
    """The running session ended at the log's end: what it accepted is still delivered."""
    if not state.owed:
        return replace(state, session_end=max(last_seq, state.checkpoint_seq))
    after, _ = state.owed[-1]
    end = max(last_seq, after)
    last = ((after, end),) if end > after else ()  # a session that accepted nothing owes nothing
    return replace(state, owed=(*state.owed[:-1], *last))


def owes(state: DeliveryState, logging: bool) -> bool:
    """True when live delivery has something to go through (the trail logs, or a session it
    logged is not delivered yet)."""
    return logging or state.session_end > state.checkpoint_seq or bool(state.owed)


def live_end(state: DeliveryState, logging: bool) -> int | None:
    """Where the checkpoint's session ends: None while it still logs (up to the log's end)."""
    if logging and not state.owed:
        return None
    return state.session_end


def live_ranges(state: DeliveryState, logging: bool) -> tuple[tuple[int, int | None], ...]:
    """The log ranges (after, upto] live delivery still goes through, in order: the rest of the
    checkpoint's session, then each owed one; upto None runs to the log's end."""
    ranges = [(state.checkpoint_seq, live_end(state, logging))]
    ranges += [(after, None if upto == OPEN else upto) for after, upto in state.owed]
    return tuple((after, upto) for after, upto in ranges if upto is None or upto > after)


def next_session(state: DeliveryState) -> DeliveryState | None:
    """Once the checkpoint's ended session is delivered, the state that goes on with the next
    owed one: the stretch between them (accepted while the trail was stopped) is passed over
    and not covered, so a history job still fills it. None when there is no such step."""
    if not state.owed or state.checkpoint_seq < state.session_end:
        return None
    (after, upto), rest = state.owed[0], state.owed[1:]
    return replace(state, checkpoint_seq=after, session_end=upto, owed=rest)


def history_skips(state: DeliveryState) -> tuple[tuple[int, int], ...]:
    """The ranges (after, upto] a history job must not deliver: the covered ones, and those of
    ended sessions that live delivery still owes (an open session lies past every job's end,
    see `HistoryJobService._history_end`)."""
    live = [(state.checkpoint_seq, state.session_end)]
    live += [(after, upto) for after, upto in state.owed if upto != OPEN]
    return _merge((*state.covered, *((a, u) for a, u in live if u > a)))


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
