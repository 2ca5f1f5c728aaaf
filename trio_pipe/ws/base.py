"""A message socket: the narrow WebSocket interface the proxies and transports use.

Two backends implement it: :mod:`trio_pipe.ws.client` (trio-websocket, the client side)
and :mod:`trio_pipe.ws.asgi` (a Starlette WebSocket served by Hypercorn, the server side).
Everything above this layer sees only :class:`MessageSocket`.

Resource handling
    A socket is opened with ``async with`` (``open_client_socket`` / ``asgi_socket``),
    which owns a small nursery for the write watchdog (and, on the client, trio-websocket's
    reader). Leaving the block closes the connection.

Error handling
    Every way a connection ends surfaces as :class:`ConnectionClosed` with the close code:
    a normal close (1000/1001), an abnormal one (1006: the peer vanished, reset), or our own
    abort. A send that does not finish within ``write_timeout`` aborts the connection (the
    TCP socket is closed under it) and raises :class:`WriteTimeout`; from then on every
    operation raises.

Why a watchdog and not ``trio.move_on_after`` around the send: Hypercorn writes to the
socket inside a shielded cancel scope, so a peer that stops reading would hold the send
forever whatever deadline surrounds it. The watchdog task closes the socket under the
blocked write instead, which Trio turns into an error in the writer.
"""

from __future__ import annotations

import abc
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import trio

from trio_pipe.wakeup import Wakeup

__all__ = ["ConnectionClosed", "MessageSocket", "WriteTimeout", "keepalive", "watched"]

NORMAL_CLOSURE = 1000
GOING_AWAY = 1001
ABNORMAL_CLOSURE = 1006


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
    :meth:`_abort`; this class adds send serialization, the write deadline and the
    uniform error.
    """

    def __init__(self, *, write_timeout: float | None = 10.0) -> None:
        self.write_timeout = write_timeout
        self._send_lock = trio.Lock()
        self._send_deadline = math.inf  # deadline of the send in progress
        self._send_serial = 0
        self._watchdog_wakeup = Wakeup()
        self._closed: ConnectionClosed | None = None
        self.messages_sent = 0
        self.messages_received = 0

    # --- the interface ---------------------------------------------------------------

    @property
    def is_open(self) -> bool:
        """True until the connection closed, in either direction, or was aborted."""
        return self._closed is None

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
        if self._closed is not None:
            raise self._closed
        await acquire_lock(self._send_lock)
        try:
            if self._closed is not None:
                raise self._closed
            self._send_serial += 1
            if self.write_timeout is not None:
                self._send_deadline = trio.current_time() + self.write_timeout
                self._watchdog_wakeup.wake()
            try:
                await self._send(data)
            except ConnectionClosed as exc:
                raise self._set_closed(exc) from None
            finally:
                self._send_deadline = math.inf
            if self._closed is not None:  # the watchdog aborted us while the send was stuck
                raise self._closed
            self.messages_sent += 1
        finally:
            self._send_lock.release()

    async def receive(self) -> bytes | str:
        """The next message; raises :class:`ConnectionClosed` when the connection ends."""
        if self._closed is not None:
            raise self._closed
        try:
            message = await self._receive()
        except ConnectionClosed as exc:
            raise self._set_closed(exc) from None
        self.messages_received += 1
        return message

    async def close(self, code: int = NORMAL_CLOSURE, reason: str = "", timeout: float = 2.0):  # noqa: ASYNC109 (a bounded close is the point)
        """Close with ``code``; give up (and abort) after ``timeout`` seconds. Idempotent."""
        if self._closed is not None:
            return
        self._set_closed(ConnectionClosed(code, reason))
        with trio.move_on_after(timeout) as scope:
            try:
                await self._close(code, reason)
            except ConnectionClosed:
                pass
        if scope.cancelled_caught:
            self._abort()

    def abort(self, reason: str = "aborted") -> None:
        """Drop the connection now, without a close handshake (code 1006, ``reason``)."""
        self._set_closed(ConnectionClosed(ABNORMAL_CLOSURE, reason))
        self._abort()

    async def _close_when_cancelled(self) -> None:
        """Close while the socket's owner is being cancelled (see :func:`watched`).

        The default is :meth:`close`; a backend whose reader task is cancelled along with
        its owner (so the peer's close reply can never be read) sends its close frame and
        drops the connection at once instead of waiting ``timeout`` for nothing.
        """
        await self.close()

    # --- backends --------------------------------------------------------------------

    @abc.abstractmethod
    async def _send(self, data: bytes | str) -> None:
        """Send one message; raise ConnectionClosed if the connection is gone."""

    @abc.abstractmethod
    async def _receive(self) -> bytes | str:
        """Receive one message; raise ConnectionClosed with the close code at the end."""

    @abc.abstractmethod
    async def _close(self, code: int, reason: str) -> None:
        """Start (and, where the backend does, complete) the close handshake."""

    @abc.abstractmethod
    def _abort(self) -> None:
        """Close the TCP socket under any blocked operation (synchronous)."""

    # --- the write watchdog ----------------------------------------------------------

    async def _run_watchdog(self) -> None:
        """Abort the connection when one send outlives its deadline (runs until cancelled)."""
        while True:
            if self._send_deadline == math.inf:
                await self._watchdog_wakeup.park()
                continue
            serial, deadline = self._send_serial, self._send_deadline
            await trio.sleep_until(deadline)
            if self._send_serial == serial and self._send_deadline == deadline:
                self._set_closed(WriteTimeout(self.write_timeout or 0.0))
                self._abort()
                return  # the connection is gone: nothing more to watch

    def _set_closed(self, exc: ConnectionClosed) -> ConnectionClosed:
        if self._closed is None:
            self._closed = exc
        return self._closed


async def keepalive(
    sock: MessageSocket,
    ping: Callable[[int], Awaitable[object]],
    interval: float,
    pong_timeout: float,
) -> None:
    """Ping every ``interval`` s; abort ``sock`` when a pong is ``pong_timeout`` s late.

    ``ping(n)`` sends the n-th ping and returns once its pong arrived; it raises
    :class:`ConnectionClosed` when the connection is gone, which ends this.
    """
    serial = 0
    while sock.is_open:
        await trio.sleep(interval)
        serial += 1
        with trio.move_on_after(pong_timeout) as scope:
            try:
                await ping(serial)
            except ConnectionClosed:
                return  # closed meanwhile: the receiver reports it
        if scope.cancelled_caught:
            sock.abort(f"no pong within {pong_timeout:g} s")
            return


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
    """Run ``sock``'s write watchdog around the block; close ``sock`` on exit.

    A block left by cancellation closes without waiting for a reply where the backend
    cannot read one any more (see :meth:`MessageSocket._close_when_cancelled`).

    An exception from the block comes out as itself, not wrapped in an exception group,
    so callers can ``except ConnectionClosed`` around ``async with``.
    """
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(sock._run_watchdog)
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
