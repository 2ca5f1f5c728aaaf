"""A message socket: the narrow WebSocket interface the proxies and transports use.

Two drivers implement it: :mod:`trio_pipe.ws.client` (the client side: the sans-I/O
:mod:`trio_pipe.ws.protocol` over a Trio stream) and :mod:`trio_pipe.ws.asgi` (a Starlette
WebSocket served by Hypercorn, the server side). Everything above this layer sees only
:class:`MessageSocket`.

Resource handling
    A socket is opened with ``async with`` (``open_client_socket`` / ``asgi_socket``),
    which owns a small nursery for the write watchdog and the keepalive pings, if any
    (``trio_pipe.ws.keepalive``: the client waits for its pongs, a server for anything at
    all from its client). Leaving the block closes the connection.

Error handling
    Every way a connection ends surfaces as :class:`ConnectionClosed` with the close code:
    a normal close (1000/1001), an abnormal one (1006: the peer vanished, reset), a message
    over the size limit (1009), or our own abort. A write that does not finish within
    ``write_timeout`` aborts the connection (the TCP socket is closed under it) and raises
    :class:`WriteTimeout`; from then on every operation raises. The watchdog covers every
    write on the connection, not only :meth:`MessageSocket.send`: pongs and close frames,
    including those a server below writes on its own (:class:`GuardedStream`), so a peer
    that floods pings and never reads cannot hold a connection either.

Closing
    :meth:`MessageSocket.close` is the WebSocket closing handshake: sends stop, but what
    the peer still sends is read (and delivered to a task in ``receive()``) until its close
    frame, then the TCP connection ends with nothing unread. Dropping a socket with unread
    data makes the kernel send a reset, and the peer's kernel then discards whatever its
    application had not read yet: a graceful end would lose messages. After
    ``close_timeout`` the connection is aborted. Leaving a :func:`watched` block by
    cancellation is not graceful: the close frame goes out and nothing more is read.

Why a watchdog and not ``trio.move_on_after`` around the send: Hypercorn writes to the
socket inside a shielded cancel scope, so a peer that stops reading would hold the send
forever whatever deadline surrounds it. The watchdog task closes the socket under the
blocked write instead, which Trio turns into an error in the writer.
"""

from __future__ import annotations

import abc
import math
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import trio

from trio_pipe.wakeup import Wakeup

__all__ = [
    "ConnectionClosed",
    "GuardedStream",
    "MessageSocket",
    "WrappedStream",
    "WriteTimeout",
    "watched",
]

NORMAL_CLOSURE = 1000
GOING_AWAY = 1001
ABNORMAL_CLOSURE = 1006

# How long a close frame may take to go out while the socket's owner is being cancelled.
_CANCELLED_CLOSE_TIMEOUT = 0.5


class ConnectionClosed(Exception):
    """The WebSocket connection is closed (or was aborted)."""

    def __init__(self, code: int = ABNORMAL_CLOSURE, reason: str = "") -> None:
        super().__init__(f"connection closed ({code}{': ' + reason if reason else ''})")
        self.code = code
        self.reason = reason

    @property
    def normal(self) -> bool:
        """True for a clean close (1000 or 1001)."""
        return self.code in (NORMAL_CLOSURE, GOING_AWAY)


class WriteTimeout(ConnectionClosed):
    """A send did not finish within ``write_timeout``; the connection was aborted."""

    def __init__(self, timeout: float) -> None:
        super().__init__(ABNORMAL_CLOSURE, f"write timed out after {timeout:g} s")
        self.timeout = timeout


class MessageSocket(abc.ABC):
    """One WebSocket connection that sends and receives whole messages.

    Subclasses implement :meth:`_send`, :meth:`_receive`, :meth:`_close` and
    :meth:`_abort`; this class adds send serialization, the write watchdog, the closing
    handshake and the uniform error.

    Closing (:meth:`close`) is the WebSocket closing handshake: from the call on, sends
    raise, but messages that arrive keep being delivered to a task in :meth:`receive`
    (or read and dropped when nobody receives) until the peer's close frame, so the TCP
    connection ends with nothing unread (an unread receive buffer turns a close into a
    reset, and the peer's kernel drops what its application had not read yet). After
    ``close_timeout`` the connection is aborted.
    """

    #: True when the backend puts every write of its own (pongs and close frames too)
    #: under the watchdog; :meth:`send` then does not arm it a second time.
    _guards_own_writes = False

    #: A backend's keepalive pings (see ``trio_pipe.ws.keepalive``), run by :func:`watched` beside
    #: the watchdog; None: the backend pings on its own, or not at all.
    _keepalive: Callable[[], Awaitable[None]] | None = None

    def __init__(self, *, write_timeout: float | None = 10.0, close_timeout: float = 2.0) -> None:
        self.write_timeout = write_timeout
        self.close_timeout = close_timeout
        self._send_lock = trio.Lock()
        self._deadlines: dict[int, tuple[float, ConnectionClosed | None]] = {}
        self._deadline_serial = 0
        self._watching_until = math.inf  # the deadline the watchdog sleeps towards
        self._watchdog_wakeup = Wakeup()
        self._closed: ConnectionClosed | None = None
        self._closing: ConnectionClosed | None = None  # our close frame is out (or going)
        # A write failed: no more sends, but what arrived before the end is still read
        # (every backend ends its receive side after what it already has).
        self._send_ended: ConnectionClosed | None = None
        self._receivers = 0  # tasks inside receive()
        self._peer_closed = trio.Event()  # a receive() saw the end of the connection
        self._closer_wakeup: trio.Event | None = None
        self.messages_sent = 0
        self.messages_received = 0
        self.subprotocol: str | None = None
        """The WebSocket subprotocol the handshake agreed on (None: none)."""

    # --- the interface ---------------------------------------------------------------

    @property
    def is_open(self) -> bool:
        """True until the connection closed, in either direction, was aborted, or we
        started closing it."""
        return self._closed is None and self._closing is None and self._send_ended is None

    @property
    def is_closing(self) -> bool:
        """True while our closing handshake runs (sends refused, receives go on)."""
        return self._closing is not None and self._closed is None

    @property
    def close_reason(self) -> ConnectionClosed | None:
        """How the connection ended, once it has."""
        return self._closed

    @property
    @abc.abstractmethod
    def headers(self) -> dict[str, str]:
        """The handshake headers (the client's request headers on the server side)."""

    async def send(self, data: bytes | str) -> None:
        """Send one message (bytes: binary frame, str: text frame), within ``write_timeout``."""
        await self._sending(self._send, data, 1)

    async def send_many(self, messages: Sequence[bytes | str]) -> None:
        """Send ``messages`` in order, each its own WebSocket message, written together
        where the backend can (one write of all their frames), within ``write_timeout``.

        The peer sees exactly what :meth:`send` per message would send; only fewer
        writes carry it. On an error, an unknown prefix of ``messages`` went out.
        """
        if messages:
            await self._sending(self._send_many, messages, len(messages))

    async def _sending(
        self, write: Callable[[Any], Awaitable[None]], what: Any, count: int
    ) -> None:
        refused = self._closed or self._closing or self._send_ended
        if refused is not None:
            raise refused
        await acquire_lock(self._send_lock)
        try:
            refused = self._closed or self._closing or self._send_ended
            if refused is not None:
                raise refused
            token = 0
            if self.write_timeout is not None and not self._guards_own_writes:
                token = self._arm(self.write_timeout)
            try:
                await write(what)
            except ConnectionClosed as exc:
                if self._closing is not None and self._closed is None:
                    raise self._closing from None  # our close overtook it: still reading
                # Not closed for receiving: a peer that closed gracefully may have sent
                # messages that are still queued; the receive side ends after them.
                if self._send_ended is None:
                    self._send_ended = exc
                raise (self._closed or self._send_ended) from None
            finally:
                if token:
                    self._deadlines.pop(token, None)
            if self._closed is not None:  # the watchdog aborted us while the send was stuck
                raise self._closed
            self.messages_sent += count
        finally:
            self._send_lock.release()

    async def receive(self) -> bytes | str:
        """The next message; raises :class:`ConnectionClosed` when the connection ends.

        During our closing handshake, messages still arrive here until the peer's close.
        """
        if self._closed is not None:
            raise self._closed
        self._receivers += 1
        try:
            message = await self._receive()
        except ConnectionClosed as exc:
            self._peer_closed.set()
            self._wake_closer()
            raise self._set_closed(exc) from None
        except BaseException:
            self._wake_closer()  # a receiver that leaves (cancelled): the closer reads
            raise
        finally:
            self._receivers -= 1
        self.messages_received += 1
        return message

    async def close(
        self,
        code: int = NORMAL_CLOSURE,
        reason: str = "",
        timeout: float | None = None,  # noqa: ASYNC109 (a bounded close is the point)
    ) -> None:
        """Run the closing handshake with ``code``; abort after ``timeout`` seconds
        (default ``close_timeout``). Idempotent.

        Sends raise from the call on; messages that arrive meanwhile still reach a task
        in :meth:`receive` (nobody receiving: they are read and dropped) until the peer's
        close frame. Returns when the connection is closed.
        """
        if self._closed is not None or self._closing is not None:
            return
        self._closing = ConnectionClosed(code, reason)
        with trio.move_on_after(self.close_timeout if timeout is None else timeout) as scope:
            try:
                await self._close(code, reason)
                await self._await_peer_close()
            except ConnectionClosed:
                pass
        self._set_closed(self._closing)
        if scope.cancelled_caught:
            self._abort()
        else:
            self._closed_cleanly()

    def abort(self, reason: str = "aborted") -> None:
        """Drop the connection now, without a close handshake (code 1006, ``reason``)."""
        self._set_closed(ConnectionClosed(ABNORMAL_CLOSURE, reason))
        self._abort()

    async def _close_when_cancelled(self) -> None:
        """Close while the socket's owner is being cancelled (see :func:`watched`).

        Cancelling is not a graceful end: the close frame goes out (briefly: the peer may
        not be reading) and nothing more is read. Backends whose reader is gone with the
        owner also drop the TCP connection here.
        """
        if self._closed is not None or self._closing is not None:
            return
        self._closing = ConnectionClosed(NORMAL_CLOSURE, "")
        with trio.move_on_after(min(self.close_timeout, _CANCELLED_CLOSE_TIMEOUT)):
            try:
                await self._close(NORMAL_CLOSURE, "")
            except ConnectionClosed:
                pass
        self._set_closed(self._closing)

    async def _await_peer_close(self) -> None:
        """Until the peer's close: a task in receive() delivers (and sees it), or we read."""
        while not self._peer_closed.is_set():
            if self._receivers:
                wakeup = self._closer_wakeup = trio.Event()
                await wakeup.wait()
                continue
            try:
                await self.receive()  # nobody else reads: drop what arrives
            except ConnectionClosed:
                return

    def _wake_closer(self) -> None:
        wakeup = self._closer_wakeup
        if wakeup is not None:
            wakeup.set()

    # --- backends --------------------------------------------------------------------

    @abc.abstractmethod
    async def _send(self, data: bytes | str) -> None:
        """Send one message; raise ConnectionClosed if the connection is gone.

        After a failed send, :meth:`_receive` must still end: once it has returned what
        arrived before the end, it raises ConnectionClosed (the base keeps receiving
        after a failed send, so a peer's graceful close loses nothing)."""

    async def _send_many(self, messages: Sequence[bytes | str]) -> None:
        """Send several messages; a backend that can write their frames at once does."""
        for data in messages:
            await self._send(data)

    @abc.abstractmethod
    async def _receive(self) -> bytes | str:
        """Receive one message; raise ConnectionClosed with the close code at the end."""

    @abc.abstractmethod
    async def _close(self, code: int, reason: str) -> None:
        """Send the close frame (the base then reads until the peer's close)."""

    def _closed_cleanly(self) -> None:  # noqa: B027 (an optional hook)
        """The handshake completed: release what the backend still holds (default: none)."""

    @abc.abstractmethod
    def _abort(self) -> None:
        """Close the TCP socket under any blocked operation (synchronous)."""

    # --- the watchdog ----------------------------------------------------------------

    def _arm(self, timeout: float, outcome: ConnectionClosed | None = None) -> int:
        """Abort the connection ``timeout`` s from now unless disarmed (``_deadlines.pop``).

        ``outcome`` is how the connection then ends (None: :class:`WriteTimeout`).
        """
        self._deadline_serial += 1
        token = self._deadline_serial
        deadline = trio.current_time() + timeout
        self._deadlines[token] = (deadline, outcome)
        if deadline < self._watching_until:
            self._watchdog_wakeup.wake()
        return token

    def guard_write(self) -> _GuardedWrite:
        """``with sock.guard_write(): await stream.send_all(...)``: one raw write (a pong,
        a close frame, a server's own write) under the write watchdog."""
        return _GuardedWrite(self)

    async def _run_watchdog(self) -> None:
        """Abort the connection when an armed deadline passes (runs until cancelled)."""
        deadlines = self._deadlines
        while True:
            if not deadlines:
                self._watching_until = math.inf
                await self._watchdog_wakeup.park()
                continue
            token = min(deadlines, key=lambda t: deadlines[t][0])
            entry = deadlines[token]
            self._watching_until = entry[0]
            with trio.move_on_at(entry[0]) as scope:
                await self._watchdog_wakeup.park()  # an earlier deadline was armed
            if scope.cancelled_caught and deadlines.get(token) is entry:
                self._watching_until = math.inf
                outcome = entry[1] or WriteTimeout(self.write_timeout or 0.0)
                self._set_closed(outcome)
                self._abort()
                self._wake_closer()
                return  # the connection is gone: nothing more to watch

    def _set_closed(self, exc: ConnectionClosed) -> ConnectionClosed:
        if self._closed is None:
            self._closed = exc
        return self._closed


class _GuardedWrite:
    """Context manager: arm the write deadline on enter, disarm on exit."""

    __slots__ = ("_sock", "_token")

    def __init__(self, sock: MessageSocket) -> None:
        self._sock = sock
        self._token = 0

    def __enter__(self) -> None:
        timeout = self._sock.write_timeout
        if timeout is not None:
            self._token = self._sock._arm(timeout)

    def __exit__(self, *exc_info: object) -> None:
        if self._token:
            self._sock._deadlines.pop(self._token, None)


class WrappedStream(trio.abc.HalfCloseableStream):
    """A stream that passes everything to the one it wraps (``inner``); subclasses change
    what they must (how writes or the half-close happen)."""

    def __init__(self, stream: trio.abc.Stream) -> None:
        self.inner = stream

    @property
    def writes_held(self) -> bool:
        """True while this layer holds writes back (a half-close in progress): nothing may
        be written past it (see :mod:`trio_pipe.ws.socket_io`)."""
        return False

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        """As the wrapped stream."""
        await self.inner.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        """As the wrapped stream."""
        await self.inner.wait_send_all_might_not_block()

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        """As the wrapped stream."""
        return await self.inner.receive_some(max_bytes)

    async def send_eof(self) -> None:
        """As the wrapped stream (``AttributeError`` when it cannot half-close)."""
        await self.inner.send_eof()  # type: ignore[attr-defined]

    async def aclose(self) -> None:
        """Close the wrapped stream."""
        await self.inner.aclose()

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)


class GuardedStream(WrappedStream):
    """A stream whose writes are under a :class:`MessageSocket`'s write watchdog.

    Wrapped around the TCP stream of a connection whose control frames (pongs, close
    frames) are written by code outside the socket (Hypercorn's protocol), so a peer
    that never reads cannot hold those writes forever either.
    """

    def __init__(self, stream: trio.abc.Stream, sock: MessageSocket) -> None:
        super().__init__(stream)
        self._sock = sock

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        """Write ``data``, under the watchdog."""
        with self._sock.guard_write():
            await self.inner.send_all(data)


async def acquire_lock(lock: trio.Lock) -> None:
    """Take ``lock``; without a trip through the scheduler when it is free.

    ``async with lock`` always yields once, even uncontended: a scheduler pass per message
    on a hot path. The backends' sends checkpoint anyway, so the free case skips it.
    """
    try:
        lock.acquire_nowait()
    except trio.WouldBlock:
        await lock.acquire()


def _is_cancellation(exc: BaseException) -> bool:
    if isinstance(exc, BaseExceptionGroup):
        return exc.split(trio.Cancelled)[1] is None
    return isinstance(exc, trio.Cancelled)


@asynccontextmanager
async def watched(sock: MessageSocket) -> AsyncIterator[MessageSocket]:
    """Run ``sock``'s write watchdog (and its keepalive pings, if it has them) around the
    block; close ``sock`` on exit.

    A block left by cancellation closes without waiting for a reply where the backend
    cannot read one any more (see :meth:`MessageSocket._close_when_cancelled`).

    An exception from the block comes out as itself, not wrapped in an exception group,
    so callers can ``except ConnectionClosed`` around ``async with``.
    """
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(sock._run_watchdog)
            if sock._keepalive is not None:
                nursery.start_soon(sock._keepalive)
            cancelled = False
            try:
                yield sock
            except BaseException as exc:
                cancelled = _is_cancellation(exc)
                raise
            finally:
                with trio.CancelScope(shield=True):
                    if cancelled:
                        await sock._close_when_cancelled()
                    else:
                        await sock.close()
                nursery.cancel_scope.cancel()
    except BaseExceptionGroup as group:
        if len(group.exceptions) == 1:
            raise group.exceptions[0] from None
        raise
