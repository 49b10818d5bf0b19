"""The demo: realistic audit events (`events.py`) and the data `trailhouse serve --demo` sets up
from them (`setup.py`): an account, three days of history, a trail with a finished history job,
a preloaded table, and the storage and SQL usage they bill."""

from __future__ import annotations

from trailhouse.demo.events import DemoEvents, recent_window

__all__ = ["DemoEvents", "recent_window"]
