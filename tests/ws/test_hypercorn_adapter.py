"""Bounded writes under Hypercorn, found through the ASGI scope (never a coroutine frame).

* under ``serve_asgi`` every WebSocket scope carries its Hypercorn connection (this pins
  the Hypercorn layout the adapter relies on);
* an ``AsgiSocket`` built outside the endpoint's task (here: in the test's own task) still
  aborts a write to a client that stopped reading, within its write timeout;
* a Hypercorn whose objects moved fails loudly, naming what is missing; a server that is
  not Hypercorn gets no record (the socket then says it cannot abort).
"""

from __future__ import annotations

import math

import pytest
import trio
from hypercorn.protocol.ws_stream import WSStream
from hypercorn.trio.tcp_server import TCPServer
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket

from trio_pipe.serving import serve_asgi
from trio_pipe.ws import hypercorn_adapter
from trio_pipe.ws.asgi import AsgiSocket, asgi_socket
from trio_pipe.ws.base import ConnectionClosed, GuardedStream, WriteTimeout
from trio_pipe.ws.client import open_client_socket
from trio_pipe.ws.hypercorn_adapter import (
    SCOPE_KEY,
    ClientFrameReader,
    HypercornConnection,
    HypercornLayoutChanged,
    SendOrderedStream,
    hypercorn_connections,
)

LIMIT = 20.0  # hang guard


async def _serve_handing_out(nursery: trio.Nursery):
    """A served app whose endpoint hands each accepted WebSocket to the test and waits."""
    send, receive = trio.open_memory_channel[tuple[WebSocket, trio.Event]](math.inf)

    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        done = trio.Event()
        send.send_nowait((websocket, done))
        await done.wait()

    served = await nursery.start(serve_asgi, Starlette(routes=[WebSocketRoute("/ws", endpoint)]))
    return served.ws_url("/ws"), receive


async def test_every_websocket_scope_carries_its_hypercorn_connection(nursery):
    url, accepted = await _serve_handing_out(nursery)
    with trio.fail_after(LIMIT):
        async with open_client_socket(url):
            websocket, done = await accepted.receive()
            connection = websocket.scope[SCOPE_KEY]
            assert isinstance(connection, HypercornConnection)
            assert isinstance(connection.server, TCPServer)
            assert isinstance(connection.ws_stream, WSStream)
            # HTTP/1.1: frames are the stream's bytes, read by the splitter first.
            assert connection.raw_frames
            reader = connection.server.stream
            assert isinstance(reader, ClientFrameReader)
            assert isinstance(reader.inner, SendOrderedStream)
            assert isinstance(reader.inner.inner, trio.SocketStream)
            done.set()


async def test_clients_leaving_as_their_endpoints_return_do_not_stop_the_server(nursery):
    """Hypercorn 0.18 half-closes without its write lock: the endpoint's closing frame
    met the half-close of a client that had just left, and the BusyResourceError stopped
    the whole server (most runs of this test did, before SendOrderedStream)."""
    url, accepted = await _serve_handing_out(nursery)
    with trio.fail_after(LIMIT):
        for _ in range(30):
            async with open_client_socket(url):
                _, done = await accepted.receive()
                done.set()  # the endpoint returns as the client closes
        async with open_client_socket(url) as sock:  # the server still serves
            _, done = await accepted.receive()
            assert sock.is_open
            done.set()


async def test_a_socket_built_outside_the_endpoint_task_still_aborts_a_stuck_write(nursery):
    url, accepted = await _serve_handing_out(nursery)
    with trio.fail_after(LIMIT):
        async with open_client_socket(url):  # and never reads
            websocket, done = await accepted.receive()
            # The test's task is no descendant of Hypercorn's: no frame walk could find it.
            sock = AsgiSocket(websocket, write_timeout=0.5)
            assert sock.can_abort
            async with trio.open_nursery() as watch:
                watch.start_soon(sock._run_watchdog)
                assert isinstance(websocket.scope[SCOPE_KEY].server.stream, GuardedStream)
                payload = b"x" * 65536
                with pytest.raises(ConnectionClosed) as ended:
                    while True:  # fills the client's buffers, then a write blocks
                        await sock.send(payload)
                watch.cancel_scope.cancel()
            assert isinstance(ended.value, WriteTimeout)
            assert sock.close_reason is ended.value
            done.set()


async def test_send_many_is_one_write_of_separate_messages(nursery, monkeypatch):
    # Counted where the bytes leave: the socket itself (what the kernel takes at once,
    # trio_pipe.ws.socket_io) and the stream (the rest, if any).
    writes: list[bytes] = []
    send_now = hypercorn_adapter.send_now

    def counted_now(sock, data) -> int:
        sent = send_now(sock, data)
        if sent:
            writes.append(bytes(data[:sent]))
        return sent

    monkeypatch.setattr(hypercorn_adapter, "send_now", counted_now)
    url, accepted = await _serve_handing_out(nursery)
    with trio.fail_after(LIMIT):
        async with open_client_socket(url) as client:
            websocket, done = await accepted.receive()
            sock = AsgiSocket(websocket)
            stream = websocket.scope[SCOPE_KEY].server.stream
            write = stream.send_all

            async def counted(data) -> None:
                writes.append(bytes(data))
                await write(data)

            stream.send_all = counted
            writes.clear()
            await sock.send_many([b"one", "two", b"three"])
            assert [await client.receive() for _ in range(3)] == [b"one", "two", b"three"]
            assert len(writes) == 1
            assert sock.messages_sent == 3
            await sock.send("four")  # and a lone message: its own write
            assert await client.receive() == "four"
            assert len(writes) == 2
            done.set()


async def test_a_send_after_the_clients_close_frame_raises_instead_of_vanishing(nursery):
    # Through ASGI, Hypercorn drops a message sent once the client's close frame is in,
    # and the app never knows; the socket's send says the connection is gone.
    url, accepted = await _serve_handing_out(nursery)
    with trio.fail_after(LIMIT):
        async with open_client_socket(url) as client:
            websocket, done = await accepted.receive()
            sock = AsgiSocket(websocket)
            ws_stream = websocket.scope[SCOPE_KEY].ws_stream
            async with trio.open_nursery() as closing:
                closing.start_soon(client.close)
                # Hypercorn read the close frame (the app is told after it answered).
                assert (await websocket.receive())["type"] == "websocket.disconnect"
                assert ws_stream.closed
                with pytest.raises(ConnectionClosed):
                    await sock.send(b"too late")
            done.set()


async def _app(scope, receive, send) -> None:
    pass


async def test_a_send_that_is_not_hypercorns_gets_no_record():
    async def send(message) -> None:
        pass

    scope = {"type": "websocket"}
    await hypercorn_connections(_app)(scope, None, send)
    assert SCOPE_KEY not in scope
    assert HypercornConnection.from_send(send) is None


def test_a_hypercorn_whose_layout_moved_fails_loudly() -> None:
    stream = WSStream.__new__(WSStream)  # Hypercorn's class, its innards not as expected

    async def loose_send(event) -> None:
        pass

    stream.send = loose_send  # a plain function, not a protocol's method
    with pytest.raises(HypercornLayoutChanged, match=r"WSStream\.send"):
        HypercornConnection.from_send(stream.app_send)


async def test_a_middleware_that_wraps_receive_still_sees_every_message(nursery):
    """AsgiSocket reads Hypercorn's queue itself only when nothing wraps ``receive``."""

    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        async with asgi_socket(websocket) as sock:
            while True:
                await sock.send(await sock.receive())

    def shouting(app):
        async def wrapped(scope, receive, send):
            async def loud_receive():
                message = await receive()
                if message.get("text"):
                    message = {**message, "text": message["text"].upper()}
                return message

            await app(scope, loud_receive, send)

        return wrapped

    app = shouting(Starlette(routes=[WebSocketRoute("/ws", endpoint)]))
    served = await nursery.start(serve_asgi, app)
    with trio.fail_after(LIMIT):
        async with open_client_socket(served.ws_url("/ws")) as sock:
            for word in ("quiet", "please"):
                await sock.send(word)
                assert await sock.receive() == word.upper()
