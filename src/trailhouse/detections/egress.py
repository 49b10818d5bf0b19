"""Which addresses a findings webhook may reach (server-side request forgery): an account chooses
the URL, and the server, not the account, makes the request from inside its network.

Never: link-local addresses (169.254.0.0/16, fe80::/10), where cloud metadata services answer
with the instance's credentials, and the metadata addresses outside them (Alibaba Cloud's
100.100.100.200, AWS's fd00:ec2::254); nor unspecified (0.0.0.0/8, ::), multicast, reserved
or broadcast ones.
Loopback, private and shared ranges (127.0.0.0/8, 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16,
100.64.0.0/10, fc00::/7, ::1 …) only when the operator allows them (`webhook_allow_private`).
IPv4 written inside IPv6 (::ffff:a.b.c.d, 64:ff9b::a.b.c.d) is judged as the IPv4 address.

A host name is resolved and every address it resolves to must pass, at registration and again
at each send; a send then connects to the address it checked (`pinned_connection`), so a DNS
answer that changes between the check and the connection (rebinding) cannot redirect it.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
# host, port → the addresses it resolves to (socket.getaddrinfo in production).
Resolver = Callable[[str, int], list[str]]

METADATA = frozenset(
    ipaddress.ip_address(a) for a in ("100.100.100.200", "fd00:ec2::254", "169.254.169.254")
)
NAT64 = ipaddress.ip_network("64:ff9b::/96")
THIS_NETWORK = ipaddress.ip_network("0.0.0.0/8")


class EgressRefused(ValueError):
    """The webhook's host is, or resolves to, an address trailhouse will not call."""


def resolve(host: str, port: int) -> list[str]:
    """The addresses `host` resolves to (an address literal resolves to itself)."""
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return []
    return list(dict.fromkeys(str(info[4][0]) for info in found))


def _unwrapped(address: Address) -> Address:
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address in NAT64:
            return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address


def refusal(text: str, allow_private: bool) -> str | None:
    """Why trailhouse will not call `text` (an IP address), or None when it may."""
    try:
        address = _unwrapped(ipaddress.ip_address(text.split("%", 1)[0]))
    except ValueError:
        return f"{text} is not an IP address"
    if address in METADATA or address.is_link_local:
        return f"{address} is a link-local or cloud metadata address, never called"
    reserved = address.is_reserved and not address.is_loopback  # ::1 lies in reserved ::/8
    if address.is_unspecified or address.is_multicast or reserved:
        return f"{address} is an unspecified, multicast or reserved address, never called"
    if isinstance(address, ipaddress.IPv4Address) and address in THIS_NETWORK:
        return f"{address} is in 0.0.0.0/8 ('this network'), never called"
    if not address.is_global and not allow_private:
        return (
            f"{address} is a loopback or private address; the server's operator must allow "
            "them (setting webhook_allow_private)"
        )
    return None


@dataclass(frozen=True)
class Egress:
    """The webhook address policy of one server."""

    allow_private: bool = False
    resolver: Resolver = field(default=resolve)

    def addresses(self, host: str, port: int) -> list[str]:
        """The addresses of `host` a webhook may post to; EgressRefused when it resolves to
        none, or to any address refused (an answer mixing a public and a private address is
        refused whole)."""
        found = self.resolver(host, port)
        if not found:
            raise EgressRefused(f"host {host!r} does not resolve to an address")
        for address in found:
            reason = refusal(address, self.allow_private)
            if reason is not None:
                raise EgressRefused(
                    reason if address == host.strip("[]") else f"{host!r} resolves to {reason}"
                )
        return found


def pinned_connection(
    scheme: str, host: str, port: int, address: str, timeout: float
) -> http.client.HTTPConnection:
    """An HTTP(S) connection to `host` that connects to `address` (checked) whatever DNS says
    by then; HTTPS still verifies the certificate against `host`."""
    connection: http.client.HTTPConnection
    if scheme == "https":
        connection = http.client.HTTPSConnection(
            host, port, timeout=timeout, context=ssl.create_default_context()
        )
    else:
        connection = http.client.HTTPConnection(host, port, timeout=timeout)

    def connect(
        _where: tuple[str, int], timeout: float | None = None, source: object = None
    ) -> socket.socket:
        return socket.create_connection((address, port), timeout)

    connection._create_connection = connect  # type: ignore[attr-defined]
    return connection
