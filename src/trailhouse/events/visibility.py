"""Which recorded events LookupEvents shows: never data events (eventCategory `Data`, delivered
only by trails whose data event selector asks for them) nor insight events (eventCategory
`Insight`, shown by LookupInsightEvents), and global events (isGlobal) only in
the account's global events storage region.

A page is filled from further index pages when events were left out, so a page holds
MaxResults events whenever that many match (within a bounded scan).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import orjson

from trailhouse.events.model import LoggedEvent, LookupPage, LookupPosition, LookupQuery
from trailhouse.store.ports import EventLog

DATA_CATEGORY = "Data"
INSIGHT_CATEGORY = "Insight"
# Index pages read to fill one answer before handing back a token to go on from.
_MAX_ROUNDS = 20


def is_data_event(body: dict[str, object]) -> bool:
    """True for a data event (a read or write of a data object, such as an OSS object)."""
    return body.get("eventCategory") == DATA_CATEGORY


def shown_in(region: str | None, global_region: str | None) -> Callable[[LoggedEvent], bool]:
    """Whether LookupEvents in `region` shows an event (global events only in `global_region`;
    with no region, every global event)."""

    def shows(event: LoggedEvent) -> bool:
        if (
            b'"Data"' not in event.body
            and b"isGlobal" not in event.body
            and b'"Insight"' not in event.body
        ):
            return True  # neither a data, insight nor global event: most, decided unparsed
        body = orjson.loads(event.body)
        if is_data_event(body) or body.get("eventCategory") == INSIGHT_CATEGORY:
            return False
        return not (body.get("isGlobal") is True and region is not None and region != global_region)

    return shows


def visible_page(
    log: EventLog, query: LookupQuery, shows: Callable[[LoggedEvent], bool]
) -> LookupPage:
    """One page of `query` holding only the events `shows`, with where to continue."""
    kept: list[LoggedEvent] = []
    current = query
    for _ in range(_MAX_ROUNDS):
        page = log.lookup(current)
        for index, event in enumerate(page.events):
            if not shows(event):
                continue
            kept.append(event)
            if len(kept) == query.limit:
                more = index < len(page.events) - 1 or page.next_position is not None
                position = LookupPosition(event.event_time, event.seq) if more else None
                return LookupPage(kept, position)
        if page.next_position is None:
            return LookupPage(kept, None)
        current = replace(current, after=page.next_position)
    return LookupPage(kept, current.after)
