"""The WebSocket client: :mod:`trio_pipe.ws.protocol` driven over a Trio stream.

    async with open_client_socket(url, headers={"Authorization": "..."}) as sock:
        await sock.send(b"...")
        message = await sock.receive()

This module only moves bytes: the protocol decides, the driver writes what it returns and
feeds it what the socket reads. There is no reader task: the task that calls
:meth:`ClientSocket.receive` reads the socket and runs the parser itself, so a message
reaches its consumer in the task that waited for it (a reader task with a channel costs
two task switches per message). Sends frame the message and write it under a lock. Over
plain TCP both go to the OS socket through :mod:`trio_pipe.ws.socket_io` (Trio's
checkpoints and errors, without the stream's per-call layers).

Resource handling
    ``open_client_socket`` owns the TCP (or TLS) stream and a small nursery for the write
    watchdog and the optional keepalive pings; leaving the block closes the connection
    (the closing handshake, or a short close frame when cancelled).

Error handling
    Connecting raises :class:`ConnectError` (refused, unreachable, timed out, not a
    WebSocket URL, or the server rejected the upgrade, with its status). Afterwards every
    way the connection ends is :class:`~trio_pipe.ws.base.ConnectionClosed` with the code.

The trade-off of having no reader task: control frames (the server's pings, its close
reply) are answered while a task is in ``receive()``. Every user in trio_pipe (the proxy
client, the client transport, the voice-agent adapter) keeps one task receiving; a
connection nobody reads does not answer pings. Our own pings (``ping_interval``) get
their pong through that receive loop too.
"""

from __future__ import annotations

import ssl
from collections import deque
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from functools import partial

import trio

from trio_pipe._errors import single_error
from trio_pipe.ws.base import (
    _CANCELLED_CLOSE_TIMEOUT,
    ABNORMAL_CLOSURE,
    NORMAL_CLOSURE,
    ConnectionClosed,
    MessageSocket,
    acquire_lock,
    watched,
)
from trio_pipe.ws.keepalive import keepalive
from trio_pipe.ws.protocol import (
    Accepted,
    ClientProtocol,
    Closed,
    Event,
    InvalidState,
    Pong,
    Rejected,
)
from trio_pipe.ws.socket_io import os_socket, receive_now, send_now

__all__ = ["ClientSocket", "ConnectError", "open_client_socket"]

_STREAM_ERRORS = (trio.BrokenResourceError, trio.ClosedResourceError, OSError)


class ConnectError(ConnectionError):
    """The WebSocket connection could not be opened."""

    def __init__(self, url: str, reason: str, status: int | None = None) -> None:
        super().__init__(f"cannot connect to {url}: {reason}")
        self.url = url
        self.reason = reason
        self.status = status


class ClientSocket(MessageSocket):
    """A client connection as a :class:`~trio_pipe.ws.base.MessageSocket` (module doc).

    Every write (messages, pongs, close frames) is under the write watchdog, so a server
    that floods pings and never reads cannot hold the connection.
    """

    _guards_own_writes = True

    def __init__(
        self,
        stream: trio.abc.Stream,
        proto: ClientProtocol,
        *,
        receive_buffer_size: int = 64 * 1024,
        write_timeout: float | None = 10.0,
        close_timeout: float = 2.0,
    ) -> None:
        super().__init__(write_timeout=write_timeout, close_timeout=close_timeout)
        self._stream = stream
        self._socket = os_socket(stream)  # used as the stream would be, without its layers
        self._proto = proto
        self._receive_buffer_size = receive_buffer_size
        self._wire_lock = trio.Lock()  # data frames and control frames share the stream
        self._ready: deque[bytes | str | ConnectionClosed] = deque()
        self._pings: dict[bytes, trio.Event] = {}
        self._ended: ConnectionClosed | None = None  # how reading ended, for ping waiters
        self.subprotocol = proto.subprotocol

    @property
    def headers(self) -> dict[str, str]:
        """The server's handshake response headers (lower-case names)."""
        return self._proto.response_headers

    # --- sending ---------------------------------------------------------------------

    async def _write(self, data: bytes) -> None:
        await acquire_lock(self._wire_lock)
        at_once = False
        try:
            await trio.lowlevel.checkpoint_if_cancelled()  # as the stream's send would
            # What the kernel takes at once needs none of the stream's layers (socket_io);
            # the client never half-closes, so the socket found at the start serves writes.
            sent = send_now(self._socket, data)
            if sent == len(data):
                at_once = True
            else:
                with self.guard_write():
                    await self._stream.send_all(data[sent:] if sent else data)
        except _STREAM_ERRORS as exc:
            reason = str(exc) or type(exc).__name__
            if self._ended is None:
                self._lost(reason)  # the reader ends after what it already has
            raise ConnectionClosed(ABNORMAL_CLOSURE, reason) from None
        finally:
            self._wire_lock.release()
        if at_once:
            await trio.lowlevel.cancel_shielded_checkpoint()  # a write's pass, as Trio's

    async def _send(self, data: bytes | str) -> None:
        try:
            frame = self._proto.send(data)
        except InvalidState:  # our closing handshake has started, or the peer's
            raise ConnectionClosed(self._closing_code(), "closing") from None
        await self._write(frame)

    async def _send_many(self, messages: Sequence[bytes | str]) -> None:
        try:
            frames = [self._proto.send(data) for data in messages]
        except InvalidState:
            raise ConnectionClosed(self._closing_code(), "closing") from None
        await self._write(b"".join(frames))

    async def ping(self, payload: bytes) -> None:
        """Send a ping and wait for its pong (which a task in ``receive()`` delivers)."""
        event = self._pings.setdefault(payload, trio.Event())
        try:
            try:
                frame = self._proto.ping(payload)
            except InvalidState:
                raise ConnectionClosed(self._closing_code(), "closing") from None
            await self._write(frame)
            await event.wait()
            if self._ended is not None:
                raise self._ended  # woken because the connection ended, not by a pong
        finally:
            self._pings.pop(payload, None)

    # --- receiving -------------------------------------------------------------------

    async def _receive(self) -> bytes | str:
        ready = self._ready
        if ready:
            # A message read earlier: still a checkpoint, as Trio's receives are, so a
            # flood cannot starve the other tasks (a sender waiting to refill a window).
            await trio.lowlevel.checkpoint()
        while not ready:
            try:
                if self._socket is not None:
                    data = await receive_now(self._socket, self._receive_buffer_size)
                else:
                    data = await self._stream.receive_some(self._receive_buffer_size)
            except _STREAM_ERRORS as exc:
                self._lost(str(exc) or type(exc).__name__)
                break
            await self._handle(self._proto.receive(data))
        item = ready[0]
        if isinstance(item, ConnectionClosed):
            raise item  # it stays queued: every later receive raises it too
        ready.popleft()
        return item

    async def _handle(self, events: list[Event]) -> None:
        owed = self._proto.outgoing()  # pongs for the server's pings, a close reply
        if owed:
            await self._control(owed)
        ready = self._ready
        for event in events:
            if isinstance(event, (bytes, str)):
                ready.append(event)
            elif isinstance(event, Pong):
                waiter = self._pings.get(event.payload)
                if waiter is not None:
                    waiter.set()
            elif isinstance(event, Closed):
                self._end_reading(ConnectionClosed(event.code, event.reason))
                await self._close_stream()  # both close frames crossed: nothing unread

    async def _control(self, frame: bytes) -> None:
        try:
            await self._write(frame)
        except ConnectionClosed:
            pass  # the peer is gone: the reading side reports it

    def _lost(self, reason: str) -> None:
        self._end_reading(ConnectionClosed(ABNORMAL_CLOSURE, reason))

    def _end_reading(self, closed: ConnectionClosed) -> None:
        self._ready.append(closed)
        self._ended = closed
        for waiter in self._pings.values():
            waiter.set()  # a ping cannot be answered any more

    def _closing_code(self) -> int:
        closed = self._closed or self._closing
        return closed.code if closed is not None else NORMAL_CLOSURE

    async def _close_stream(self) -> None:
        with trio.CancelScope(shield=True):
            await self._stream.aclose()

    # --- closing ---------------------------------------------------------------------

    async def _close(self, code: int, reason: str) -> None:
        frame = self._proto.close(code, reason)
        if frame:
            await self._control(frame)
        # The base reads on until the peer's close frame, which closes the stream.

    async def _close_when_cancelled(self) -> None:
        if self._closed is not None:
            return
        self._set_closed(ConnectionClosed(NORMAL_CLOSURE, ""))
        try:
            frame = self._proto.close(NORMAL_CLOSURE)
            if frame:
                with trio.move_on_after(_CANCELLED_CLOSE_TIMEOUT), self.guard_write():
                    await self._stream.send_all(frame)
        except (*_STREAM_ERRORS, trio.BusyResourceError):
            pass  # nothing more to say to this peer
        finally:
            self._abort()

    def _abort(self) -> None:
        stream = self._stream
        socket = getattr(getattr(stream, "transport_stream", stream), "socket", None)
        if socket is not None:
            socket.close()


async def _connect(
    url: str,
    proto: ClientProtocol,
    ssl_context: ssl.SSLContext | None,
    receive_buffer_size: int,
) -> tuple[trio.abc.Stream, list[Event]]:
    """Open the stream and run the opening handshake; return the stream and the events
    that came with the response (early messages)."""
    target = proto.target
    stream: trio.abc.Stream = await trio.open_tcp_stream(target.host, target.port)
    try:
        if target.secure:
            context = ssl_context or ssl.create_default_context()
            stream = trio.SSLStream(stream, context, server_hostname=target.host)
            await stream.do_handshake()
        await stream.send_all(proto.handshake())
        while True:
            data = await stream.receive_some(receive_buffer_size)
            events = proto.receive(data)
            for i, event in enumerate(events):
                if isinstance(event, Accepted):
                    return stream, events[i + 1 :]
                if isinstance(event, Rejected):
                    status = event.status
                    reason = f"handshake rejected ({status})" if status else event.reason
                    raise ConnectError(url, reason, status)
            if not data:
                raise ConnectError(url, "connection closed during the handshake")
    except BaseException:
        with trio.CancelScope(shield=True):
            await trio.aclose_forcefully(stream)
        raise


@asynccontextmanager
async def open_client_socket(
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
    close_timeout: float = 2.0,
    subprotocols: Sequence[str] = (),
) -> AsyncIterator[ClientSocket]:
    """Connect to ``url`` and yield a :class:`ClientSocket`; closes it on exit.

    ``headers`` go into the upgrade request and ``subprotocols`` are offered in it
    (``sock.subprotocol`` is the one the server accepted). A message over
    ``max_message_size`` bytes closes the connection with 1009. ``receive_buffer_size``
    is the most read per call; ``ssl_context`` is for ``wss://`` (default: the system's
    trust store); ``close_timeout`` bounds the closing handshake.

    With ``ping_interval``, a WebSocket ping goes out every ``ping_interval`` seconds and
    a pong must come back within ``ping_timeout`` (default: the interval); otherwise the
    connection is aborted and every operation raises ``ConnectionClosed`` (1006). That
    detects a server that vanished without closing the TCP connection (a frozen host, a
    network partition), which would otherwise look alive for as long as nothing is sent.
    """
    try:
        proto = ClientProtocol(
            url, headers=headers, subprotocols=subprotocols, max_message_size=max_message_size
        )
    except ValueError as exc:
        raise ConnectError(url, str(exc)) from None
    try:
        with trio.fail_after(connect_timeout):
            stream, early = await _connect(url, proto, ssl_context, receive_buffer_size)
    except trio.TooSlowError:
        raise ConnectError(url, f"timed out after {connect_timeout:g} s") from None
    except ConnectError:
        raise
    except (OSError, trio.BrokenResourceError) as exc:
        raise ConnectError(url, getattr(exc, "strerror", None) or str(exc)) from None
    sock = ClientSocket(
        stream,
        proto,
        receive_buffer_size=receive_buffer_size,
        write_timeout=write_timeout,
        close_timeout=close_timeout,
    )
    await sock._handle(early)  # messages that came with the handshake response
    # The nursery (keepalive pings) is ours: what the block raises comes out as itself.
    with single_error():
        async with trio.open_nursery() as nursery, watched(sock):
            if ping_interval is not None:
                pong_timeout = ping_timeout if ping_timeout is not None else ping_interval
                ping = partial(_ping, sock)
                nursery.start_soon(keepalive, sock, ping, ping_interval, pong_timeout)
            try:
                yield sock
            finally:
                nursery.cancel_scope.cancel()


async def _ping(sock: ClientSocket, serial: int) -> None:
    await sock.ping(serial.to_bytes(4, "big"))
