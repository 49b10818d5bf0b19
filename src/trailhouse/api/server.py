"""Running the HTTP server in the foreground, with its background work, until SIGTERM/SIGINT.

Beside the API run the purge of expired events, the storage sampler of the bills, the recorder
of the console's ended sign-in failure windows, and (with
`delivery_enabled`) the delivery engine of enabled trails and the writer of their signed
digests. On a signal the server stops accepting connections, lets requests in flight finish
(an acknowledged PutEvents is already durable), records queued audit events, stops the
background work (a delivery batch commits whole or not at all), cancels SQL jobs still running
(they cost nothing) and closes the stores.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import socket
from collections.abc import Callable, Iterator
from types import FrameType

import uvicorn

from trailhouse.api.app import create_app
from trailhouse.api.audit import AuditWriter
from trailhouse.background import Periodic
from trailhouse.console.signin import record_ended_windows
from trailhouse.errors import SettingsError
from trailhouse.memory import freeze_startup_heap
from trailhouse.runtime import Services

log = logging.getLogger(__name__)

# How often the console's ended sign-in failure windows are looked for and recorded.
SIGNIN_WINDOWS_SECONDS = 30.0


def run_server(services: Services, on_started: Callable[[], None] | None = None) -> None:
    """Serve the API on the configured host and port until a shutdown signal."""
    settings = services.settings
    audit = AuditWriter(services.ingest)
    work = services.background_work(serving=True)
    work.append(
        Periodic(
            "trailhouse-console-signins",
            SIGNIN_WINDOWS_SECONDS,
            lambda: record_ended_windows(services.signin_guard, services.ingest) > 0,
            wait_first=True,
        )
    )
    app = create_app(services, audit)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        log_config=None,  # uvicorn's lines go through trailhouse's handler (text or JSON)
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=30,
        server_header=False,
        # trailhouse has no trusted-proxy setting: the socket peer is the source address. By
        # default uvicorn would take X-Forwarded-For from any local client, which lets it
        # choose the address that sign-in throttling and audit events see.
        proxy_headers=False,
    )
    server = _Server(config, on_started)
    try:
        sockets = [_listen(settings.host, port) for port in services.regions.ports]
        services.warehouse.jobs.heartbeat()
        services.recover_at_start()
        for loop in work:
            loop.start()
        with _signals_end_the_server():
            server.run(sockets=sockets)
    finally:
        for loop in reversed(work):
            loop.stop()
        audit.close()
        services.close()
        log.info("trailhouse stopped")


class _Server(uvicorn.Server):
    """uvicorn's server, telling the caller once it accepts connections."""

    def __init__(self, config: uvicorn.Config, on_started: Callable[[], None] | None) -> None:
        super().__init__(config)
        self._on_started = on_started

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            freeze_startup_heap()  # all the server needs is loaded and opened by now
            if self._on_started is not None:
                self._on_started()


@contextlib.contextmanager
def _signals_end_the_server() -> Iterator[None]:
    """Make SIGTERM/SIGINT a clean stop: uvicorn re-raises the signal it handled once it has
    shut down, which would kill the process before the stores are closed. While this is in
    effect, that re-raised signal lands here and is only logged."""

    def note(signum: int, frame: FrameType | None) -> None:
        log.info("received %s; shutting down", signal.Signals(signum).name)

    previous = {sig: signal.signal(sig, note) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _listen(host: str, port: int) -> socket.socket:
    """A listening socket for one region's port (the main port serves the default region)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted connections inherit this: without it a response written as headers, then body,
    # waits ~40 ms for the client's delayed ACK (Nagle's algorithm).
    listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        listener.bind((host, port))
    except OSError as exc:
        listener.close()
        raise SettingsError(f"cannot listen on {host}:{port}: {exc.strerror}") from exc
    listener.listen(2048)
    listener.set_inheritable(True)
    return listener
