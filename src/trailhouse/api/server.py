"""Running the HTTP server in the foreground, with its background work, until SIGTERM/SIGINT.

On a signal the server stops accepting connections, lets requests in flight finish (an
acknowledged PutEvents is already durable), records queued audit events, stops the purge and
closes the stores.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import uvicorn

from trailhouse.api.app import create_app
from trailhouse.api.audit import AuditWriter
from trailhouse.runtime import PurgeLoop, Services

log = logging.getLogger(__name__)


def run_server(services: Services, on_started: Callable[[], None] | None = None) -> None:
    """Serve the API on the configured host and port until a shutdown signal."""
    settings = services.settings
    audit = AuditWriter(services.ingest)
    purge = PurgeLoop(services)
    app = create_app(services, audit)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=30,
        server_header=False,
    )
    server = _Server(config, on_started)
    purge.start()
    try:
        server.run()
    finally:
        purge.stop()
        audit.close()
        services.close()
        log.info("trailhouse stopped")


class _Server(uvicorn.Server):
    """uvicorn's server, telling the caller once it accepts connections."""

    def __init__(self, config: uvicorn.Config, on_started: Callable[[], None] | None) -> None:
        super().__init__(config)
        self._on_started = on_started

    async def startup(self, sockets: list[object] | None = None) -> None:  # type: ignore[override]
        await super().startup(sockets)  # type: ignore[arg-type]
        if self._on_started is not None and self.started:
            self._on_started()
