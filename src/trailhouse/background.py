"""Background work on a daemon thread: run a step, wait, repeat until stopped.

The purge, the storage sampler, the delivery engine, the digest writer and a SQL job's
progress watcher all have this shape; they differ only in their step and their pace.
"""

from __future__ import annotations

import logging
import threading
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
