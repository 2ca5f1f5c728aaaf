"""The WebSocket client (``open_client_socket``) against Starlette under Hypercorn."""

from __future__ import annotations

import hypercorn.config
import pytest
import trio
from socket_helpers import CloseRecorder, app_with, echo
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute

from trio_pipe.serving import serve_asgi
from trio_pipe.ws.base import ConnectionClosed, WriteTimeout
from trio_pipe.ws.client import ConnectError, open_client_socket

LIMIT = 30  # a hang guard, not a timing assertion


async def test_echo_bytes_text_big_messages_and_headers(nursery):
    seen = {}

    async def handler(sock):
        seen.update(sock.headers)
        await echo(sock)

    served = await nursery.start(serve_asgi, app_with(handler))
    url = served.ws_url("/ws") + "?session=1"
    async with open_client_socket(url, headers={"X-Token": "t0k"}) as sock:
        await sock.send(b"\x00\x01")
        assert await sock.receive() == b"\x00\x01"
        await sock.send("h\u00e9")
        assert await sock.receive() == "h\u00e9"
        big = b"z" * (3 << 20)  # many reads, one message
        await sock.send(big)
        assert await sock.receive() == big
        for i in range(20):
            await sock.send(b"%d" % i)
        assert [await sock.receive() for _ in range(20)] == [b"%d" % i for i in range(20)]
    assert seen["x-token"] == "t0k"


async def test_normal_close_from_the_server(nursery):
    async def handler(sock):
        await sock.send(b"last")
        await sock.close(1000, "bye")

    served = await nursery.start(serve_asgi, app_with(handler))
    async with open_client_socket(served.ws_url("/ws")) as sock:
        assert await sock.receive() == b"last"  # what came before the close
        with pytest.raises(ConnectionClosed) as info:
            await sock.receive()
        assert info.value.normal and info.value.reason == "bye"
        with pytest.raises(ConnectionClosed):
            await sock.receive()  # and every later receive
    assert not sock.is_open


async def test_our_close_is_a_clean_handshake(nursery):
    handler = CloseRecorder()
    got, done = handler.got, handler.done
    served = await nursery.start(serve_asgi, app_with(handler))
    async with open_client_socket(served.ws_url("/ws")) as sock:
        with trio.fail_after(LIMIT):
            await sock.close()
        assert sock.close_reason.code == 1000
    with trio.fail_after(LIMIT):
        await done.wait()
    assert got


async def test_refused_and_rejected_connections_are_one_clear_error(nursery):
    listener = trio.socket.socket()
    await listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.close()
    with pytest.raises(ConnectError, match="cannot connect"):
        async with open_client_socket(f"ws://127.0.0.1:{port}/ws"):
            pass
    served = await nursery.start(serve_asgi, app_with(echo))
    with pytest.raises(ConnectError) as info:
        async with open_client_socket(served.ws_url("/ws"), headers={"X-Refuse": "401"}):
            pass
    assert info.value.status == 401
    with pytest.raises(ConnectError, match="not a WebSocket URL"):
        async with open_client_socket(served.http_url("/ws")):
            pass


async def test_a_server_that_stops_reading_cannot_hold_a_send(nursery):
    stuck = trio.Event()

    async def endpoint(websocket):
        await websocket.accept()
        await stuck.wait()  # never receives: Hypercorn stops reading, TCP backs up

    served = await nursery.start(serve_asgi, Starlette(routes=[WebSocketRoute("/ws", endpoint)]))
    async with open_client_socket(served.ws_url("/ws"), write_timeout=0.5) as sock:
        with pytest.raises(WriteTimeout), trio.fail_after(LIMIT):
            for _ in range(1000):
                await sock.send(b"x" * (1 << 20))
        with pytest.raises(ConnectionClosed):
            await sock.receive()
    stuck.set()


async def test_server_vanishing_is_reported_as_abnormal(nursery):
    async def handler(sock):
        sock.abort()

    served = await nursery.start(serve_asgi, app_with(handler))
    async with open_client_socket(served.ws_url("/ws")) as sock:
        with pytest.raises(ConnectionClosed) as info, trio.fail_after(LIMIT):
            await sock.receive()
        assert info.value.code == 1006


async def test_oversize_message_closes_with_1009(nursery):
    async def handler(sock):
        await sock.send(b"y" * 5000)
        await echo(sock)

    served = await nursery.start(serve_asgi, app_with(handler))
    async with open_client_socket(served.ws_url("/ws"), max_message_size=4096) as sock:
        with pytest.raises(ConnectionClosed) as info, trio.fail_after(LIMIT):
            await sock.receive()
        assert info.value.code == 1009


async def test_pings_both_ways_keep_the_connection_alive(nursery):
    """Hypercorn pings us (answered by our receive loop) and we ping it (it answers)."""
    config = hypercorn.config.Config()
    config.websocket_ping_interval = 0.02
    served = await nursery.start(
        lambda task_status: serve_asgi(app_with(echo), config=config, task_status=task_status)
    )
    async with open_client_socket(served.ws_url("/ws"), ping_interval=0.02, ping_timeout=5) as sock:
        for i in range(10):
            await sock.send(b"%d" % i)
            assert await sock.receive() == b"%d" % i
            await trio.sleep(0.02)
        assert sock.is_open


async def test_cancelled_owner_closes_without_waiting(nursery):
    served = await nursery.start(serve_asgi, app_with(echo))
    with trio.CancelScope() as scope:
        async with open_client_socket(served.ws_url("/ws")) as sock:
            scope.cancel()
            await trio.sleep_forever()
    assert sock.close_reason.code == 1000


async def test_a_cancelled_send_sends_nothing_and_a_burst_arrives_in_order(nursery):
    # Frames the kernel takes at once go straight to the OS socket (trio_pipe.ws.socket_io);
    # a cancelled caller is still refused before anything is written, and a burst of
    # sends goes out whole and in order.
    served = await nursery.start(serve_asgi, app_with(echo))
    with trio.fail_after(LIMIT):
        async with open_client_socket(served.ws_url("/ws")) as sock:
            with trio.CancelScope() as scope:
                scope.cancel()
                with pytest.raises(trio.Cancelled):
                    await sock.send(b"never")
            burst = [b"m%d" % i for i in range(200)]
            for message in burst:
                await sock.send(message)
            assert [await sock.receive() for _ in burst] == burst
