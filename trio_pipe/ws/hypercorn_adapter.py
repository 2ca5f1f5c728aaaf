"""The one place that knows Hypercorn's internals: a WebSocket connection's TCP stream.

It also fixes one Hypercorn 0.18 race (:class:`SendOrderedStream`): a client that leaves
just as its endpoint returns must not stop the whole server. It writes messages the way
Hypercorn does but without a scheduler pass before the write, several in one write
(:meth:`HypercornConnection.send_messages`; see docs/architecture.md, "Writing messages
under Hypercorn"). It reads them with less as well: the client's common frames are decoded
past wsproto (:class:`~trio_pipe.ws.frame_splitter.FrameSplitter`), below Hypercorn's read
loop over HTTP/1.1 (:class:`ClientFrameReader`), and queued for the app without a
scheduler pass per message ("Reading messages under Hypercorn"). And it gives a
server what keepalive pings need and ASGI lacks: :meth:`HypercornConnection.send_ping`
sends a ping frame the way Hypercorn sends its own control frames,
:meth:`HypercornConnection.listen` counts what the client sends on the WebSocket
(Hypercorn reads the pongs and keeps them to itself).

Hypercorn writes to the TCP stream inside a shielded cancel scope and keeps reading into
an unbounded message buffer after a 1009 (see ``trio_pipe.ws.asgi``); neither its config
nor its ASGI extensions expose the stream or the buffer. So :func:`hypercorn_connections`,
an ASGI middleware that ``trio_pipe.serving.serve_asgi`` puts around every app, follows the
``send`` callable Hypercorn hands the app (the ``WSStream``'s ``app_send``) to the
``WSStream``, its protocol and the ``TCPServer`` (the owner of the stream), and records
them in the WebSocket's ASGI scope under :data:`SCOPE_KEY`. An
:class:`~trio_pipe.ws.asgi.AsgiSocket` reads them from its WebSocket's scope, so it can be
built in any task (the endpoint's or a runner's), and no coroutine frame is ever read.

Hypercorn is pinned to a tested range in pyproject.toml; if a release moves these
attributes, :meth:`HypercornConnection.from_send` raises :class:`HypercornLayoutChanged`
for the first WebSocket, naming what it did not find (tests/ws/test_hypercorn_adapter.py
pins the layout), instead of serving connections whose writes are not bounded.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import attrs
import trio
from hypercorn.events import Closed
from hypercorn.protocol.events import Data, Event, StreamClosed
from hypercorn.protocol.h11 import H11Protocol
from hypercorn.protocol.ws_stream import ASGIWebsocketState, WebsocketBuffer, WSStream
from hypercorn.trio.tcp_server import TCPServer
from wsproto.connection import ConnectionState
from wsproto.events import BytesMessage, Ping, TextMessage
from wsproto.utilities import LocalProtocolError

from trio_pipe.ws.base import (
    ABNORMAL_CLOSURE,
    ConnectionClosed,
    WrappedStream,
    acquire_lock,
)
from trio_pipe.ws.frame_splitter import FrameSplitter, Raw
from trio_pipe.ws.keepalive import Heard
from trio_pipe.ws.socket_io import os_socket, receive_now, send_now

__all__ = [
    "SCOPE_KEY",
    "ClientFrameReader",
    "HypercornConnection",
    "HypercornLayoutChanged",
    "SendOrderedStream",
    "decline_compression",
    "hypercorn_connections",
]

SCOPE_KEY = "trio_pipe.hypercorn_connection"
"""Where :func:`hypercorn_connections` puts a WebSocket's :class:`HypercornConnection`."""


class HypercornLayoutChanged(RuntimeError):
    """Hypercorn's objects are not where the tested versions keep them."""

    def __init__(self, missing: str) -> None:
        super().__init__(
            f"Hypercorn's connection layout changed ({missing}); trio_pipe cannot bound "
            "writes to WebSocket clients on it: use the Hypercorn range in trio_pipe's "
            "pyproject.toml"
        )


@attrs.frozen
class HypercornConnection:
    """A WebSocket connection's ``TCPServer`` (it owns the Trio stream) and ``WSStream``
    (it owns the message buffer)."""

    server: TCPServer
    ws_stream: WSStream
    raw_frames: bool = False
    """True if the WebSocket's frames are the TCP stream's bytes (HTTP/1.1; over HTTP/2
    they travel inside the stream's DATA frames)."""
    app_channel: trio.MemoryReceiveChannel[Any] | None = None
    """Where Hypercorn queues the client's ASGI messages for the app (the channel behind
    the app's ``receive``); None if ``receive`` was not that channel's."""
    send_observers: list[Callable[[Sequence[bytes | str]], None]] = attrs.field(factory=list)
    """Called with the messages of each :meth:`send_messages`, once they are written.
    Those messages do not pass through the app's ASGI ``send``: ASGI middleware that
    counts or logs ``websocket.send`` events adds a callback here as well (as
    ``trio_pipe.session_watch`` does)."""

    @classmethod
    def from_send(
        cls,
        send: Callable[..., Awaitable[None]],
        receive: Callable[[], Awaitable[Any]] | None = None,
    ) -> HypercornConnection | None:
        """The connection behind ``send`` (and ``receive``, the app's ASGI pair); None if
        ``send`` is not Hypercorn's (another server). Raises
        :class:`HypercornLayoutChanged` if it is Hypercorn's but the rest is not where it
        should be."""
        ws_stream = getattr(send, "__self__", None)
        if not isinstance(ws_stream, WSStream):
            return None
        protocol = getattr(getattr(ws_stream, "send", None), "__self__", None)
        if protocol is None:
            raise HypercornLayoutChanged("WSStream.send is not a protocol's bound method")
        server = getattr(getattr(protocol, "send", None), "__self__", None)
        if not isinstance(server, TCPServer):
            raise HypercornLayoutChanged("the protocol does not send through a trio TCPServer")
        if not isinstance(getattr(server, "stream", None), trio.abc.Stream):
            raise HypercornLayoutChanged("TCPServer.stream is not a Trio stream")
        if not hasattr(getattr(server, "config", None), "read_timeout"):
            raise HypercornLayoutChanged("TCPServer.config has no read_timeout")
        if not isinstance(getattr(ws_stream, "buffer", None), WebsocketBuffer):
            raise HypercornLayoutChanged("WSStream.buffer is not a WebsocketBuffer")
        if not hasattr(getattr(ws_stream, "handshake", None), "extensions"):
            raise HypercornLayoutChanged("WSStream.handshake has no extensions")
        # What pings need (send_ping, listen).
        if not inspect.iscoroutinefunction(getattr(ws_stream, "_send_wsproto_event", None)):
            raise HypercornLayoutChanged("WSStream has no _send_wsproto_event coroutine")
        if not inspect.iscoroutinefunction(getattr(type(ws_stream), "handle", None)):
            raise HypercornLayoutChanged("WSStream.handle is not a coroutine method")
        # What the client's messages take past wsproto (_ClientData, _QueueAll).
        if not callable(getattr(ws_stream, "app_put", None)):
            raise HypercornLayoutChanged("WSStream.app_put is not set when the app starts")
        if not isinstance(getattr(ws_stream, "state", None), ASGIWebsocketState):
            raise HypercornLayoutChanged("WSStream.state is not an ASGIWebsocketState")
        if not isinstance(getattr(ws_stream, "closed", None), bool):
            raise HypercornLayoutChanged("WSStream.closed is not a bool")
        # What send_message needs.
        if not inspect.iscoroutinefunction(getattr(ws_stream, "send", None)):
            raise HypercornLayoutChanged("WSStream.send is not a coroutine method")
        if not isinstance(getattr(ws_stream, "stream_id", None), int):
            raise HypercornLayoutChanged("WSStream.stream_id is not an int")
        if not isinstance(getattr(server, "send_lock", None), trio.Lock):
            raise HypercornLayoutChanged("TCPServer.send_lock is not a trio.Lock")
        if not inspect.iscoroutinefunction(getattr(server.protocol, "handle", None)):
            raise HypercornLayoutChanged("TCPServer.protocol.handle is not a coroutine method")
        channel = getattr(receive, "__self__", None)
        return cls(
            server,
            ws_stream,
            raw_frames=isinstance(protocol, H11Protocol),
            app_channel=channel if isinstance(channel, trio.MemoryReceiveChannel) else None,
        )

    async def send_ping(self, payload: bytes) -> bool:
        """Send a WebSocket ping with ``payload``, as Hypercorn sends its own pongs: framed
        by its wsproto connection, written through its send path (the ``TCPServer``'s send
        lock, the stream: under the write watchdog of an ``AsgiSocket`` on it).

        False if no ping can go out yet (the WebSocket is not accepted); raises
        :class:`~trio_pipe.ws.base.ConnectionClosed` once the WebSocket is closing or
        closed. Hypercorn answers nothing about the write: a failure closes the
        connection, which the socket's reader sees.
        """
        ws_stream = self.ws_stream
        if ws_stream.closed or ws_stream.state not in _PINGABLE:
            raise ConnectionClosed(ABNORMAL_CLOSURE, "closing")
        if ws_stream.state is ASGIWebsocketState.HANDSHAKE:
            return False
        # Nothing goes out (wsproto refuses the ping) once a close frame crossed.
        await ws_stream._send_wsproto_event(Ping(payload=payload))
        return True

    async def send_messages(self, messages: Sequence[bytes | str]) -> None:
        """Send WebSocket messages (bytes: binary, str: text) on the accepted WebSocket,
        their frames in one write.

        What ASGI's ``websocket.send`` does per message, without the trip through the
        app's ``send`` wrappers: the frame is made by Hypercorn's wsproto connection. Over
        HTTP/1.1 it is written as Hypercorn writes (under the connection's send lock, so
        in turn with Hypercorn's own frames; shielded, so a cancelled write never leaves
        half a frame), except that a free lock is taken without a trip through the
        scheduler: the one checkpoint of a send comes after the write, off the path a
        reply takes to the peer. Over HTTP/2 it goes through Hypercorn's send path.

        Raises :class:`~trio_pipe.ws.base.ConnectionClosed` where Hypercorn would drop
        the message silently (the client's close frame arrived, or the connection ended).
        """
        ws_stream = self.ws_stream
        if ws_stream.closed or ws_stream.state is not ASGIWebsocketState.CONNECTED:
            raise ConnectionClosed(ABNORMAL_CLOSURE, "closed")
        connection = ws_stream.connection
        try:
            frames = [
                connection.send(
                    TextMessage(data=data) if isinstance(data, str) else BytesMessage(data=data)
                )
                for data in messages
            ]
        except LocalProtocolError:  # a close frame crossed: wsproto sends nothing more
            raise ConnectionClosed(ABNORMAL_CLOSURE, "closing") from None
        frame = frames[0] if len(frames) == 1 else b"".join(frames)
        if self.raw_frames:
            await self._write(frame)
        else:
            await ws_stream.send(Data(stream_id=ws_stream.stream_id, data=frame))
        for observe in self.send_observers:
            observe(messages)

    async def _write(self, frame: bytes) -> None:
        """Write ``frame`` to the TCP stream as Hypercorn does, a free lock taken at once."""
        server = self.server
        await acquire_lock(server.send_lock)
        lost = at_once = False
        try:
            # What the kernel takes at once needs none of the stream's layers (socket_io).
            sent = send_now(os_socket(server.stream, for_writing=True), frame)
            if sent == len(frame):
                at_once = True
            else:
                with trio.CancelScope(shield=True):
                    await server.stream.send_all(frame[sent:] if sent else frame)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            lost = True
        finally:
            server.send_lock.release()
        if at_once:
            await trio.lowlevel.cancel_shielded_checkpoint()  # a write's pass, as Trio's
        elif lost:  # as Hypercorn handles a failed write: the connection is over
            await server.protocol.handle(Closed())
            raise ConnectionClosed(ABNORMAL_CLOSURE, "connection lost")

    def listen(self) -> Heard:
        """Count what the client sends on this WebSocket from now on (a pong, a message,
        any frame: each piece of data Hypercorn hands the stream), and when it ended.

        Hypercorn's read loop may be blocked in a read on the TCP stream itself when this
        is called, so wrapping the stream would miss what that read returns (a first
        pong, for a client silent since its handshake); the count is taken where the
        data reaches this WebSocket instead (``WSStream.handle``, looked up per event by
        Hypercorn's HTTP/1 and HTTP/2 protocols). Idempotent per connection.
        """
        return _ClientData.of(self.ws_stream).heard


_READ_SIZE = 65536
_PINGABLE = (ASGIWebsocketState.HANDSHAKE, ASGIWebsocketState.CONNECTED)
_OPEN = ConnectionState.OPEN


class _ClientData:
    """``WSStream.handle`` that notes each piece of the client's data and decodes the
    common frames itself (:class:`~trio_pipe.ws.frame_splitter.FrameSplitter`): whole
    messages go straight to the app's queue, as Hypercorn would put them, and wsproto gets
    the rest, whole frames only, so its state is what it would be had it read everything.
    Until the WebSocket is accepted, and once either side starts closing, wsproto reads
    it all."""

    __slots__ = ("handle", "heard", "splitter", "ws_stream")

    def __init__(self, ws_stream: WSStream) -> None:
        self.ws_stream = ws_stream
        self.handle: Callable[[Event], Awaitable[None]] = ws_stream.handle
        self.heard = Heard()
        self.splitter = FrameSplitter(ws_stream.buffer.max_length)

    @classmethod
    def of(cls, ws_stream: WSStream) -> _ClientData:
        """The wrapper on ``ws_stream``, put there if it is not yet."""
        handle = ws_stream.__dict__.get("handle")
        if isinstance(handle, _ClientData):
            return handle
        wrapper = cls(ws_stream)
        ws_stream.handle = wrapper  # type: ignore[method-assign]
        return wrapper

    async def __call__(self, event: Event) -> None:
        if not isinstance(event, Data):
            if isinstance(event, StreamClosed):
                self.heard.end()
            await self.handle(event)
            return
        self.heard.note()
        if self.splitter.passthrough:
            await self.handle(event)
        elif self.splittable():
            await self.deliver(event.data)
        else:
            held = self.splitter.stop()
            await self.handle(Data(stream_id=event.stream_id, data=held + event.data))

    def splittable(self) -> bool:
        """True while the splitter may decode: the WebSocket is accepted and open on both
        sides, and the app has its queue."""
        ws_stream = self.ws_stream
        return (
            ws_stream.app_put is not None
            and ws_stream.state is ASGIWebsocketState.CONNECTED
            and not ws_stream.closed
            and getattr(getattr(ws_stream, "connection", None), "state", None) is _OPEN
        )

    async def deliver(self, data: bytes) -> None:
        """Split ``data`` (the client's next bytes): its whole messages to the app's
        queue, the rest to wsproto, in the order they came."""
        ws_stream = self.ws_stream
        put = ws_stream.app_put
        for item in self.splitter.feed(data):
            if isinstance(item, Raw):
                await self.handle(Data(stream_id=ws_stream.stream_id, data=item.data))
            elif ws_stream.closed:  # as Hypercorn: nothing more for an ended stream
                return
            elif isinstance(item, str):
                await put({"type": "websocket.receive", "bytes": None, "text": item})
            else:
                await put({"type": "websocket.receive", "bytes": item, "text": None})


class ClientFrameReader(WrappedStream):
    """Hypercorn's TCP stream for an HTTP/1.1 WebSocket, read by the splitter first.

    Hypercorn's read loop asks its stream for bytes and hands each read to its HTTP/1
    protocol, under a timeout scope per read, which hands them to the WebSocket. Once the
    WebSocket is accepted, this layer decodes what it reads itself (:class:`_ClientData`,
    the same splitter): the client's whole messages go to the app's queue, its control
    and other frames to wsproto, and the read loop is answered only once the splitter has
    stopped (before the accept, after a close frame or a frame the splitter leaves to
    wsproto), with the bytes wsproto is to read from then on. So a message costs one read
    and no trip through Hypercorn's per-read path.

    The read that was in progress when this layer was put in place returns past it; the
    WebSocket's ``handle`` splits that one, with the same splitter, so nothing is read
    twice and nothing out of order. Not used when Hypercorn's ``read_timeout`` is set: a
    read that does not return while messages flow would end the connection.
    """

    def __init__(self, stream: trio.abc.Stream, client: _ClientData) -> None:
        super().__init__(stream)
        self._client = client
        self._socket = os_socket(stream)  # read as the stream would, without its layers

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        """The next bytes Hypercorn's own parser is to read (b"": the client is gone)."""
        client, sock = self._client, self._socket
        splitter = client.splitter
        size = max_bytes or _READ_SIZE
        while True:
            if sock is not None:
                data: bytes | bytearray = await receive_now(sock, size)
            else:
                data = await self.inner.receive_some(max_bytes)
            if not data or splitter.passthrough:
                return data
            if not client.splittable():
                return splitter.stop() + data
            client.heard.note()
            await client.deliver(data)


class _QueueAll:
    """``WSStream.app_put`` that queues a message for the app without a scheduler pass
    while the queue has room (Hypercorn's own put is a channel ``send``, which yields
    after each message). So the client's messages that arrive in one read are all queued
    in one step, and the app finds them waiting; a full queue still blocks the reader."""

    __slots__ = ("channel",)

    def __init__(self, channel: trio.MemorySendChannel[Any]) -> None:
        self.channel = channel

    async def __call__(self, message: Any) -> None:
        try:
            self.channel.send_nowait(message)
        except trio.WouldBlock:
            await self.channel.send(message)


def hypercorn_connections(app: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    """ASGI middleware: every WebSocket scope gets its :class:`HypercornConnection` under
    :data:`SCOPE_KEY` (when served by Hypercorn's Trio worker). ``serve_asgi`` applies it;
    wrap your app with it when you start Hypercorn yourself."""

    async def recorded(scope: Any, receive: Any, send: Any) -> None:
        if scope.get("type") == "websocket" and SCOPE_KEY not in scope:
            connection = HypercornConnection.from_send(send, receive)
            if connection is not None:
                scope[SCOPE_KEY] = connection
                server = connection.server
                if not isinstance(server.stream, SendOrderedStream):
                    server.stream = SendOrderedStream(server.stream)  # type: ignore[assignment]
                ws_stream = connection.ws_stream
                put = getattr(ws_stream.app_put, "__self__", None)
                if isinstance(put, trio.MemorySendChannel):
                    ws_stream.app_put = _QueueAll(put)
                client = _ClientData.of(ws_stream)
                if connection.raw_frames and server.config.read_timeout is None:
                    server.stream = ClientFrameReader(server.stream, client)  # type: ignore[assignment]
        await app(scope, receive, send)

    return recorded


class SendOrderedStream(WrappedStream):
    """Hypercorn's TCP stream, with its half-close taken in turn with its writes.

    Hypercorn 0.18 writes under a lock but half-closes (``send_eof``, when the client's
    side ended) without it. When the endpoint returns at that moment, Hypercorn's write of
    its closing frame meets the half-close, Trio raises ``BusyResourceError`` in the app's
    task, and that escapes Hypercorn's task group: the whole server stops, and any client
    can time its close to do it. In turn, the late write fails as a write to a closed
    connection, which Hypercorn expects and handles.
    """

    def __init__(self, stream: trio.abc.Stream) -> None:
        super().__init__(stream)
        self._lock = trio.Lock()

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        """Write ``data`` (after a half-close in progress, if any)."""
        await acquire_lock(self._lock)
        try:
            await self.inner.send_all(data)
        finally:
            self._lock.release()

    @property
    def writes_held(self) -> bool:
        """True while a write or the half-close is in progress."""
        return self._lock.locked()

    async def send_eof(self) -> None:
        """Half-close (after a write in progress, if any)."""
        await acquire_lock(self._lock)
        try:
            await self.inner.send_eof()  # type: ignore[attr-defined]
        finally:
            self._lock.release()


def decline_compression(scope: dict[str, Any]) -> bool:
    """Before ``accept``: answer the handshake without ``permessage-deflate`` even if the
    client offers it. True if declined (False: not served through the middleware).

    Hypercorn accepts the extension whenever a client offers it (websockets' clients, so
    Pipecat's, always do), and wsproto then compresses and decompresses every message in
    Python: for small JSON messages that costs more CPU than it saves on the wire.
    """
    connection = scope.get(SCOPE_KEY)
    if connection is None:
        return False
    connection.ws_stream.handshake.extensions = None  # the offer, as if never made
    return True
