"""A lean client backend of :class:`~trio_pipe.ws.base.MessageSocket`: wsproto straight on a
Trio stream, with no reader task.

    async with open_direct_socket(url, headers={"Authorization": "..."}) as sock:
        await sock.send(b"...")
        message = await sock.receive()

trio-websocket runs a reader task per connection that parses frames and hands each
message to the caller through a memory channel: two task switches and a channel per
message. Here the task that calls :meth:`DirectSocket.receive` reads the socket and
runs the wsproto parser itself, so a message reaches its consumer in the task that waited
for it. Sends build the frame with wsproto and write it under a lock. Same interface,
errors and write watchdog as ``open_client_socket`` (``ConnectError`` when connecting,
``ConnectionClosed`` with the close code afterwards).

The trade-off: control frames (pings from the server, its close reply) are handled while
a task is in ``receive()``. Use it where one task always receives, as the proxy client's
receive loop does; a connection nobody reads does not answer the server's pings. Pings of
our own (``ping_interval``) get their pong through that receive loop too.
"""

from __future__ import annotations

import ssl
from collections import deque
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from functools import partial
from urllib.parse import urlsplit

import trio
from wsproto import ConnectionType, WSConnection
from wsproto.connection import ConnectionState
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Event,
    Message,
    Ping,
    Pong,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)
from wsproto.utilities import LocalProtocolError, RemoteProtocolError

from trio_pipe.ws.base import (
    _CANCELLED_CLOSE_TIMEOUT,
    ABNORMAL_CLOSURE,
    NORMAL_CLOSURE,
    ConnectionClosed,
    MessageSocket,
    acquire_lock,
    keepalive,
    watched,
)
from trio_pipe.ws.client import ConnectError

__all__ = ["DirectSocket", "open_direct_socket"]

PROTOCOL_ERROR = 1002
MESSAGE_TOO_BIG = 1009
_STREAM_ERRORS = (trio.BrokenResourceError, trio.ClosedResourceError, OSError)


class DirectSocket(MessageSocket):
    """wsproto over a Trio stream; the receiving task parses (see the module doc).

    Every write (messages, pongs, close frames) is under the write watchdog, so a peer
    that floods pings and never reads cannot hold the connection.
    """

    _guards_own_writes = True

    def __init__(
        self,
        stream: trio.abc.Stream,
        proto: WSConnection,
        headers: dict[str, str],
        *,
        max_message_size: int,
        receive_buffer_size: int,
        write_timeout: float | None,
        close_timeout: float = 2.0,
    ) -> None:
        super().__init__(write_timeout=write_timeout, close_timeout=close_timeout)
        self._stream = stream
        self._proto = proto
        self._response_headers = headers
        self._max_message_size = max_message_size
        self._receive_buffer_size = receive_buffer_size
        self._wire_lock = trio.Lock()  # data frames and control frames share the stream
        self._ready: deque[bytes | str | ConnectionClosed] = deque()
        self._parts: list[bytes | str] = []
        self._size = 0
        self._pings: dict[bytes, trio.Event] = {}

    @property
    def headers(self) -> dict[str, str]:
        """The server's handshake response headers (lower-case names)."""
        return self._response_headers

    # --- sending ---------------------------------------------------------------------

    async def _write(self, data: bytes) -> None:
        await acquire_lock(self._wire_lock)
        try:
            with self.guard_write():
                await self._stream.send_all(data)
        except _STREAM_ERRORS as exc:
            raise ConnectionClosed(ABNORMAL_CLOSURE, str(exc) or type(exc).__name__) from None
        finally:
            self._wire_lock.release()

    async def _send(self, data: bytes | str) -> None:
        try:
            frame = self._proto.send(Message(data=data))
        except LocalProtocolError:  # the close handshake has started
            raise ConnectionClosed(self._closing_code(), "closing") from None
        await self._write(frame)

    async def ping(self, payload: bytes) -> None:
        """Send a ping and wait for its pong (which a task in ``receive()`` delivers)."""
        event = self._pings.setdefault(payload, trio.Event())
        try:
            await self._write(self._proto.send(Ping(payload=payload)))
            await event.wait()
        finally:
            self._pings.pop(payload, None)

    # --- receiving -------------------------------------------------------------------

    async def _receive(self) -> bytes | str:
        ready = self._ready
        while not ready:
            try:
                data = await self._stream.receive_some(self._receive_buffer_size)
            except _STREAM_ERRORS as exc:
                self._lost(str(exc) or type(exc).__name__)
                break
            if not data:
                self._lost("connection lost")
                break
            try:
                self._proto.receive_data(data)
                await self._process(self._proto.events())
            except RemoteProtocolError as exc:
                await self._fail(PROTOCOL_ERROR, str(exc))
        item = ready.popleft()
        if isinstance(item, ConnectionClosed):
            ready.appendleft(item)  # every later receive raises it too
            raise item
        return item

    async def _process(self, events: Iterable[Event]) -> None:
        for event in events:
            if isinstance(event, (BytesMessage, TextMessage)):
                await self._message_part(event)
            elif isinstance(event, Ping):
                await self._control(event.response())
            elif isinstance(event, Pong):
                waiter = self._pings.get(bytes(event.payload))
                if waiter is not None:
                    waiter.set()
            elif isinstance(event, CloseConnection):
                if self._proto.state is ConnectionState.REMOTE_CLOSING:
                    await self._control(event.response())
                self._ready.append(ConnectionClosed(event.code, event.reason or ""))
                await self._close_stream()

    async def _message_part(self, event: BytesMessage | TextMessage) -> None:
        self._parts.append(event.data)
        self._size += len(event.data)
        if self._size > self._max_message_size:
            await self._fail(MESSAGE_TOO_BIG, f"message over {self._max_message_size} bytes")
            return
        if event.message_finished:
            parts, self._parts, self._size = self._parts, [], 0
            if len(parts) == 1:
                self._ready.append(parts[0])
            elif isinstance(parts[0], str):
                self._ready.append("".join(parts))  # type: ignore[arg-type]
            else:
                self._ready.append(b"".join(parts))  # type: ignore[arg-type]

    async def _control(self, event: Event) -> None:
        try:
            await self._write(self._proto.send(event))
        except (ConnectionClosed, LocalProtocolError):
            pass  # the peer is gone or closing: nothing more to answer

    async def _fail(self, code: int, reason: str) -> None:
        """Close with ``code`` because of what the peer sent; receives raise from now on."""
        if self._proto.state is ConnectionState.OPEN:
            await self._control(CloseConnection(code=code, reason=reason))
        self._ready.append(ConnectionClosed(code, reason))
        await self._close_stream()

    def _lost(self, reason: str) -> None:
        self._ready.append(ConnectionClosed(ABNORMAL_CLOSURE, reason))
        for waiter in self._pings.values():
            waiter.set()  # a ping cannot be answered any more; the caller sees the close

    def _closing_code(self) -> int:
        closed = self._closed or self._closing
        return closed.code if closed is not None else NORMAL_CLOSURE

    async def _close_stream(self) -> None:
        with trio.CancelScope(shield=True):
            await self._stream.aclose()

    # --- closing ---------------------------------------------------------------------

    async def _close(self, code: int, reason: str) -> None:
        if self._proto.state is ConnectionState.OPEN:
            await self._control(CloseConnection(code=code, reason=reason or None))
        # The base reads on until the peer's close frame, which closes the stream.

    async def _close_when_cancelled(self) -> None:
        if self._closed is not None:
            return
        self._set_closed(ConnectionClosed(NORMAL_CLOSURE, ""))
        try:
            if self._proto.state is ConnectionState.OPEN:
                frame = self._proto.send(CloseConnection(code=NORMAL_CLOSURE))
                with trio.move_on_after(_CANCELLED_CLOSE_TIMEOUT), self.guard_write():
                    await self._stream.send_all(frame)
        except (*_STREAM_ERRORS, trio.BusyResourceError, LocalProtocolError):
            pass
        finally:
            self._abort()

    def _abort(self) -> None:
        stream = self._stream
        socket = getattr(getattr(stream, "transport_stream", stream), "socket", None)
        if socket is not None:
            socket.close()


async def _handshake(
    stream: trio.abc.Stream,
    proto: WSConnection,
    url: str,
    request: Request,
    receive_buffer_size: int,
) -> tuple[dict[str, str], str | None, list[Event]]:
    """Send the upgrade request; return the response headers, the accepted subprotocol
    and the events after it."""
    await stream.send_all(proto.send(request))
    while True:
        data = await stream.receive_some(receive_buffer_size)
        if not data:
            raise ConnectError(url, "connection closed during the handshake")
        proto.receive_data(data)
        events = list(proto.events())
        for i, event in enumerate(events):
            if isinstance(event, AcceptConnection):
                headers = {
                    k.decode("latin-1").lower(): v.decode("latin-1") for k, v in event.extra_headers
                }
                return headers, event.subprotocol, events[i + 1 :]
            if isinstance(event, RejectConnection):
                raise ConnectError(
                    url, f"handshake rejected ({event.status_code})", event.status_code
                )
            if isinstance(event, RejectData):  # pragma: no cover - follows a RejectConnection
                continue


def _target(url: str) -> tuple[str, str, int, str, bool]:
    parts = urlsplit(url)
    if parts.scheme not in ("ws", "wss"):
        raise ConnectError(url, f"not a WebSocket URL (scheme {parts.scheme!r})")
    secure = parts.scheme == "wss"
    host = parts.hostname or ""
    port = parts.port or (443 if secure else 80)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    default = (secure and port == 443) or (not secure and port == 80)
    host_header = host if default else f"{host}:{port}"
    return host, host_header, port, path, secure


@asynccontextmanager
async def open_direct_socket(
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    connect_timeout: float = 10.0,
    write_timeout: float | None = 10.0,
    max_message_size: int = 16 * 1024 * 1024,
    receive_buffer_size: int = 64 * 1024,
    ssl_context: ssl.SSLContext | None = None,
    ping_interval: float | None = None,
    ping_timeout: float | None = None,
    message_queue_size: int | None = None,
    close_timeout: float = 2.0,
    subprotocols: Sequence[str] = (),
) -> AsyncIterator[DirectSocket]:
    """Connect to ``url`` and yield a :class:`DirectSocket`; closes it on exit.

    Same arguments as :func:`~trio_pipe.ws.client.open_client_socket` (``message_queue_size``
    is accepted and ignored: there is no queue), plus ``receive_buffer_size`` (bytes read
    per call), ``ssl_context`` for ``wss://`` (default: the system's trust store) and
    ``close_timeout`` (longest closing handshake before the connection is dropped).
    ``subprotocols`` are offered in the handshake; ``sock.subprotocol`` is the one the
    server accepted.
    """
    del message_queue_size  # nothing is queued ahead of the receiver
    host, host_header, port, path, secure = _target(url)
    extra = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items()]
    stream: trio.abc.Stream | None = None
    try:
        with trio.fail_after(connect_timeout):
            stream = await trio.open_tcp_stream(host, port)
            if secure:
                context = ssl_context or ssl.create_default_context()
                stream = trio.SSLStream(stream, context, server_hostname=host)
                await stream.do_handshake()
            proto = WSConnection(ConnectionType.CLIENT)
            request = Request(
                host=host_header, target=path, extra_headers=extra, subprotocols=list(subprotocols)
            )
            response_headers, subprotocol, early = await _handshake(
                stream, proto, url, request, receive_buffer_size
            )
    except trio.TooSlowError:
        await _discard(stream)
        raise ConnectError(url, f"timed out after {connect_timeout:g} s") from None
    except ConnectError:
        await _discard(stream)
        raise
    except (OSError, trio.BrokenResourceError, RemoteProtocolError) as exc:
        await _discard(stream)
        raise ConnectError(url, getattr(exc, "strerror", None) or str(exc)) from None
    sock = DirectSocket(
        stream,
        proto,
        response_headers,
        max_message_size=max_message_size,
        receive_buffer_size=receive_buffer_size,
        write_timeout=write_timeout,
        close_timeout=close_timeout,
    )
    sock.subprotocol = subprotocol
    await sock._process(early)  # messages that came with the handshake response
    async with trio.open_nursery() as nursery, watched(sock):
        if ping_interval is not None:
            pong_timeout = ping_timeout if ping_timeout is not None else ping_interval
            ping = partial(_ping, sock)
            nursery.start_soon(keepalive, sock, ping, ping_interval, pong_timeout)
        try:
            yield sock
        finally:
            nursery.cancel_scope.cancel()


async def _ping(sock: DirectSocket, serial: int) -> None:
    try:
        await sock.ping(serial.to_bytes(4, "big"))
    except LocalProtocolError:  # closing: no more pings
        raise ConnectionClosed(sock._closing_code(), "closing") from None


async def _discard(stream: trio.abc.Stream | None) -> None:
    if stream is not None:
        with trio.CancelScope(shield=True):
            await trio.aclose_forcefully(stream)
