"""serve_direct: the lean WebSocket server, with both client backends."""

from __future__ import annotations

import pytest
import trio

from trio_pipe.ws.base import ConnectionClosed
from trio_pipe.ws.client import ConnectError, open_client_socket
from trio_pipe.ws.direct import open_direct_socket
from trio_pipe.ws.direct_server import serve_direct

LIMIT = 30  # a hang guard, not a timing assertion


async def echo_handler(request):
    if request.headers.get("x-token") == "bad":
        await request.reject(401, "unauthorized")
        return
    if request.path.startswith("/boom"):
        raise RuntimeError("handler bug")
    async with request.accept() as sock:
        await sock.send(f"{request.path} {request.headers.get('x-token')}")
        while True:
            try:
                message = await sock.receive()
            except ConnectionClosed:
                return
            await sock.send(message)


@pytest.mark.parametrize("open_socket", [open_direct_socket, open_client_socket])
async def test_echo_path_headers_and_rejection(nursery, open_socket):
    served = await nursery.start(serve_direct, echo_handler)
    async with open_socket(served.ws_url("/proxy?worker=v"), headers={"X-Token": "t"}) as sock:
        assert await sock.receive() == "/proxy?worker=v t"
        for message in (b"\x00\x01", "h\u00e9", b"z" * (1 << 20)):
            await sock.send(message)
            assert await sock.receive() == message
    with pytest.raises(ConnectError) as info:
        async with open_socket(served.ws_url("/"), headers={"X-Token": "bad"}):
            pass
    assert info.value.status == 401


async def test_bad_clients_and_handlers_end_only_their_own_connection(nursery):
    served = await nursery.start(serve_direct, echo_handler, "127.0.0.1", 0)
    with pytest.raises(ConnectError):  # the handler raised before accepting: 403
        async with open_direct_socket(served.ws_url("/boom")):
            pass
    stream = await trio.open_tcp_stream("127.0.0.1", served.port)
    await stream.send_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")  # not an upgrade
    with trio.fail_after(LIMIT):
        assert (await stream.receive_some(1024)).startswith(b"HTTP/1.1 400")
    await stream.aclose()
    async with open_direct_socket(served.ws_url("/ok")) as sock:  # the server goes on
        assert await sock.receive() == "/ok None"


async def test_a_client_that_never_completes_the_handshake_is_dropped(nursery):
    served = await nursery.start(
        lambda task_status: serve_direct(
            echo_handler, handshake_timeout=0.1, task_status=task_status
        )
    )
    stream = await trio.open_tcp_stream("127.0.0.1", served.port)
    with trio.fail_after(LIMIT):
        assert await stream.receive_some(1024) == b""  # closed by the server
    await stream.aclose()
