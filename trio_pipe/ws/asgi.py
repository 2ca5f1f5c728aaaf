"""The server backend of :class:`~trio_pipe.ws.base.MessageSocket`: an accepted Starlette
WebSocket in an app served by Hypercorn under Trio.

    async def endpoint(websocket: WebSocket):
        await websocket.accept()
        async with asgi_socket(websocket) as sock:
            ...

Bounding writes under Hypercorn
    Hypercorn writes to the TCP stream inside a shielded cancel scope, so no deadline
    around ``websocket.send`` can interrupt a write to a peer that stopped reading. To
    abort, this backend closes the socket of the Trio stream Hypercorn serves this
    connection on: Trio then fails the blocked write, Hypercorn sees the connection closed
    and ends it. It finds that stream in the WebSocket's ASGI scope, where the
    ``trio_pipe.ws.hypercorn_adapter.hypercorn_connections`` middleware (applied by
    ``trio_pipe.serving.serve_asgi``) recorded it, so the socket may be built in any task.
    Hypercorn also writes frames of its own (pongs, its 1009 close): the connection's
    stream is wrapped in a :class:`~trio_pipe.ws.base.GuardedStream`, so those writes are
    under the same write watchdog. Without that record (another server, or Hypercorn
    started without the middleware) a warning is logged once and :attr:`AsgiSocket.can_abort`
    is False: abort marks the socket closed, our side stops using it, but a write already
    blocked can only end when the peer does.

Bounding memory under Hypercorn
    Hypercorn answers a message over ``websocket_max_message_size`` with a 1009 close
    frame but keeps reading, and appends what follows to the same buffer, for as long as
    the client sends; the application is not told. This backend replaces that buffer (per
    connection) by one that drops everything from the first byte over the limit, ends
    this socket with 1009 (a task in :meth:`receive` gets it) and aborts the TCP
    connection ``close_timeout`` seconds later unless the client closed it first.

Reading messages
    A message already queued by Hypercorn is taken from its queue directly (a check for
    cancellation, no scheduler pass), unless a middleware wraps the app's ``receive``:
    then through Starlette, so the middleware sees it. Only a receive that must wait
    enters the cancel scope an oversize message ends.

Noticing a frozen client
    With ``ping_interval``, the server pings the client every ``ping_interval`` seconds
    (ASGI has no ping; :meth:`~trio_pipe.ws.hypercorn_adapter.HypercornConnection.send_ping`
    sends it through Hypercorn) and aborts the connection when nothing at all came from
    the client within ``ping_timeout`` seconds of the ping (Hypercorn keeps the pongs to
    itself, so any data counts as the answer: a pong, a message, a ping). A task in
    :meth:`receive` then gets ``ConnectionClosed`` (1006, "no pong within ..."). This
    catches a client process that froze (stopped, a hung event loop, a paused VM with a
    live kernel) while the session is quiet: its kernel still acknowledges TCP keepalive
    probes and nothing is left unacknowledged for ``TCP_USER_TIMEOUT`` to time.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import trio
from hypercorn.protocol.ws_stream import FrameTooLargeError, WebsocketBuffer, WSStream
from hypercorn.trio.tcp_server import TCPServer
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from trio_pipe.ws.base import (
    ABNORMAL_CLOSURE,
    ConnectionClosed,
    GuardedStream,
    MessageSocket,
    watched,
)
from trio_pipe.ws.hypercorn_adapter import SCOPE_KEY, HypercornConnection
from trio_pipe.ws.keepalive import answered_by_anything, keepalive

__all__ = ["AsgiSocket", "accept_websocket", "asgi_socket"]

logger = logging.getLogger(__name__)

MESSAGE_TOO_BIG = 1009
_CONNECTED = WebSocketState.CONNECTED

# Where accept_websocket records the subprotocol it accepted: Starlette keeps no record.
_SUBPROTOCOL_KEY = "trio_pipe.subprotocol"


async def accept_websocket(websocket: WebSocket, *, subprotocols: Sequence[str] = ()) -> str | None:
    """Accept ``websocket`` with the first of ``subprotocols`` that the client offered
    (None if it offered none of them); returns it. An :class:`AsgiSocket` on this
    WebSocket reports it as :attr:`~trio_pipe.ws.base.MessageSocket.subprotocol`.
    """
    offered = websocket.scope.get("subprotocols") or ()
    chosen = next((p for p in subprotocols if p in offered), None)
    await websocket.accept(subprotocol=chosen)
    websocket.scope[_SUBPROTOCOL_KEY] = chosen
    return chosen


class AsgiSocket(MessageSocket):
    """An accepted Starlette WebSocket as a :class:`MessageSocket`.

    ``ping_interval``: seconds between keepalive pings (None: none); ``ping_timeout``:
    seconds after a ping within which something must come from the client, or the
    connection is aborted (None: the interval). The pings run inside
    :func:`~trio_pipe.ws.base.watched` (``asgi_socket`` does that).
    """

    def __init__(
        self,
        websocket: WebSocket,
        *,
        ping_interval: float | None = None,
        ping_timeout: float | None = None,
        **kwargs: Any,
    ) -> None:
        for name, value in (("ping_interval", ping_interval), ("ping_timeout", ping_timeout)):
            if value is not None and not value > 0:
                raise ValueError(f"{name} must be positive or None, got {value!r}")
        super().__init__(**kwargs)
        self.ping_interval: float | None = None
        """Seconds between keepalive pings (None: this socket sends none)."""
        self.ping_timeout: float | None = None
        """Seconds after a ping within which the client must be heard from."""
        self._websocket = websocket
        self.subprotocol = websocket.scope.get(_SUBPROTOCOL_KEY)
        self._receive_scope: trio.CancelScope | None = None
        connection: HypercornConnection | None = websocket.scope.get(SCOPE_KEY)
        self._stream: trio.abc.Stream | None = None
        self._connection = connection
        # Hypercorn's queue itself, when nothing wraps the app's ``receive`` on its way to
        # this WebSocket (a middleware that does is honoured: Starlette's receive is used).
        channel = connection.app_channel if connection is not None else None
        if channel is not None and getattr(websocket, "_receive", None) != channel.receive:
            channel = None
        self._channel: trio.MemoryReceiveChannel[Any] | None = channel
        if connection is not None:
            self._stream = _guard_server(connection.server, connection.ws_stream, self)
            self._guards_own_writes = True  # every write reaches the guarded stream: one arm
            if ping_interval is not None:
                self.ping_interval = ping_interval
                self.ping_timeout = ping_timeout if ping_timeout is not None else ping_interval
                ping = answered_by_anything(connection.send_ping, connection.listen())
                self._keepalive = partial(
                    keepalive, self, ping, self.ping_interval, self.ping_timeout
                )
        else:
            _warn_unguarded()

    @property
    def websocket(self) -> WebSocket:
        """The Starlette WebSocket."""
        return self._websocket

    @property
    def headers(self) -> dict[str, str]:
        """The client's handshake request headers (lower-case names)."""
        return {k.lower(): v for k, v in self._websocket.headers.items()}

    @property
    def can_abort(self) -> bool:
        """True if an abort can close the TCP socket under a blocked write."""
        return self._stream is not None

    def _direct(self) -> HypercornConnection | None:
        """The connection to write on past ASGI (HypercornConnection.send_messages), while
        the app has not closed the WebSocket; None: through Starlette's ``send``."""
        if self._websocket.application_state is _CONNECTED:
            return self._connection
        return None

    async def _send(self, data: bytes | str) -> None:
        connection = self._direct()
        if connection is not None:
            await connection.send_messages((data,))
            return
        if isinstance(data, bytes | bytearray | memoryview):
            message = {"type": "websocket.send", "bytes": bytes(data)}
        else:
            message = {"type": "websocket.send", "text": data}
        try:
            await self._websocket.send(message)
        except WebSocketDisconnect as exc:
            raise ConnectionClosed(exc.code, exc.reason or "") from None
        except (RuntimeError, OSError, trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            # Starlette raises RuntimeError for a send after the close handshake.
            raise ConnectionClosed(ABNORMAL_CLOSURE, str(exc)) from None

    async def _send_many(self, messages: Sequence[bytes | str]) -> None:
        connection = self._direct()
        if connection is not None:
            await connection.send_messages(messages)
            return
        for data in messages:
            await self._send(data)

    async def _receive(self) -> bytes | str:
        channel = self._channel
        if channel is not None and self._websocket.client_state is _CONNECTED:
            # Straight from Hypercorn's queue, as Starlette's receive would take it.
            await trio.lowlevel.checkpoint_if_cancelled()
            try:
                message = channel.receive_nowait()
            except trio.WouldBlock:
                message = await self._wait(channel.receive)
            except (trio.EndOfChannel, trio.ClosedResourceError):
                raise ConnectionClosed(ABNORMAL_CLOSURE, "") from None
            if message["type"] == "websocket.disconnect":
                self._websocket.client_state = WebSocketState.DISCONNECTED
        else:
            message = await self._wait(self._websocket.receive)
        if message["type"] == "websocket.disconnect":
            raise ConnectionClosed(message.get("code", 1005), message.get("reason") or "")
        data = message.get("bytes")
        return data if data is not None else message.get("text") or ""

    async def _wait(self, receive: Callable[[], Awaitable[Any]]) -> Any:
        # A scope while waiting: an oversize message ends the wait (Hypercorn never tells).
        message: Any = {}
        with trio.CancelScope() as scope:
            self._receive_scope = scope
            try:
                message = await receive()
            except (WebSocketDisconnect, RuntimeError, trio.EndOfChannel) as exc:
                raise ConnectionClosed(getattr(exc, "code", ABNORMAL_CLOSURE), "") from None
            finally:
                self._receive_scope = None
        if scope.cancelled_caught:
            raise self._closed or ConnectionClosed(MESSAGE_TOO_BIG, "")
        return message

    async def _close(self, code: int, reason: str) -> None:
        try:
            await self._websocket.close(code, reason or None)
        except (RuntimeError, OSError, WebSocketDisconnect):
            pass  # already closed by the peer: nothing to send

    def _on_overflow(self, limit: int) -> None:
        """The client's message passed ``limit``: end now, drop the TCP connection soon."""
        logger.warning("WebSocket client sent a message over %d bytes: closing (1009)", limit)
        outcome = ConnectionClosed(MESSAGE_TOO_BIG, f"message over {limit} bytes")
        self._set_closed(outcome)
        if self._receive_scope is not None:
            self._receive_scope.cancel()
        self._wake_closer()
        # Hypercorn sent the 1009 close frame; a client that answers it closes the
        # connection well before this deadline, one that does not is dropped by it.
        self._arm(self.close_timeout, outcome)

    def _abort(self) -> None:
        stream = self._stream
        if stream is None:
            logger.warning("cannot abort this WebSocket's TCP connection (not Hypercorn/Trio?)")
            return
        socket = getattr(getattr(stream, "transport_stream", stream), "socket", None)
        if socket is not None:
            socket.close()


def _guard_server(server: TCPServer, ws_stream: WSStream, sock: AsgiSocket) -> trio.abc.Stream:
    """Put Hypercorn's writes on this connection under ``sock``'s watchdog and bound its
    message buffer; returns the raw stream (what an abort closes)."""
    stream = server.stream
    if isinstance(stream, GuardedStream):
        stream = stream.inner
    server.stream = GuardedStream(stream, sock)  # type: ignore[assignment]
    buffer = ws_stream.buffer
    if isinstance(buffer, WebsocketBuffer) and not isinstance(buffer, _BoundedBuffer):
        ws_stream.buffer = _BoundedBuffer(buffer, sock._on_overflow)
    return stream


_warned = False


def _warn_unguarded() -> None:
    global _warned
    if not _warned:
        _warned = True
        logger.warning(
            "WebSocket not served by trio_pipe.serving.serve_asgi (no Hypercorn connection "
            "in its scope; wrap the app in ws.hypercorn_adapter.hypercorn_connections): "
            "a write to a client that stops reading cannot be aborted, the server's "
            "pongs and message buffer are not bounded, and no keepalive pings are sent"
        )


class _BoundedBuffer(WebsocketBuffer):
    """Hypercorn's message buffer, keeping nothing past its limit (see the module doc)."""

    def __init__(self, old: WebsocketBuffer, on_overflow: Callable[[int], None]) -> None:
        super().__init__(old.max_length)
        self.value, self.length = old.value, old.length
        self._on_overflow = on_overflow
        self.overflowed = False

    def extend(self, event: Any) -> None:
        """Append a message part; past the limit, drop it all and report once."""
        if self.overflowed:
            raise FrameTooLargeError()
        if self.length + len(event.data) > self.max_length:
            self.overflowed = True
            self.clear()  # free what was buffered; nothing more will be
            self._on_overflow(self.max_length)
            raise FrameTooLargeError()
        super().extend(event)


@asynccontextmanager
async def asgi_socket(
    websocket: WebSocket,
    *,
    write_timeout: float | None = 10.0,
    close_timeout: float = 2.0,
    ping_interval: float | None = None,
    ping_timeout: float | None = None,
) -> AsyncIterator[AsgiSocket]:
    """Wrap an accepted ``websocket``; closes it (code 1000) on exit if still open.

    ``write_timeout`` bounds every write on the connection (Hypercorn's pongs and our
    pings included), ``close_timeout`` the closing handshake and the wait after an
    oversize message. With ``ping_interval`` the client is pinged every so many seconds
    and dropped when nothing came from it within ``ping_timeout`` (default: the
    interval) after a ping (see the module doc).
    """
    sock = AsgiSocket(
        websocket,
        write_timeout=write_timeout,
        close_timeout=close_timeout,
        ping_interval=ping_interval,
        ping_timeout=ping_timeout,
    )
    async with watched(sock):
        yield sock
