"""Recorders of PostgreSQL events, kept once each in `recorders` and named by id in each row.

A recorder (`events/recorder.py`) is ~140 bytes of JSON, the same for every event one access key
records, and PostgreSQL compresses nothing that small: as a column of its own it cost ~0.14 GB
per million events. Since schema 7 a row holds the id of its recorder instead
(`events.recorder_id`); rows stored before keep the text in `events.recorder`, and readers take
whichever is set (`RECORDER_OF_ROW`). An id is committed before any row names it.
"""

from __future__ import annotations

import threading

from trailhouse.store.postgres.pool import ConnectionPool

# The recorder of a row of `events`, stored either way.
RECORDER_OF_ROW = (
    "coalesce(recorder, (SELECT r.recorder FROM recorders r WHERE r.id = recorder_id), '')"
)


class RecorderIds:
    """The ids of recorders, inserted when new; cached, since a process sees few of them."""

    def __init__(self, pool: ConnectionPool) -> None:
        self._pool = pool
        self._lock = threading.Lock()
        self._ids: dict[str, int] = {}

    def ids(self, recorders: list[str]) -> list[int | None]:
        """The id of each recorder ("" → None: unknown), inserting the ones not stored yet."""
        with self._lock:
            missing = {r for r in recorders if r and r not in self._ids}
        if missing:
            wanted = sorted(missing)
            with self._pool.connection() as conn:
                conn.execute(
                    "INSERT INTO recorders (recorder) SELECT unnest(%s::TEXT[]) "
                    "ON CONFLICT DO NOTHING",
                    (wanted,),
                )
                rows = conn.execute(
                    "SELECT recorder, id FROM recorders WHERE recorder = ANY(%s::TEXT[])",
                    (wanted,),
                ).fetchall()
            with self._lock:
                self._ids.update((str(r), int(i)) for r, i in rows)
        with self._lock:
            return [self._ids[r] if r else None for r in recorders]
