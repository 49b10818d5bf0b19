"""The server's listening sockets: Nagle off, or every response stalls ~40 ms on delayed ACKs."""

from __future__ import annotations

import socket

from trailhouse.api.server import _listen


def test_listening_sockets_pass_tcp_nodelay_to_their_connections() -> None:
    listener = _listen("127.0.0.1", 0)
    try:
        port = listener.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port)) as _client:
            accepted, _ = listener.accept()
            with accepted:
                assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
    finally:
        listener.close()
