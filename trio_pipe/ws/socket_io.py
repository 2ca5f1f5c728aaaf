"""Reads and writes on the OS socket under a Trio ``SocketStream``, as Trio does them,
without its per-call layers.

A ``SocketStream`` read or write passes a conflict detector, an error-translating context
manager, a memoryview and the socket wrapper's try-then-wait helper before the system
call; under Hypercorn a write adds a shielded cancel scope and two wrapping streams. On a
WebSocket that reads and writes a frame per message, those layers cost more than the
calls themselves. :func:`receive_now` and :func:`send_now` make the same system calls with
the same checkpoints (a cancellation check before, a scheduler pass after or while
waiting) and the same errors (``ClosedResourceError`` for a closed socket,
``BrokenResourceError`` for a broken connection).

Resource handling
    Nothing is held: the socket stays its stream's. A caller must have the direction it
    uses to itself (one reader; writes under the lock every write on the stream takes),
    as Trio's conflict detector would otherwise insist.

Error handling
    :func:`send_now` never raises: what the kernel did not take at once (no room, or an
    error) is left to the stream's own write, which waits for room or fails the way its
    caller already handles.
"""

from __future__ import annotations

import errno
import socket

import trio

from trio_pipe.ws.base import WrappedStream

__all__ = ["os_socket", "receive_now", "send_now"]

_CLOSED = {errno.EBADF, errno.ENOTSOCK}


def os_socket(stream: trio.abc.Stream, *, for_writing: bool = False) -> socket.socket | None:
    """The OS socket under ``stream`` (a Trio ``SocketStream``, possibly in
    :class:`~trio_pipe.ws.base.WrappedStream` layers); None for any other stream (TLS,
    in-memory, ...), and ``for_writing`` while a layer holds writes back or the stream was
    shut down for writing: then the stream is used the usual way."""
    while isinstance(stream, WrappedStream):
        if for_writing and stream.writes_held:
            return None
        stream = stream.inner
    if not isinstance(stream, trio.SocketStream):
        return None
    sock = stream.socket
    if for_writing and sock.did_shutdown_SHUT_WR:
        return None
    raw = getattr(sock, "_sock", None)  # trio's socket wrapper keeps the stdlib one here
    return raw if isinstance(raw, socket.socket) else None


async def receive_now(sock: socket.socket, max_bytes: int) -> bytes:
    """``SocketStream.receive_some`` on ``sock``: up to ``max_bytes`` (b"": end of stream)."""
    await trio.lowlevel.checkpoint_if_cancelled()
    try:
        data = sock.recv(max_bytes)
    except BlockingIOError:
        pass
    except OSError as exc:
        raise _stream_error(exc) from None
    else:
        await trio.lowlevel.cancel_shielded_checkpoint()
        return data
    while True:
        await trio.lowlevel.wait_readable(sock)
        try:
            return sock.recv(max_bytes)
        except BlockingIOError:
            continue
        except OSError as exc:
            raise _stream_error(exc) from None


def send_now(sock: socket.socket | None, data: bytes) -> int:
    """Bytes of ``data`` the kernel took at once (0: none, or no ``sock``). The caller
    takes the scheduler pass of the write after it (``cancel_shielded_checkpoint``, as
    Trio's sends do) and writes any rest through its stream."""
    if sock is None:
        return 0
    try:
        return sock.send(data)
    except OSError:  # BlockingIOError (no room), or an error the stream's write reports
        return 0


def _stream_error(exc: OSError) -> trio.ClosedResourceError | trio.BrokenResourceError:
    if exc.errno in _CLOSED:
        return trio.ClosedResourceError("this socket was already closed")
    return trio.BrokenResourceError(f"socket connection broken: {exc}")
