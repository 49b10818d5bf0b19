"""Background work on a daemon thread: run a step, wait, repeat until stopped.

The purge, the storage sampler, the delivery engine, the digest writer and a SQL job's
progress watcher all have this shape; they differ only in their step and their pace.
"""

from __future__ import annotations

import heapq
import logging
import threading
import time
from collections.abc import Callable

from trailhouse.errors import DiskError

log = logging.getLogger(__name__)


class Periodic:
    """Calls `step` every `interval` seconds on its own thread until `stop()`.

    `step` returns True when it has more to do at once (it is called again without waiting).
    With `wait_first`, the first call comes after one interval instead of at start. An
    exception from `step` is logged and the loop goes on at the next interval. `on_stop` runs
    once the loop has ended (a delivery worker hands its leases back there).
    """

    def __init__(
        self,
        name: str,
        interval: float,
        step: Callable[[], bool | None],
        *,
        wait_first: bool = False,
        on_stop: Callable[[], None] | None = None,
    ) -> None:
        self._name = name
        self._on_stop = on_stop
        self._interval = interval
        self._step = step
        self._wait_first = wait_first
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        """Start the loop."""
        self._thread.start()

    def stop(self) -> None:
        """Stop, and wait for a step in progress to finish."""
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join()
        if self._on_stop is not None:
            try:
                self._on_stop()
            except Exception:  # stopping goes on; what it would have done times out instead
                log.exception("%s failed to stop cleanly", self._name)
            self._on_stop = None

    def _run(self) -> None:
        if self._wait_first and self._stopping.wait(self._interval):
            return
        while not self._stopping.is_set():
            try:
                busy = self._step()
            except DiskError as exc:  # an operating condition, not a bug: no traceback
                log.warning("%s waits for the disk: %s; retrying", self._name, exc)
                busy = False
            except Exception:  # retried at the next interval
                log.exception("%s failed", self._name)
                busy = False
            if not busy and self._stopping.wait(self._interval):
                return


class Deadlines:
    """Calls each action scheduled when its time comes, all on one thread (started at the first
    schedule), unless cancelled before. A `threading.Timer` per deadline started a thread each:
    its `start` waits until the new thread is scheduled, milliseconds on a loaded machine."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._changed = threading.Condition()
        self._due: list[tuple[float, int, Callable[[], None]]] = []
        self._next = 0
        self._thread: threading.Thread | None = None

    def schedule(self, seconds: float, action: Callable[[], None]) -> int:
        """Call `action` in `seconds`; the number returned cancels it."""
        with self._changed:
            self._next += 1
            heapq.heappush(self._due, (time.monotonic() + seconds, self._next, action))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
            self._changed.notify()
            return self._next

    def cancel(self, number: int) -> None:
        """Do not call that action (nothing when it was already called)."""
        with self._changed:
            kept = [entry for entry in self._due if entry[1] != number]
            if len(kept) != len(self._due):
                heapq.heapify(kept)
                self._due = kept

    def _run(self) -> None:
        while True:
            with self._changed:
                if not self._due:
                    self._changed.wait()
                    continue
                when = self._due[0][0]
                now = time.monotonic()
                if when > now:
                    self._changed.wait(when - now)
                    continue
                _, _, action = heapq.heappop(self._due)
            try:
                action()
            except Exception:
                log.exception("%s: a scheduled action failed", self._name)
