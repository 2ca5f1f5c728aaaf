"""Shared by the ws seam tests: an app that hands each accepted socket to a handler."""

from __future__ import annotations

import trio
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import WebSocketRoute

from trio_pipe.ws.asgi import asgi_socket
from trio_pipe.ws.base import ConnectionClosed


def app_with(handler) -> Starlette:
    """``/ws`` accepts (or refuses with the status in an ``X-Refuse`` header) and runs
    ``handler(sock)`` on the accepted socket (write timeout 0.5 s)."""

    async def endpoint(websocket) -> None:
        if websocket.headers.get("x-refuse"):
            response = PlainTextResponse("no", status_code=int(websocket.headers["x-refuse"]))
            await websocket.send_denial_response(response)
            return
        await websocket.accept()
        async with asgi_socket(websocket, write_timeout=0.5) as sock:
            await handler(sock)

    return Starlette(routes=[WebSocketRoute("/ws", endpoint)])


async def echo(sock) -> None:
    """Send every message back until the connection closes."""
    while True:
        try:
            message = await sock.receive()
        except ConnectionClosed:
            return
        await sock.send(message)


class CloseRecorder:
    """A handler that waits for one message or the end, and records how it ended."""

    def __init__(self) -> None:
        self.got: list[ConnectionClosed] = []
        self.done = trio.Event()

    async def __call__(self, sock) -> None:
        try:
            await sock.receive()
        except ConnectionClosed as exc:
            self.got.append(exc)
        self.done.set()
