"""The client backend of :class:`~trio_pipe.ws.base.MessageSocket`, on trio-websocket.

    async with open_client_socket(url, headers={"Authorization": "..."}) as sock:
        await sock.send(b"...")
        message = await sock.receive()

Connecting raises :class:`ConnectError` (refused, unreachable, timed out, or the server
rejected the handshake, with its status). trio-websocket reports normal closes as well as
abnormal ones, which the proxy client relies on to fire ``on_disconnected`` exactly once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from functools import partial

import trio
import trio_websocket
from wsproto.connection import ConnectionState
from wsproto.events import CloseConnection
from wsproto.utilities import LocalProtocolError

from trio_pipe.ws.base import (
    _CANCELLED_CLOSE_TIMEOUT,
    ABNORMAL_CLOSURE,
    NORMAL_CLOSURE,
    ConnectionClosed,
    GuardedStream,
    MessageSocket,
    keepalive,
    watched,
)

__all__ = ["ClientSocket", "ConnectError", "open_client_socket"]


class ConnectError(ConnectionError):
    """The WebSocket connection could not be opened."""

    def __init__(self, url: str, reason: str, status: int | None = None) -> None:
        super().__init__(f"cannot connect to {url}: {reason}")
        self.url = url
        self.reason = reason
        self.status = status


class ClientSocket(MessageSocket):
    """A trio-websocket connection as a :class:`MessageSocket`.

    The connection's stream is wrapped in a :class:`~trio_pipe.ws.base.GuardedStream`, so
    every write (trio-websocket's pongs and close frames too) is under the write watchdog.
    """

    _guards_own_writes = True

    def __init__(self, ws: trio_websocket.WebSocketConnection, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._ws = ws
        stream = getattr(ws, "_stream", None)
        if stream is not None and not isinstance(stream, GuardedStream):
            ws._stream = GuardedStream(stream, self)
        else:  # another trio-websocket layout: our sends are still watched
            self._guards_own_writes = False

    @property
    def headers(self) -> dict[str, str]:
        """The server's handshake response headers."""
        return {
            k.decode("latin-1").lower(): v.decode("latin-1") for k, v in self._ws.handshake_headers
        }

    @property
    def connection(self) -> trio_websocket.WebSocketConnection:
        """The underlying trio-websocket connection."""
        return self._ws

    async def _send(self, data: bytes | str) -> None:
        try:
            await self._ws.send_message(data)
        except trio_websocket.ConnectionClosed as exc:
            raise _closed(exc) from None
        except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            raise ConnectionClosed(ABNORMAL_CLOSURE, str(exc) or type(exc).__name__) from None

    async def _receive(self) -> bytes | str:
        try:
            return await self._ws.get_message()
        except trio_websocket.ConnectionClosed as exc:
            raise _closed(exc) from None

    async def _close(self, code: int, reason: str) -> None:
        # trio-websocket's aclose() drops every message that arrives after it; send the
        # close frame alone so they still reach receive() until the server's reply.
        send = getattr(self._ws, "_send", None)
        proto = getattr(self._ws, "_wsproto", None)
        if send is None or proto is None:
            await self._ws.aclose(code, reason or None)
            return
        if proto.state is not ConnectionState.OPEN:
            return
        try:
            await send(CloseConnection(code=code, reason=reason or None))
        except trio_websocket.ConnectionClosed as exc:
            raise _closed(exc) from None
        except LocalProtocolError:
            pass  # the server's close crossed ours: its frame ends the reading

    def _closed_cleanly(self) -> None:
        self._abort()  # nothing unread is left: the TCP close is a plain FIN

    async def _close_when_cancelled(self) -> None:
        # trio-websocket's reader runs in a nursery inside the cancelled scope, so it is
        # gone and aclose() would wait its whole timeout for a reply nobody reads. Send
        # the close frame (briefly: the peer may not be reading) and drop the connection.
        if self._closed is not None:
            return
        self._set_closed(ConnectionClosed(NORMAL_CLOSURE, ""))
        try:
            proto = self._ws._wsproto
            if proto.state is ConnectionState.OPEN:
                data = proto.send(CloseConnection(code=NORMAL_CLOSURE))
                with trio.move_on_after(_CANCELLED_CLOSE_TIMEOUT):
                    await self._ws._stream.send_all(data)
        except (
            AttributeError,
            trio.BrokenResourceError,
            trio.BusyResourceError,
            trio.ClosedResourceError,
            LocalProtocolError,
        ):
            pass  # nothing more to say to this peer
        finally:
            self._abort()

    def _abort(self) -> None:
        # trio-websocket has no public abort; closing the TCP socket wakes any task blocked
        # on it with an error, which trio-websocket turns into a 1006 close.
        stream = getattr(self._ws, "_stream", None)
        socket = getattr(getattr(stream, "transport_stream", stream), "socket", None)
        if socket is not None:
            socket.close()


async def _ping(sock: ClientSocket, serial: int) -> None:
    try:
        await sock.connection.ping(serial.to_bytes(4, "big"))
    except trio_websocket.ConnectionClosed as exc:
        raise _closed(exc) from None
    except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
        raise ConnectionClosed(ABNORMAL_CLOSURE, str(exc)) from None
    except LocalProtocolError:  # our closing handshake has started
        raise ConnectionClosed(NORMAL_CLOSURE, "closing") from None


def _closed(exc: trio_websocket.ConnectionClosed) -> ConnectionClosed:
    reason = exc.reason
    if reason is None:
        return ConnectionClosed(ABNORMAL_CLOSURE, "")
    return ConnectionClosed(reason.code, reason.reason or "")


@asynccontextmanager
async def open_client_socket(
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    connect_timeout: float = 10.0,
    write_timeout: float | None = 10.0,
    max_message_size: int = 16 * 1024 * 1024,
    message_queue_size: int = 64,
    ping_interval: float | None = None,
    ping_timeout: float | None = None,
    close_timeout: float = 2.0,
    subprotocols: Sequence[str] = (),
) -> AsyncIterator[ClientSocket]:
    """Connect to ``url`` and yield a :class:`ClientSocket`; closes it on exit.

    With ``ping_interval``, a WebSocket ping goes out every ``ping_interval`` seconds and
    a pong must come back within ``ping_timeout`` (default: the interval); otherwise the
    connection is aborted and every operation raises :class:`ConnectionClosed` (1006).
    That detects a server that vanished without closing the TCP connection (a frozen
    host, a network partition), which would otherwise look alive for as long as nothing
    is sent. ``close_timeout`` bounds the closing handshake. ``subprotocols`` are offered
    in the handshake; ``sock.subprotocol`` is the one the server accepted.
    """
    extra = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items()]
    try:
        async with trio.open_nursery() as nursery:
            try:
                with trio.fail_after(connect_timeout):
                    ws = await trio_websocket.connect_websocket_url(
                        nursery,
                        url,
                        extra_headers=extra,
                        subprotocols=list(subprotocols),
                        max_message_size=max_message_size,
                        message_queue_size=message_queue_size,
                    )
            except trio.TooSlowError:
                raise ConnectError(url, f"timed out after {connect_timeout:g} s") from None
            except trio_websocket.ConnectionRejected as exc:
                raise _rejected(url, exc) from None
            except trio_websocket.HandshakeError as exc:
                raise ConnectError(url, f"handshake failed: {exc}") from None
            except OSError as exc:
                raise ConnectError(url, exc.strerror or str(exc)) from None
            client = ClientSocket(ws, write_timeout=write_timeout, close_timeout=close_timeout)
            client.subprotocol = ws.subprotocol
            async with watched(client) as sock:
                if ping_interval is not None:
                    timeout = ping_timeout if ping_timeout is not None else ping_interval
                    ping = partial(_ping, sock)
                    nursery.start_soon(keepalive, sock, ping, ping_interval, timeout)
                yield sock  # type: ignore[misc]
            nursery.cancel_scope.cancel()  # trio-websocket's reader
    except BaseExceptionGroup as group:
        # Surface a single ConnectError (or other single error) as itself, not a group.
        if len(group.exceptions) == 1:
            exc = group.exceptions[0]
            if isinstance(exc, trio_websocket.ConnectionRejected):
                # A refusal with a body is raised by trio-websocket's reader task, not by
                # connect_websocket_url, so it arrives here.
                raise _rejected(url, exc) from None
            raise exc from None
        raise


def _rejected(url: str, exc: trio_websocket.ConnectionRejected) -> ConnectError:
    return ConnectError(url, f"handshake rejected ({exc.status_code})", exc.status_code)
