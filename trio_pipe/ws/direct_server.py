"""A lean WebSocket server: wsproto straight on Trio's TCP streams, no ASGI in between.

    async def handler(request: DirectRequest) -> None:
        if request.headers.get("authorization") != "Bearer s3cret":
            await request.reject(401, "unauthorized")
            return
        async with request.accept() as sock:       # a DirectSocket (MessageSocket)
            ...

    served = await nursery.start(serve_direct, handler)        # 127.0.0.1, a free port
    url = served.ws_url("/proxy")

Why: under Trio, Hypercorn spends about 85 µs of CPU per WebSocket message (HTTP
protocol layers, an app queue, locks and a shielded scope per write); this server, where
the connection's own task parses and writes each message, about 30 µs
(``benchmarks/proxy_rtt.py --compare-backends``). Use it for a process whose only job on
that port is WebSockets, such as a proxy endpoint; use Hypercorn (``serving.serve_asgi``)
when the port also serves an ASGI app.

Resource handling
    ``serve_direct`` runs Trio's listener in the caller's nursery; every connection is a
    task of it, and its socket is closed when its handler returns (or the server stops).

Error handling
    A handler that raises is logged and ends its own connection only. A client that sends
    no valid upgrade request within ``handshake_timeout``, or not an upgrade at all, gets an
    HTTP error (400) or is dropped; the server goes on.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from functools import partial

import attrs
import trio
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, Event, RejectConnection, RejectData, Request
from wsproto.utilities import RemoteProtocolError

from trio_pipe.ws.base import watched
from trio_pipe.ws.direct import DirectSocket

__all__ = ["DirectRequest", "ServedDirect", "serve_direct"]

logger = logging.getLogger(__name__)


@attrs.frozen
class ServedDirect:
    """Where :func:`serve_direct` listens."""

    host: str
    port: int

    def ws_url(self, path: str = "/") -> str:
        """``ws://host:port/path``."""
        return f"ws://{self.host}:{self.port}{path}"


class DirectRequest:
    """A client's upgrade request: look at it, then :meth:`accept` or :meth:`reject`."""

    def __init__(
        self,
        stream: trio.SocketStream,
        proto: WSConnection,
        request: Request,
        after: list[Event],
        *,
        max_message_size: int,
        receive_buffer_size: int,
        write_timeout: float | None,
        close_timeout: float,
    ) -> None:
        self._stream = stream
        self._proto = proto
        self._request = request
        self._after = after
        self._options = {
            "max_message_size": max_message_size,
            "receive_buffer_size": receive_buffer_size,
            "write_timeout": write_timeout,
            "close_timeout": close_timeout,
        }
        self.answered = False
        self.headers = {
            k.decode("latin-1").lower(): v.decode("latin-1") for k, v in request.extra_headers
        }
        """The request headers, lower-case names (``host`` included)."""
        self.headers.setdefault("host", request.host)

    @property
    def path(self) -> str:
        """The request target: path and query (``/proxy?worker=voice``)."""
        return self._request.target

    @property
    def client(self) -> tuple[str, int] | None:
        """The peer's address."""
        try:
            host, port = self._stream.socket.getpeername()[:2]
        except OSError:
            return None
        return host, port

    @asynccontextmanager
    async def accept(self) -> AsyncIterator[DirectSocket]:
        """Complete the upgrade; yield the connection (closed when the block exits)."""
        self.answered = True
        await self._stream.send_all(self._proto.send(AcceptConnection()))
        sock = DirectSocket(self._stream, self._proto, dict(self.headers), **self._options)  # type: ignore[arg-type]
        await sock._process(self._after)  # messages that came with the request
        async with watched(sock):
            yield sock

    async def reject(self, status: int, reason: str = "") -> None:
        """Answer with HTTP ``status`` (and ``reason`` as the body) instead of upgrading."""
        self.answered = True
        body = reason.encode()
        headers = [(b"content-type", b"text/plain; charset=utf-8")]
        headers.append((b"content-length", str(len(body)).encode()))
        data = self._proto.send(
            RejectConnection(status_code=status, headers=headers, has_body=True)
        )
        data += self._proto.send(RejectData(data=body, body_finished=True))
        await self._stream.send_all(data)


Handler = Callable[[DirectRequest], Awaitable[object]]


async def _connection(
    handler: Handler,
    handshake_timeout: float,
    options: dict[str, object],
    stream: trio.SocketStream,
) -> None:
    try:
        with trio.move_on_after(handshake_timeout) as scope:
            request = await _read_request(stream, options)
        if scope.cancelled_caught or request is None:
            return
        try:
            await handler(request)
        except Exception:
            logger.exception("WebSocket handler failed for %s", request.path)
        if not request.answered:
            await request.reject(403, "not accepted")
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        pass  # the client went away during the handshake
    finally:
        await trio.aclose_forcefully(stream)


async def _read_request(
    stream: trio.SocketStream, options: dict[str, object]
) -> DirectRequest | None:
    proto = WSConnection(ConnectionType.SERVER)
    while True:
        data = await stream.receive_some(65536)
        if not data:
            return None
        try:
            proto.receive_data(data)
            events = list(proto.events())
        except RemoteProtocolError as exc:  # not a WebSocket upgrade
            if isinstance(exc.event_hint, RejectConnection):
                await stream.send_all(proto.send(exc.event_hint))
            return None
        for i, event in enumerate(events):
            if isinstance(event, Request):
                return DirectRequest(stream, proto, event, events[i + 1 :], **options)  # type: ignore[arg-type]


async def serve_direct(
    handler: Handler,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    handshake_timeout: float = 10.0,
    max_message_size: int = 16 * 1024 * 1024,
    receive_buffer_size: int = 64 * 1024,
    write_timeout: float | None = 10.0,
    close_timeout: float = 2.0,
    task_status: trio.TaskStatus[ServedDirect] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve WebSockets on ``host:port`` (port 0: a free one) until cancelled.

    ``handler(request)`` runs for each upgrade request, in the connection's own task.
    ``task_status.started`` receives a :class:`ServedDirect` with the bound port.
    ``write_timeout`` bounds every write (pongs and close frames too), ``close_timeout``
    the closing handshake; a message over ``max_message_size`` closes its connection
    (1009) and its TCP socket at once.
    """
    options = {
        "max_message_size": max_message_size,
        "receive_buffer_size": receive_buffer_size,
        "write_timeout": write_timeout,
        "close_timeout": close_timeout,
    }
    listeners = await trio.open_tcp_listeners(port, host=host)
    bound = listeners[0].socket.getsockname()[1]
    connection = partial(_connection, handler, handshake_timeout, options)
    async with trio.open_nursery() as nursery:
        await nursery.start(trio.serve_listeners, connection, listeners)
        task_status.started(ServedDirect(host, bound))
