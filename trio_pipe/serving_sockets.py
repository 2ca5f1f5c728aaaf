"""Listening sockets for serving: dead-peer detection and several processes on one port.

:func:`listening_socket` makes the socket a server accepts on, with the options its
accepted connections should have. On Linux an accepted socket inherits them from the
listening socket, so this is where dead-peer detection is set for every session:

* TCP keepalive (``SO_KEEPALIVE``, ``TCP_KEEPIDLE``/``TCP_KEEPINTVL``/``TCP_KEEPCNT``):
  probes an idle connection and drops it when the peer's host no longer answers
  (frozen, powered off, partitioned);
* ``TCP_USER_TIMEOUT``: drops a connection whose sent data (or zero-window probes, when
  the peer stopped reading) stays unacknowledged that long, such as a session speaking
  to a client whose process froze while its kernel still answers.

Hypercorn is given the socket as an ``fd://`` bind (its supported way to serve a socket
made elsewhere), see :func:`trio_pipe.serving.serve_asgi`. ``reuse_port`` sets
``SO_REUSEPORT`` so that several serving processes each bind their own socket to the
same port and the kernel spreads new connections across them.
"""

from __future__ import annotations

import socket

import attrs

__all__ = ["TCPKeepalive", "listening_socket"]


@attrs.frozen(kw_only=True)
class TCPKeepalive:
    """When a server gives up on a silent or stuck peer.

    Args:
        idle_secs: a connection with no traffic for this long starts being probed.
        interval_secs: between probes.
        count: unanswered probes before the connection is dropped.
        user_timeout_secs: longest time sent data may stay unacknowledged (None: the
            kernel's default, about 15 minutes of retransmissions; zero-window probing
            has no limit without it).
    """

    idle_secs: float = 30.0
    interval_secs: float = 10.0
    count: int = 3
    user_timeout_secs: float | None = 60.0

    @classmethod
    def within(cls, secs: float) -> TCPKeepalive:
        """Options that detect a dead or stuck peer within about ``secs`` seconds."""
        if secs <= 0:
            raise ValueError(f"secs must be positive, got {secs}")
        return cls(idle_secs=secs / 2, interval_secs=secs / 6, count=3, user_timeout_secs=secs)

    @property
    def detection_secs(self) -> float:
        """Longest time until a peer that stopped answering is dropped (keepalive path)."""
        probing = self.idle_secs + self.interval_secs * self.count
        if self.user_timeout_secs is None:
            return probing
        # With a user timeout, Linux drops a probed connection once it has run out.
        return min(probing, self.idle_secs + self.user_timeout_secs)

    def apply(self, sock: socket.socket) -> None:
        """Set the options on ``sock`` (a listening socket passes them to accepted ones)."""
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        # The kernel counts keepalive times in whole seconds (at least 1).
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, max(1, round(self.idle_secs)))
        interval = max(1, round(self.interval_secs))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, interval)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, max(1, self.count))
        if self.user_timeout_secs is not None:
            millis = max(1, round(self.user_timeout_secs * 1000))
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, millis)


def listening_socket(
    host: str,
    port: int,
    *,
    keepalive: TCPKeepalive | None = None,
    reuse_port: bool = False,
    backlog: int = 100,
) -> socket.socket:
    """A TCP socket bound to ``host:port`` and listening, with the given options.

    ``host`` may be a name, an IPv4 or an IPv6 address (with or without brackets).
    Raises ``OSError`` when the address cannot be bound (in use, unknown host).
    """
    host = host.strip("[]")
    family, type_, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, type_, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if keepalive is not None:
            keepalive.apply(sock)
        sock.bind(address)
        sock.listen(backlog)
    except BaseException:
        sock.close()
        raise
    return sock
