"""Keepalive pings for a :class:`~trio_pipe.ws.base.MessageSocket`: noticing a peer that
stopped answering while the session is quiet.

:func:`keepalive` pings every so many seconds and aborts the socket when a pong is late.
A client waits for its pongs; a server behind ASGI cannot see the pongs its server reads,
so it counts anything that arrives from the client instead (:class:`Heard`,
:func:`answered_by_anything`). :func:`~trio_pipe.ws.base.watched` runs a socket's
keepalive beside its write watchdog.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import trio

from trio_pipe.ws.base import ABNORMAL_CLOSURE, ConnectionClosed, MessageSocket

__all__ = ["Heard", "answered_by_anything", "keepalive"]


class Heard:
    """Proof of life: a count of the times anything arrived from the peer.

    A server cannot see the pongs its ASGI server reads (ASGI has no ping API); it sees
    that data arrived (the backend calls :meth:`note` for each read). Any data after a
    ping answers it: a pong, a message or the peer's own ping all say that its process
    runs. :meth:`end` when the connection is gone, so a waiter does not wait for nothing.
    """

    __slots__ = ("_ended", "_waiter", "count")

    def __init__(self) -> None:
        self.count = 0
        self._waiter: trio.Event | None = None
        self._ended = False

    def note(self) -> None:
        """Something arrived from the peer."""
        self.count += 1
        self._wake()

    def end(self) -> None:
        """The connection is gone: waiters raise :class:`ConnectionClosed`."""
        self._ended = True
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            waiter.set()

    async def since(self, mark: int) -> None:
        """Return once something arrived after ``count`` was ``mark``; raise
        :class:`ConnectionClosed` if the connection ended before."""
        while self.count == mark:
            if self._ended:
                raise ConnectionClosed(ABNORMAL_CLOSURE, "connection lost")
            if self._waiter is None:
                self._waiter = trio.Event()
            await self._waiter.wait()


def answered_by_anything(
    send_ping: Callable[[bytes], Awaitable[bool]], heard: Heard
) -> Callable[[int], Awaitable[None]]:
    """A ``ping`` for :func:`keepalive` where any data from the peer after the ping counts
    as its pong. ``send_ping(payload)`` returns False when no ping could go out yet (the
    handshake is not done): that round then waits for nothing."""

    async def ping(serial: int) -> None:
        mark = heard.count
        if await send_ping(serial.to_bytes(4, "big")):
            await heard.since(mark)

    return ping


async def keepalive(
    sock: MessageSocket,
    ping: Callable[[int], Awaitable[object]],
    interval: float,
    pong_timeout: float,
) -> None:
    """Ping every ``interval`` s; abort ``sock`` when a pong is ``pong_timeout`` s late
    (1006, "no pong within ..."), which every operation on ``sock`` then raises.

    ``ping(n)`` sends the n-th ping and returns once its pong arrived; it raises
    :class:`ConnectionClosed` when the connection is gone, which ends this. The pong's
    deadline is also armed on the socket's watchdog (run by :func:`watched`), so it holds
    even while the ping's write is stuck where no cancellation reaches (a server's
    shielded write).
    """
    serial = 0
    while sock.is_open:
        await trio.sleep(interval)
        if not sock.is_open:
            return  # closing meanwhile: no pings during the closing handshake
        serial += 1
        late = ConnectionClosed(ABNORMAL_CLOSURE, f"no pong within {pong_timeout:g} s")
        token = sock._arm(pong_timeout, late)
        try:
            with trio.move_on_after(pong_timeout) as scope:
                try:
                    await ping(serial)
                except ConnectionClosed:
                    return  # closed meanwhile: the receiver reports it
        finally:
            sock._deadlines.pop(token, None)
        if scope.cancelled_caught:
            sock.abort(late.reason)
            return
