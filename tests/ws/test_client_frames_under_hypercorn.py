"""What a client's frames become under ``serve_asgi``: most are decoded past wsproto
(``FrameSplitter``), the rest by wsproto, and the app cannot tell which.

Each test writes raw frames from a bare TCP client, so every case the splitter hands on
(a ping, a fragmented message, bad UTF-8, a close) meets the real Hypercorn.
"""

from __future__ import annotations

import math
import struct

import pytest
import trio
from raw_peer import masked_frame_header, open_raw, read_until_closed
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket

from trio_pipe.serving import serve_asgi
from trio_pipe.ws.asgi import asgi_socket
from trio_pipe.ws.base import ConnectionClosed

LIMIT = 20.0  # hang guard
TEXT, BINARY, CONT, CLOSE, PING, PONG = 0x1, 0x2, 0x0, 0x8, 0x9, 0xA


def client_frame(opcode: int, payload: bytes, *, fin: bool = True) -> bytes:
    return masked_frame_header(opcode, len(payload), fin=fin) + payload


async def read_server_frames(stream: trio.SocketStream, count: int) -> list[tuple[int, bytes]]:
    """The next ``count`` frames from the server (unmasked, as a server sends them)."""
    buffer, frames = b"", []
    while len(frames) < count:
        while True:
            if len(buffer) >= 2:
                length, head = buffer[1] & 0x7F, 2
                if length == 126 and len(buffer) >= 4:
                    length, head = struct.unpack("!H", buffer[2:4])[0], 4
                if length < 126 and len(buffer) >= head + length:
                    frames.append((buffer[0] & 0x0F, buffer[head : head + length]))
                    buffer = buffer[head + length :]
                    break
            data = await stream.receive_some(65536)
            assert data, "the server closed the connection"
            buffer += data
    return frames


async def serve(nursery: trio.Nursery, through: str):
    """An app that reports each message it receives (``through`` our socket or
    Starlette's ``receive``) and how its WebSocket ended."""
    send, received = trio.open_memory_channel[object](math.inf)

    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        if through == "asgi_socket":
            async with asgi_socket(websocket) as sock:
                while True:
                    try:
                        send.send_nowait(await sock.receive())
                    except ConnectionClosed as exc:
                        send.send_nowait(("ended", exc.code))
                        return
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                send.send_nowait(("ended", message.get("code")))
                return
            send.send_nowait(message.get("bytes") or message.get("text"))

    served = await nursery.start(serve_asgi, Starlette(routes=[WebSocketRoute("/ws", endpoint)]))
    return served.port, received


@pytest.mark.parametrize("through", ["asgi_socket", "starlette"])
async def test_messages_pings_and_fragments_in_one_write_arrive_in_order(nursery, through):
    port, received = await serve(nursery, through)
    with trio.fail_after(LIMIT):
        stream = await open_raw(port)
        await stream.send_all(
            client_frame(TEXT, b"one")
            + client_frame(BINARY, b"\x00two")
            + client_frame(PING, b"are you there")
            + client_frame(TEXT, b"thr", fin=False)
            + client_frame(CONT, "ée".encode())
            + client_frame(TEXT, b"four")  # after the fragments: wsproto reads the rest
        )
        assert [await received.receive() for _ in range(4)] == ["one", b"\x00two", "thrée", "four"]
        assert await read_server_frames(stream, 1) == [(PONG, b"are you there")]
        await stream.send_all(client_frame(TEXT, b"five"))
        assert await received.receive() == "five"
        await stream.aclose()


@pytest.mark.parametrize("through", ["asgi_socket", "starlette"])
async def test_text_that_is_not_utf8_ends_the_connection(nursery, through):
    """wsproto's verdict, as before the splitter: Hypercorn drops the connection."""
    port, received = await serve(nursery, through)
    with trio.fail_after(LIMIT):
        stream = await open_raw(port)
        await stream.send_all(
            client_frame(TEXT, b"fine") + client_frame(TEXT, b"\xff\xfe") + client_frame(TEXT, b"x")
        )
        assert await received.receive() == "fine"
        assert (await received.receive())[0] == "ended"
        await read_until_closed(stream)


@pytest.mark.parametrize("through", ["asgi_socket", "starlette"])
async def test_messages_before_a_close_frame_arrive_and_none_after(nursery, through):
    port, received = await serve(nursery, through)
    with trio.fail_after(LIMIT):
        stream = await open_raw(port)
        await stream.send_all(
            client_frame(TEXT, b"last words")
            + client_frame(CLOSE, struct.pack("!H", 1000) + b"bye")
            + client_frame(TEXT, b"from beyond")
        )
        assert await received.receive() == "last words"
        assert (await received.receive())[0] == "ended"  # Hypercorn says 1006 here
        [(opcode, payload)] = await read_server_frames(stream, 1)
        assert (opcode, payload[:2]) == (CLOSE, struct.pack("!H", 1000))
        await read_until_closed(stream)


async def test_a_send_refused_after_the_clients_close_still_leaves_its_messages_to_read(
    nursery,
):
    """A graceful end loses nothing: the client's close frame arrived behind its messages
    while the app was busy; the app's next send fails, and its receives still return
    every message before the end."""
    replied, finished = trio.Event(), trio.Event()
    outcome: list[object] = []

    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        async with asgi_socket(websocket) as sock:
            await replied.wait()  # Hypercorn has answered the client's close
            with pytest.raises(ConnectionClosed):
                await sock.send("too late")
            assert not sock.is_open
            while True:
                try:
                    outcome.append(await sock.receive())
                except ConnectionClosed:
                    outcome.append("ended")
                    finished.set()
                    return

    served = await nursery.start(serve_asgi, Starlette(routes=[WebSocketRoute("/ws", endpoint)]))
    with trio.fail_after(LIMIT):
        stream = await open_raw(served.port)
        await stream.send_all(
            # Fewer than Hypercorn queues for the app (10): its reader must reach the close.
            b"".join(client_frame(TEXT, b"m%d" % i) for i in range(8))
            + client_frame(CLOSE, struct.pack("!H", 1000))
        )
        [(opcode, _)] = await read_server_frames(stream, 1)
        assert opcode == CLOSE
        replied.set()
        await read_until_closed(stream)
        await finished.wait()
    assert outcome == [f"m{i}" for i in range(8)] + ["ended"]
