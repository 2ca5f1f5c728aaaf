"""MessageSocket over real loopback sockets: trio-websocket client, Starlette under Hypercorn."""

from __future__ import annotations

import pytest
import trio
from socket_helpers import CloseRecorder, app_with, echo

from trio_pipe.serving import serve_asgi
from trio_pipe.ws.base import ConnectionClosed, WriteTimeout
from trio_pipe.ws.client import ConnectError, open_client_socket


async def test_echo_bytes_and_text_and_headers(nursery):
    seen_headers = {}

    async def handler(sock):
        seen_headers.update(sock.headers)
        await echo(sock)

    served = await nursery.start(serve_asgi, app_with(handler))
    async with open_client_socket(served.ws_url("/ws"), headers={"X-Token": "t0k"}) as sock:
        await sock.send(b"\x00\x01")
        assert await sock.receive() == b"\x00\x01"
        await sock.send("h\u00e9")
        assert await sock.receive() == "h\u00e9"
    assert seen_headers["x-token"] == "t0k"


async def test_normal_close_from_server_is_reported_as_normal(nursery):
    async def handler(sock):
        await sock.close(1000, "bye")

    served = await nursery.start(serve_asgi, app_with(handler))
    async with open_client_socket(served.ws_url("/ws")) as sock:
        with pytest.raises(ConnectionClosed) as info:
            await sock.receive()
    assert info.value.normal
    assert not sock.is_open


async def test_refused_connection_is_one_clear_error():
    listener = trio.socket.socket()
    await listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.close()  # nobody listens on this port now
    with pytest.raises(ConnectError, match="cannot connect"):
        async with open_client_socket(f"ws://127.0.0.1:{port}/ws"):
            pass


async def test_server_write_to_a_peer_that_stops_reading_is_bounded(nursery):
    """Hypercorn shields its socket writes; the watchdog still ends the send."""
    outcome: dict[str, object] = {}
    done = trio.Event()

    async def handler(sock):
        chunk = b"x" * (1 << 20)
        try:
            for _ in range(10_000):
                await sock.send(chunk)
        except WriteTimeout as exc:
            outcome["error"] = exc
        finally:
            done.set()

    served = await nursery.start(serve_asgi, app_with(handler))
    async with open_client_socket(served.ws_url("/ws")) as client:
        # The client never reads: trio-websocket's one-slot queue fills and TCP backs up.
        with trio.fail_after(30):  # a hang guard, not a performance assertion
            await done.wait()
        assert isinstance(outcome.get("error"), WriteTimeout)
        with pytest.raises(ConnectionClosed):
            while True:
                await client.receive()


async def test_client_vanishing_without_close_frame_is_detected(nursery):
    handler = CloseRecorder()
    got, done = handler.got, handler.done
    served = await nursery.start(serve_asgi, app_with(handler))
    async with open_client_socket(served.ws_url("/ws")) as client:
        client.abort()  # drop the TCP connection, no close frame
    with trio.fail_after(30):
        await done.wait()
    assert got and not got[0].normal
