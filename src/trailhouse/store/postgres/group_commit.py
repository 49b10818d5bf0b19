"""Group commit for the PostgreSQL event log: concurrent appends of one process share a commit.

Every commit pays a WAL flush and a round trip. Here the appends that arrive while one is
committing wait for it, then go together in the next transaction: one INSERT, one WAL flush
for all of them. (Appends of different processes do not wait for each other: `horizon.py`.)
There is no timer: a lone append commits at once; under load the groups grow by themselves.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from trailhouse.events.model import EventRecord

AppendAll = Callable[[list[EventRecord]], list[bool]]


@dataclass(eq=False, slots=True)
class _Append:
    """One caller's records, and what became of them once its group committed."""

    records: Sequence[EventRecord]
    stored: list[bool] = field(default_factory=list)
    error: BaseException | None = None
    finished: bool = False


class GroupCommit:
    """Runs `append_all` over the appends waiting at that moment; one group at a time."""

    def __init__(self, append_all: AppendAll) -> None:
        self._append_all = append_all
        self._changed = threading.Condition()
        self._waiting: list[_Append] = []
        self._committing = False

    def append(self, records: Sequence[EventRecord]) -> list[bool]:
        """Append `records` in the next group; True for each stored, False for a duplicate."""
        mine = _Append(records)
        with self._changed:
            self._waiting.append(mine)
            while self._committing and not mine.finished:
                self._changed.wait()
            if mine.finished:  # another caller's group took these records along
                return _outcome(mine)
            self._committing = True
            group, self._waiting = self._waiting, []
        try:
            stored = self._append_all([r for a in group for r in a.records])
        except BaseException as exc:  # every caller of the group sees the failure
            for each in group:
                each.error = exc
        else:
            start = 0
            for each in group:
                each.stored = stored[start : start + len(each.records)]
                start += len(each.records)
        with self._changed:
            for each in group:
                each.finished = True
            self._committing = False
            self._changed.notify_all()
        return _outcome(mine)


def _outcome(append: _Append) -> list[bool]:
    if append.error is not None:
        raise append.error
    return append.stored
