"""Planning under a hard time bound, off the request thread, a few statements at a time.

Parsing and planning are pure Python (sqlglot) with DuckDB calls for constant folding and
binding; some inputs cost far more than their size suggests (scope analysis is quadratic in the
length of an OR chain). So each statement is planned in a thread of its own, at most
`concurrency` at once, and the caller waits at most `seconds`. When the time is up the planning
thread is stopped: DuckDB calls it is in are interrupted (`interrupting`) and an exception is
raised into its Python code, which no `except Exception` in sqlglot or the planner can swallow.
"""

from __future__ import annotations

import ctypes
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Generic, TypeVar

T = TypeVar("T")

# How long a planning thread is given to unwind once stopped, before its caller stops waiting
# (its slot stays taken until it really ends, so the bound on concurrency still holds).
_UNWIND_SECONDS = 5.0


class PlanningStopped(BaseException):
    """Raised into a planning thread whose time is up (a BaseException, as KeyboardInterrupt
    is, so that no `except Exception` on the way swallows it)."""


class PlanningTimedOut(Exception):
    """Planning took longer than its bound; the statement is refused."""


class PlannersBusy(Exception):
    """No planner became free within the bound."""


class _Stop:
    """The interrupts to call when the current planning thread is stopped."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.stopped = False
        self.running = True
        self.interrupts: list[Callable[[], None]] = []


_current = threading.local()


@contextmanager
def interrupting(interrupt: Callable[[], None]) -> Iterator[None]:
    """While inside, stopping this thread's planning also calls `interrupt` (a DuckDB
    connection's), since an exception raised into Python waits for native code to return."""
    stop: _Stop | None = getattr(_current, "stop", None)
    if stop is None:
        yield
        return
    with stop.lock:
        if stop.stopped:
            raise PlanningStopped
        stop.interrupts.append(interrupt)
    try:
        yield
    finally:
        with stop.lock:
            stop.interrupts.remove(interrupt)


class _Outcome(Generic[T]):
    def __init__(self) -> None:
        self.value: T | None = None
        self.error: BaseException | None = None


class BoundedPlanning:
    """Runs planning functions in their own threads: `concurrency` at once, `seconds` each."""

    def __init__(self, concurrency: int, seconds: float) -> None:
        self._slots = threading.Semaphore(max(1, concurrency))
        self._seconds = seconds

    @property
    def seconds(self) -> float:
        """The time bound of one statement."""
        return self._seconds

    def run(self, plan: Callable[[], T]) -> T:
        """`plan()` in a planning thread; PlannersBusy or PlanningTimedOut past the bound."""
        start = time.monotonic()
        if not self._slots.acquire(timeout=self._seconds):
            raise PlannersBusy
        outcome: _Outcome[T] = _Outcome()
        stop = _Stop()

        def work() -> None:
            _current.stop = stop
            try:
                try:
                    outcome.value = plan()
                finally:
                    with stop.lock:  # from here on nothing is raised into this thread
                        stop.running = False
            except BaseException as exc:  # handed to the caller, whatever it is
                outcome.error = exc
            finally:
                _current.stop = None
                self._slots.release()

        thread = threading.Thread(target=work, name="sql-planner", daemon=True)
        thread.start()
        thread.join(max(0.0, self._seconds - (time.monotonic() - start)))
        if thread.is_alive():
            _stop(thread, stop)
            thread.join(_UNWIND_SECONDS)
            raise PlanningTimedOut
        if isinstance(outcome.error, PlanningStopped):
            raise PlanningTimedOut
        if outcome.error is not None:
            raise outcome.error
        return outcome.value  # type: ignore[return-value]


def _stop(thread: threading.Thread, stop: _Stop) -> None:
    """Interrupt the thread's DuckDB calls and raise PlanningStopped into its Python code."""
    with stop.lock:
        stop.stopped = True
        interrupts = list(stop.interrupts)
    for interrupt in interrupts:
        interrupt()
    with stop.lock:
        if stop.running and thread.ident is not None:
            ctypes.pythonapi.PyThreadState_SetAsyncExc(
                ctypes.c_ulong(thread.ident), ctypes.py_object(PlanningStopped)
            )
