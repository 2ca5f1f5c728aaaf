"""Server keepalive pings under Hypercorn: a client process frozen while its session is
idle is dropped; a live idle client keeps its session.

TCP keepalive cannot catch the frozen one (its kernel answers the probes and nothing is
left unacknowledged for TCP_USER_TIMEOUT), so these servers run without it: what ends the
session is the ping that nothing answers.
"""

from __future__ import annotations

import copy

import pytest
import trio
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute

from tests.ws.idle_process import freeze, idle_client
from trio_pipe.serving import serve_asgi
from trio_pipe.ws.asgi import AsgiSocket, asgi_socket
from trio_pipe.ws.base import ABNORMAL_CLOSURE, ConnectionClosed
from trio_pipe.ws.client import open_client_socket
from trio_pipe.ws.hypercorn_adapter import SCOPE_KEY, HypercornConnection, HypercornLayoutChanged

INTERVAL, TIMEOUT = 0.5, 2.0  # a timeout a loaded machine still meets


class QuietServer:
    """Accepts on ``/ws``, sends nothing, and records how each session ended."""

    def __init__(self, **socket_options: float | None) -> None:
        self.options = socket_options
        self.sessions: list[AsgiSocket] = []
        self.ended: list[tuple[float, ConnectionClosed]] = []
        self.ended_event = trio.Event()
        self.app = Starlette(routes=[WebSocketRoute("/ws", self.endpoint)])

    async def endpoint(self, websocket) -> None:
        await websocket.accept()
        async with asgi_socket(websocket, **self.options) as sock:
            self.sessions.append(sock)
            try:
                while True:
                    await sock.receive()
            except ConnectionClosed as exc:
                self.ended.append((trio.current_time(), exc))
                self.ended_event.set()


@pytest.mark.deadline(30)
async def test_a_client_process_frozen_while_idle_is_dropped(nursery):
    server = QuietServer(ping_interval=INTERVAL, ping_timeout=TIMEOUT)
    served = await nursery.start(serve_asgi, server.app)
    async with idle_client("socket", served.ws_url("/ws")) as proc:
        await trio.sleep(3 * INTERVAL)  # pings answered: the session stays
        assert not server.ended
        freeze(proc)
        frozen_at = trio.current_time()
        with trio.fail_after(15):
            await server.ended_event.wait()
    ended_at, closed = server.ended[0]
    assert closed.code == ABNORMAL_CLOSURE and "no pong" in closed.reason, closed
    # the next ping at most INTERVAL after the freeze, then TIMEOUT; generous slack
    assert ended_at - frozen_at < INTERVAL + TIMEOUT + 3.0


@pytest.mark.deadline(30)
async def test_without_pings_a_frozen_idle_client_keeps_its_session(nursery):
    server = QuietServer()
    served = await nursery.start(serve_asgi, server.app)
    async with idle_client("socket", served.ws_url("/ws")) as proc:
        freeze(proc)
        with trio.move_on_after(INTERVAL + TIMEOUT + 1.5):  # what pings would need, and more
            await server.ended_event.wait()
        assert not server.ended and server.sessions[0].is_open


@pytest.mark.deadline(30)
async def test_a_live_idle_client_keeps_its_session_across_pings(nursery):
    server = QuietServer(ping_interval=0.2, ping_timeout=2.0)
    served = await nursery.start(serve_asgi, server.app)
    async with idle_client("socket", served.ws_url("/ws")):
        with trio.move_on_after(3.0):  # fifteen pings, each answered only by a pong
            await server.ended_event.wait()
        assert not server.ended and server.sessions[0].is_open


@pytest.mark.deadline(30)
async def test_a_hypercorn_without_what_pings_need_fails_loudly(nursery):
    connections: list[HypercornConnection] = []

    async def endpoint(websocket) -> None:
        connections.append(websocket.scope[SCOPE_KEY])
        await websocket.accept()
        await websocket.close()

    served = await nursery.start(serve_asgi, Starlette(routes=[WebSocketRoute("/ws", endpoint)]))
    async with open_client_socket(served.ws_url("/ws")) as sock:
        with pytest.raises(ConnectionClosed):
            await sock.receive()
    ws_stream = connections[0].ws_stream
    assert HypercornConnection.from_send(ws_stream.app_send) is not None
    for name, moved, message in [
        ("_send_wsproto_event", None, "_send_wsproto_event"),
        ("state", "CONNECTED", "WSStream.state"),
        ("closed", None, "WSStream.closed"),
        ("app_put", None, "WSStream.app_put"),
    ]:
        moved_stream = copy.copy(ws_stream)
        setattr(moved_stream, name, moved)
        with pytest.raises(HypercornLayoutChanged, match=message):
            HypercornConnection.from_send(moved_stream.app_send)
