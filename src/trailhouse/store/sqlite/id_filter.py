"""Which event ids a day file may hold: a Bloom filter per busy day, so that the writer's
duplicate check asks SQLite only about the few ids it cannot rule out.

Every PutEvents event is checked against the day file of its event time before it is logged
(`writer.py`): a retry of an indexed event must not be stored twice. With millions of events in
today's file, that check cost ~4-5 µs of CPU an event in SQLite (two b-tree probes an id,
measured on a day of 3M events), on the writer's path to every acknowledgement, while nearly
every id asked about is new. A filter rules out nearly all of them in ~0.25 µs of Python.

A filter may say "maybe" of an id the file does not hold (then SQLite is asked, as before), but
never "no" of one it does. That holds because a day's filter only ever gains bits:
- it is built from the day file itself (`DayWriter.id_filter`, in the index process in a
  server), by the indexer thread, through the same channel and under the same lock as every
  insert, so it holds everything indexed before it;
- every record indexed after that is added to it before it is sent to the day file, and the
  writer looks in the pending keys (not yet indexed) before the filter.
Purges only take ids away, which leaves a filter stale in the safe direction.

A filter is built only for a day the writer keeps asking about (`WANT_AFTER` checks, today's
under live traffic within a second), and at most `KEPT_DAYS` are kept, `FILTER_BYTES` each:
a backfill of an old day asks SQLite, as before.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable

# 2^26 bits, two of them an id: at 3M ids in a day, 0.7% of new ids still go to SQLite; at 10M,
# 6.7% (the false-positive rate (1 - e^(-2n/m))^2).
FILTER_BITS = 1 << 26
FILTER_BYTES = FILTER_BITS // 8
_MASK = FILTER_BITS - 1
_MIX = 0x9E37_79B1  # Knuth's multiplicative hash: the second bit from the same 32-bit hash
KEPT_DAYS = 3
WANT_AFTER = 50


def _bits(id_hash: int) -> tuple[int, int]:
    """The two bit positions of an id's hash (`days.id_hash`, a signed 32-bit int)."""
    unsigned = id_hash & 0xFFFF_FFFF
    return unsigned & _MASK, (unsigned * _MIX >> 7) & _MASK


class IdFilter:
    """A Bloom filter of one day file's id hashes."""

    def __init__(self, data: bytes | None = None) -> None:
        if data is not None and len(data) != FILTER_BYTES:
            raise ValueError(f"an id filter is {FILTER_BYTES} bytes, not {len(data)}")
        self._bits = bytearray(data) if data is not None else bytearray(FILTER_BYTES)

    @classmethod
    def of(cls, id_hashes: Iterable[int]) -> IdFilter:
        """The filter holding `id_hashes`."""
        built = cls()
        built.add(id_hashes)
        return built

    def add(self, id_hashes: Iterable[int]) -> None:
        """Remember `id_hashes`."""
        bits = self._bits
        for id_hash in id_hashes:
            first, second = _bits(id_hash)
            bits[first >> 3] |= 1 << (first & 7)
            bits[second >> 3] |= 1 << (second & 7)

    def may_hold(self, id_hash: int) -> bool:
        """False only when no id with this hash was added."""
        bits = self._bits
        first, second = _bits(id_hash)
        return bool(bits[first >> 3] >> (first & 7) & 1 and bits[second >> 3] >> (second & 7) & 1)

    def to_bytes(self) -> bytes:
        """The filter as `IdFilter(data)` takes it back."""
        return bytes(self._bits)


class DayIdFilters:
    """The filters of the busiest days, shared by the writer (reads them, says which days it
    wants) and the indexer (builds them, adds every id it indexes)."""

    def __init__(self, kept_days: int = KEPT_DAYS, want_after: int = WANT_AFTER) -> None:
        self._kept_days = kept_days
        self._want_after = want_after
        self._filters: OrderedDict[int, IdFilter] = OrderedDict()
        self._asked: dict[int, int] = {}  # checks of days with no filter, since last built
        self._lock = threading.Lock()

    def get(self, day: int) -> IdFilter | None:
        """`day`'s filter, or None (and `day` counted as asked about: see `wanted`)."""
        with self._lock:
            found = self._filters.get(day)
            if found is not None:
                self._filters.move_to_end(day)
            else:
                self._asked[day] = self._asked.get(day, 0) + 1
            return found

    def wanted(self) -> list[int]:
        """The days asked about `want_after` times with no filter: the indexer builds theirs."""
        with self._lock:
            return [day for day, asked in self._asked.items() if asked >= self._want_after]

    def install(self, day: int, built: IdFilter) -> None:
        """Keep `built` as `day`'s filter; it holds everything indexed into `day` so far. The
        day used least recently goes beyond `kept_days`."""
        with self._lock:
            self._filters[day] = built
            self._filters.move_to_end(day)
            self._asked.pop(day, None)
            while len(self._filters) > self._kept_days:
                evicted, _ = self._filters.popitem(last=False)
                self._asked.pop(evicted, None)

    def indexing(self, day: int, id_hashes: Iterable[int]) -> None:
        """Told by the indexer before it sends events to `day`'s file: their id hashes (read
        only when the day has a filter)."""
        with self._lock:
            found = self._filters.get(day)
        if found is not None:
            found.add(id_hashes)

    def forget(self, day: int) -> None:
        """Drop `day`'s filter (its file is deleted)."""
        with self._lock:
            self._filters.pop(day, None)
            self._asked.pop(day, None)
