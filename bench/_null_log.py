"""An event log that stores nothing: the HTTP + parse ceiling's stand-in for the real store."""

from __future__ import annotations

from collections.abc import Sequence

from trailhouse.events.model import EventRecord, LoggedEvent, LookupPage, LookupQuery
from trailhouse.store.ports import EventLog, LogStats


class NullEventLog(EventLog):
    """Accepts every event at once and keeps none of them (counts only)."""

    def __init__(self) -> None:
        self._appended = 0

    def append(self, records: Sequence[EventRecord]) -> list[bool]:
        """Every record is 'stored'; nothing is written."""
        # A plain int add under the GIL: a lost update would only skew the status count.
        self._appended += len(records)
        return [True] * len(records)

    def recorders(self, records: Sequence[EventRecord]) -> list[str | None]:
        """Nothing was kept, so nothing is a duplicate."""
        return [None] * len(records)

    def read_after(self, seq: int, limit: int) -> list[LoggedEvent]:
        """Nothing was kept."""
        return []

    def last_seq(self) -> int:
        """As many as were appended."""
        return self._appended

    def lookup(self, query: LookupQuery) -> LookupPage:
        """Nothing matches."""
        return LookupPage(events=[], next_position=None)

    def catch_up(self, timeout: float = 10.0) -> bool:
        """Always caught up."""
        return True

    def purge(self, older_than: int) -> int:
        """Nothing to purge."""
        return 0

    def stats(self) -> LogStats:
        """The count appended; no bytes."""
        return LogStats(self._appended, self._appended, self._appended, 0)

    def close(self) -> None:
        """Nothing to release."""
