"""The server backend of :class:`~trio_pipe.ws.base.MessageSocket`: an accepted Starlette
WebSocket in an app served by Hypercorn under Trio.

    async def endpoint(websocket: WebSocket):
        await websocket.accept()
        async with asgi_socket(websocket) as sock:
            ...

Bounding writes under Hypercorn
    Hypercorn writes to the TCP stream inside a shielded cancel scope, so no deadline
    around ``websocket.send`` can interrupt a write to a peer that stopped reading. To
    abort, this backend finds, once at construction, the Trio stream Hypercorn serves this
    connection on (by walking from the ASGI task to Hypercorn's ``TCPServer`` in its
    ancestors) and closes its socket: Trio then fails the blocked write, Hypercorn sees the
    connection closed and ends it. If the stream cannot be found (another server, another
    Hypercorn layout), abort still marks the socket closed and logs a warning once: our side
    stops using it, but a write already blocked can only end when the peer does.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import trio
from starlette.websockets import WebSocket, WebSocketDisconnect

from trio_pipe.ws.base import ABNORMAL_CLOSURE, ConnectionClosed, MessageSocket, watched

__all__ = ["AsgiSocket", "asgi_socket"]

logger = logging.getLogger(__name__)


class AsgiSocket(MessageSocket):
    """An accepted Starlette WebSocket as a :class:`MessageSocket`."""

    def __init__(self, websocket: WebSocket, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._websocket = websocket
        self._stream = _find_hypercorn_stream()

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

    async def _send(self, data: bytes | str) -> None:
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

    async def _receive(self) -> bytes | str:
        try:
            message = await self._websocket.receive()
        except (WebSocketDisconnect, RuntimeError) as exc:
            raise ConnectionClosed(getattr(exc, "code", ABNORMAL_CLOSURE), "") from None
        if message["type"] == "websocket.disconnect":
            raise ConnectionClosed(message.get("code", 1005), message.get("reason") or "")
        data = message.get("bytes")
        return data if data is not None else message.get("text") or ""

    async def _close(self, code: int, reason: str) -> None:
        try:
            await self._websocket.close(code, reason or None)
        except (RuntimeError, OSError, WebSocketDisconnect):
            pass  # already closed by the peer: nothing to send

    def _abort(self) -> None:
        stream = self._stream
        if stream is None:
            logger.warning("cannot abort this WebSocket's TCP connection (not Hypercorn/Trio?)")
            return
        socket = getattr(getattr(stream, "transport_stream", stream), "socket", None)
        if socket is not None:
            socket.close()


def _find_hypercorn_stream() -> trio.abc.Stream | None:
    """The Trio stream of the Hypercorn connection that runs the current ASGI task.

    Walks up from the current task through its ancestors' coroutine frames, looking for
    Hypercorn's ``TCPServer`` (``self.stream``) or the accepted stream that Trio's
    ``serve_listeners`` handed to it.
    """
    try:
        from hypercorn.trio.tcp_server import TCPServer
    except ImportError:  # pragma: no cover - hypercorn is a dependency
        return None
    streams = (trio.SocketStream, trio.SSLStream)
    try:
        task: trio.lowlevel.Task | None = trio.lowlevel.current_task()
    except RuntimeError:  # not called from a Trio task
        return None
    while task is not None:
        coro: Any = task.coro
        while coro is not None:
            frame = getattr(coro, "cr_frame", None)
            if frame is not None:
                local_vars = frame.f_locals
                owner = local_vars.get("self")
                if isinstance(owner, TCPServer):
                    return owner.stream
                stream = local_vars.get("stream")
                if isinstance(stream, streams):
                    return stream
            coro = getattr(coro, "cr_await", None)
        nursery = task.parent_nursery
        task = nursery.parent_task if nursery is not None else None
    return None


@asynccontextmanager
async def asgi_socket(
    websocket: WebSocket, *, write_timeout: float | None = 10.0
) -> AsyncIterator[AsgiSocket]:
    """Wrap an accepted ``websocket``; closes it (code 1000) on exit if still open."""
    async with watched(AsgiSocket(websocket, write_timeout=write_timeout)) as sock:
        yield sock  # type: ignore[misc]
