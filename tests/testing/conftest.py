"""Small WebSocket bots for the adapter tests: trio-websocket servers on 127.0.0.1, port 0."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
import trio
import trio_websocket

Handler = Callable[[trio_websocket.WebSocketConnection], Awaitable[None]]
Serve = Callable[..., Awaitable[str]]


@pytest.fixture
def serve(nursery: trio.Nursery) -> Serve:
    """``url = await serve(handler)``: serve ``handler(ws)`` for each connection.

    ``requests``, when given, collects each handshake request (headers, path).

    The server runs in the test's nursery and stops with it. A handler that returns
    closes its connection normally (code 1000).
    """

    async def start(
        handler: Handler, requests: list[trio_websocket.WebSocketRequest] | None = None
    ) -> str:
        async def accept(request: trio_websocket.WebSocketRequest) -> None:
            if requests is not None:
                requests.append(request)
            ws = await request.accept()
            try:
                await handler(ws)
            except trio_websocket.ConnectionClosed:
                pass

        server = await nursery.start(trio_websocket.serve_websocket, accept, "127.0.0.1", 0, None)
        return f"ws://127.0.0.1:{server.port}/ws"

    return start


async def drain(ws: trio_websocket.WebSocketConnection, into: list[str | bytes]) -> None:
    """Collect everything the client sends until it closes."""
    try:
        while True:
            into.append(await ws.get_message())
    except trio_websocket.ConnectionClosed:
        pass


class Collector:
    """A bot that keeps every message the client sends; ``done`` is set when it leaves."""

    def __init__(self, greeting: list[str | bytes] | None = None) -> None:
        self.received: list[str | bytes] = []
        self.done = trio.Event()
        self.greeting = greeting or []

    async def __call__(self, ws: trio_websocket.WebSocketConnection) -> None:
        for message in self.greeting:
            await ws.send_message(message)
        await drain(ws, self.received)
        self.done.set()
