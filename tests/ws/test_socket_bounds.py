"""Attacks on a WebSocket server, with real sockets: what one client sends ends only its
own connection, within the write or close timeout, and the server goes on.

* a client that floods pings and never reads: the server's pong writes are under the
  write watchdog (Hypercorn answers pings itself, inside a shielded write);
* a server that floods a client with pings and never reads: the client's pongs (written
  by its receiving task) are bounded too;
* a client that sends a message over the size limit and ignores the 1009 close frame:
  the server's side ends (the handler hears 1009) and the TCP socket really closes.

The deadlines are hang guards (generous), not timing assertions.
"""

from __future__ import annotations

from functools import partial

import hypercorn.config
import pytest
import trio
from raw_peer import flood_pings, open_raw, read_until_closed, send_huge_message
from socket_helpers import echo
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, Ping
from wsproto.events import Request as WsRequest

from trio_pipe.serving import serve_asgi
from trio_pipe.ws.asgi import asgi_socket
from trio_pipe.ws.base import ConnectionClosed, WriteTimeout
from trio_pipe.ws.client import open_client_socket

WRITE_TIMEOUT = 0.5
CLOSE_TIMEOUT = 0.5
LIMIT = 20.0  # hang guard
SLACK = 5.0  # a loaded machine's scheduling, on top of the timeout under test
MAX_MESSAGE = 64 * 1024


class Sessions:
    """Records how each served connection ended, in order of arrival."""

    def __init__(self) -> None:
        self.ended: list[ConnectionClosed | None] = []
        self.changed = trio.Event()

    async def handle(self, sock) -> None:
        """Echo until the connection ends, then linger (an app slow to notice): the
        socket must close all the same."""
        index = len(self.ended)
        self.ended.append(None)
        try:
            await echo(sock)
        finally:
            self.ended[index] = sock.close_reason
            self.changed.set()
            self.changed = trio.Event()
        await trio.sleep_forever()

    async def wait_ended(self, index: int) -> ConnectionClosed:
        while len(self.ended) <= index or self.ended[index] is None:
            await self.changed.wait()
        result = self.ended[index]
        assert result is not None
        return result


async def _hypercorn(nursery: trio.Nursery, sessions: Sessions) -> int:
    async def endpoint(websocket) -> None:
        await websocket.accept()
        async with asgi_socket(
            websocket, write_timeout=WRITE_TIMEOUT, close_timeout=CLOSE_TIMEOUT
        ) as sock:
            await sessions.handle(sock)

    config = hypercorn.config.Config()
    config.websocket_max_message_size = MAX_MESSAGE
    app = Starlette(routes=[WebSocketRoute("/ws", endpoint)])
    served = await nursery.start(partial(serve_asgi, app, config=config))
    return served.port


async def _round_trips(port: int, count: int) -> int:
    """A well-behaved client: ``count`` echo round trips; how many came back."""
    done = 0
    async with open_client_socket(f"ws://127.0.0.1:{port}/ws") as sock:
        for i in range(count):
            await sock.send(f"m{i}")
            assert await sock.receive() == f"m{i}"
            done += 1
    return done


async def test_a_ping_flood_that_never_reads_is_ended_by_the_write_watchdog(nursery):
    sessions = Sessions()
    port = await _hypercorn(nursery, sessions)
    with trio.fail_after(LIMIT):
        attacker = await open_raw(port)
        assert await _round_trips(port, 20) == 20  # session 1 sees the server working
        await flood_pings(attacker)  # until the server stops reading (its pongs are stuck)
        with trio.fail_after(WRITE_TIMEOUT + SLACK):
            ended = await sessions.wait_ended(0)
            await read_until_closed(attacker)  # the server dropped the TCP connection
        assert isinstance(ended, WriteTimeout)
        assert await _round_trips(port, 20) == 20  # the server is fine for others
    await attacker.aclose()


async def test_an_oversize_message_ends_its_connection_and_socket(nursery):
    sessions = Sessions()
    port = await _hypercorn(nursery, sessions)
    with trio.fail_after(LIMIT):
        attacker = await open_raw(port)
        # 100 MiB announced, 4 MiB written: far over the limit; the 1009 close is ignored.
        await send_huge_message(attacker, 100 << 20, 4 << 20)
        ended = await sessions.wait_ended(0)
        assert ended.code == 1009
        with trio.fail_after(CLOSE_TIMEOUT + SLACK):  # though the app lingers
            await read_until_closed(attacker)  # EOF or reset: the server dropped the socket
        assert await _round_trips(port, 20) == 20
    await attacker.aclose()


async def _ping_flooding_server(stream: trio.SocketStream) -> None:
    """A hostile server: accepts the upgrade, then sends pings and never reads."""
    proto = WSConnection(ConnectionType.SERVER)
    while True:
        data = await stream.receive_some(65536)
        if not data:
            return
        proto.receive_data(data)
        if any(isinstance(event, WsRequest) for event in proto.events()):
            break
    await stream.send_all(proto.send(AcceptConnection()))
    payload = b"p" * 125
    frame = proto.send(Ping(payload=payload)) * 256
    try:
        while True:
            await stream.send_all(frame)
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        pass


async def test_a_client_answering_a_ping_flood_is_bounded_too(nursery):
    listeners = await nursery.start(
        partial(trio.serve_tcp, _ping_flooding_server, 0, host="127.0.0.1")
    )
    port = listeners[0].socket.getsockname()[1]
    with trio.fail_after(LIMIT):
        async with open_client_socket(
            f"ws://127.0.0.1:{port}/ws", write_timeout=WRITE_TIMEOUT
        ) as sock:
            with pytest.raises(ConnectionClosed) as info:
                while True:  # the client answers pings while receiving
                    await sock.receive()
    assert isinstance(info.value, WriteTimeout)
