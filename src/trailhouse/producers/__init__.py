"""Producers: the client side that records audit events into a trailhouse server.

`Recorder` batches events from any Python code; `AuditMiddleware` records each HTTP request of
an ASGI application (Starlette, FastAPI) through a `Recorder`.
"""

from __future__ import annotations

from trailhouse.producers.asgi import AuditMiddleware
from trailhouse.producers.recorder import Recorder, RecorderStats

__all__ = ["AuditMiddleware", "Recorder", "RecorderStats"]
