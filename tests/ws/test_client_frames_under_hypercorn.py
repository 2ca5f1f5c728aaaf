"""What a client's frames become under ``serve_asgi``: most are decoded past wsproto
(``FrameSplitter``), the rest by wsproto, and the app cannot tell which.

Each test writes raw frames from a bare TCP client, so every case the splitter hands on
(a ping, a fragmented message, bad UTF-8, a close) meets the real Hypercorn.
"""

from __future__ import annotations

import math
import struct
from functools import partial

import hypercorn.config
import pytest
import trio
import trio.testing
from raw_peer import masked_frame_header, open_raw, read_until_closed
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket

from trio_pipe.serving import serve_asgi
from trio_pipe.ws.asgi import asgi_socket
from trio_pipe.ws.base import ConnectionClosed
from trio_pipe.ws.hypercorn_adapter import SCOPE_KEY, ClientFrameReader

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


async def serve(nursery: trio.Nursery, through: str, *, config=None, record=False):
    """An app that reports each message it receives (``through`` our socket or
    Starlette's ``receive``) and how its WebSocket ended; first, with ``record``, its
    WebSocket's Hypercorn record (``SCOPE_KEY``)."""
    send, received = trio.open_memory_channel[object](math.inf)

    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        if record:
            send.send_nowait(websocket.scope[SCOPE_KEY])
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

    app = Starlette(routes=[WebSocketRoute("/ws", endpoint)])
    served = await nursery.start(partial(serve_asgi, app, config=config))
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


async def test_messages_split_across_reads_and_pings_between_them_keep_their_order(nursery):
    # Read by the splitter below Hypercorn's read loop (ClientFrameReader): a message
    # whose bytes come in pieces arrives whole, a ping between messages is answered
    # by wsproto, and decoding goes on after it.
    port, received = await serve(nursery, "asgi_socket", record=True)
    with trio.fail_after(LIMIT):
        stream = await open_raw(port)
        connection = await received.receive()
        assert isinstance(connection.server.stream.inner, ClientFrameReader)
        big = bytes(range(256)) * 400
        frame = client_frame(BINARY, big)
        for piece in (frame[:1], frame[1:9], frame[9:50_000], frame[50_000:]):
            await stream.send_all(piece)
            await trio.testing.wait_all_tasks_blocked()
        await stream.send_all(client_frame(TEXT, b"one"))
        await stream.send_all(client_frame(PING, b"still there?"))
        await stream.send_all(client_frame(TEXT, b"two") + client_frame(BINARY, b"three"))
        assert [await received.receive() for _ in range(4)] == [big, "one", "two", b"three"]
        assert await read_server_frames(stream, 1) == [(PONG, b"still there?")]
        assert not connection.ws_stream.handle.splitter.passthrough  # still decoding
        await stream.send_all(client_frame(CLOSE, struct.pack("!H", 1000)))
        assert (await received.receive())[0] == "ended"  # Hypercorn says 1006, as before
        [(opcode, _)] = await read_server_frames(stream, 1)
        assert opcode == CLOSE
        await read_until_closed(stream)


async def test_with_a_read_timeout_hypercorn_reads_every_byte_itself(nursery):
    # Hypercorn's read_timeout bounds each of its reads; a reader that kept reading while
    # messages flow would trip it, so the splitter stays in the WebSocket's handle then.
    config = hypercorn.config.Config()
    config.read_timeout = 30
    port, received = await serve(nursery, "asgi_socket", config=config, record=True)
    with trio.fail_after(LIMIT):
        stream = await open_raw(port)
        connection = await received.receive()
        assert not isinstance(connection.server.stream, ClientFrameReader)
        assert not isinstance(connection.server.stream.inner, ClientFrameReader)
        await stream.send_all(
            client_frame(TEXT, b"one") + client_frame(PING, b"?") + client_frame(BINARY, b"2")
        )
        assert [await received.receive() for _ in range(2)] == ["one", b"2"]
        assert await read_server_frames(stream, 1) == [(PONG, b"?")]
        await stream.aclose()
