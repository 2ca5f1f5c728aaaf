"""How WebSocket transport sessions end, over real loopback sockets (Hypercorn):

* the server session ends when its client leaves, by default, without an
  ``on_client_disconnected`` handler (``cancel_on_client_disconnected=False`` opts out);
* a session that ends (EndFrame) runs the closing handshake: what it sent before reaches
  the peer, even while the peer keeps sending (an unread receive buffer at close turns the
  close into a reset, and the peer's kernel drops what the peer had not read).

Deadlines are hang guards, not timing assertions.
"""

from __future__ import annotations

import trio
import trio.testing
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket

from tests.transports.websocket.ws_helpers import (
    Session,
    app_with_sessions,
    client_session,
    eventually,
    running,
    server_session,
)
from trio_pipe.frames import (
    InputTransportMessageFrame,
    OutputTransportMessageFrame,
    OutputTransportMessageUrgentFrame,
    TextFrame,
)
from trio_pipe.serializers.frames import ProtobufFrameSerializer
from trio_pipe.serving import serve_asgi
from trio_pipe.transports.websocket import FastAPIWebsocketParams, WebsocketClientParams
from trio_pipe.ws.asgi import asgi_socket
from trio_pipe.ws.base import ConnectionClosed
from trio_pipe.ws.client import open_client_socket

PB = ProtobufFrameSerializer()
LIMIT = 20.0
MESSAGES = 500


def params(**kw) -> FastAPIWebsocketParams:
    return FastAPIWebsocketParams(serializer=ProtobufFrameSerializer(), allowed_origins=[], **kw)


async def _serve(nursery, make) -> tuple[str, list[Session]]:
    sessions: list[Session] = []
    served = await nursery.start(serve_asgi, app_with_sessions(make, sessions))
    return served.ws_url("/ws"), sessions


async def test_a_server_session_ends_when_its_client_leaves(nursery):
    url, sessions = await _serve(nursery, lambda ws: server_session(ws, params()))
    with trio.fail_after(LIMIT):
        async with open_client_socket(url) as sock:
            await sock.send(PB.encode(TextFrame("hi")))
            await eventually(lambda: sessions and sessions[0].mid.frames(TextFrame))
        await sessions[0].finished.wait()  # no handler cancels it: the transport does
    assert sessions[0].names().count("on_client_disconnected") == 1
    assert sessions[0].task.has_finished()


async def test_opting_out_keeps_the_session_until_the_app_ends_it(nursery):
    make = lambda ws: server_session(ws, params(cancel_on_client_disconnected=False))  # noqa: E731
    url, sessions = await _serve(nursery, make)
    with trio.fail_after(LIMIT):
        async with open_client_socket(url):
            await eventually(lambda: sessions)
        await eventually(lambda: "on_client_disconnected" in sessions[0].names())
        await trio.testing.wait_all_tasks_blocked()
        assert not sessions[0].task.has_finished()  # the app decides
        await sessions[0].task.cancel()
        await sessions[0].finished.wait()


async def _talk_and_listen(sock) -> tuple[list[int], ConnectionClosed]:
    """Send all the time (a peer still talking) while reading the other side's numbered
    messages until the connection closes; the numbers and how it closed."""
    payload = PB.encode(TextFrame("x" * 200))
    numbers: list[int] = []

    async def talk() -> None:
        try:
            while True:
                await sock.send(payload)
                await trio.lowlevel.checkpoint()
        except ConnectionClosed:
            pass

    async with trio.open_nursery() as nursery:
        nursery.start_soon(talk)
        try:
            while True:
                frame = PB.decode(await sock.receive())
                if isinstance(frame, InputTransportMessageFrame):
                    numbers.append(frame.message["n"])
        except ConnectionClosed as exc:
            closed = exc
        nursery.cancel_scope.cancel()
    return numbers, closed


async def test_a_server_session_that_ends_delivers_everything_it_sent(nursery):
    def make(websocket: WebSocket) -> Session:
        session = server_session(websocket, params())

        @session.transport.event_handler("on_client_connected")
        async def talk(transport, ws) -> None:
            await session.push(
                *(OutputTransportMessageFrame(message={"n": i}) for i in range(MESSAGES))
            )
            await session.task.stop_when_done()

        return session

    url, _ = await _serve(nursery, make)
    for _ in range(5):
        with trio.fail_after(LIMIT):
            async with open_client_socket(url) as sock:
                got, closed = await _talk_and_listen(sock)
        assert got == list(range(MESSAGES))
        assert closed.code == 1000


async def test_a_client_session_that_ends_delivers_everything_it_sent(nursery):
    counts: list[int] = []

    async def endpoint(websocket: WebSocket) -> None:
        """A server that talks all the time and counts the client's messages."""
        await websocket.accept()
        async with asgi_socket(websocket) as sock:
            got, _ = await _talk_and_listen(sock)
        counts.append(len(got))

    served = await nursery.start(serve_asgi, Starlette(routes=[WebSocketRoute("/ws", endpoint)]))
    for run in range(5):
        session = client_session(served.ws_url("/ws"), WebsocketClientParams())
        with trio.fail_after(LIMIT):
            async with running(session):
                await session.push(
                    *(OutputTransportMessageUrgentFrame(message={"n": i}) for i in range(MESSAGES))
                )
                await session.task.stop_when_done()
            await eventually(lambda: len(counts) > run)  # noqa: B023 (awaited here)
        assert counts[run] == MESSAGES
