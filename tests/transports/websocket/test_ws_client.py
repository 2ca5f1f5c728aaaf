"""Client transport over real loopback sockets against small servers (Starlette under
trio-websocket): checks T59-T63, T20, T29, T31-T33, T55,
T56, T14, T15 for the client."""

from __future__ import annotations

from functools import partial

import pytest
import trio
import trio.testing
import trio_websocket

from tests.transports.websocket.ws_helpers import client_session, eventually, running
from trio_pipe.frames import (
    ClientConnectedFrame,
    EndFrame,
    ErrorFrame,
    InputAudioRawFrame,
    InputTransportMessageFrame,
    InterruptionFrame,
    OutputAudioRawFrame,
    OutputTransportMessageUrgentFrame,
    TextFrame,
    TranscriptionFrame,
)
from trio_pipe.processors import FrameDirection
from trio_pipe.serializers.frames import ProtobufFrameSerializer
from trio_pipe.transports.websocket import (
    WebsocketClientParams,
    WebsocketClientSession,
    WebsocketClientTransport,
)
from trio_pipe.ws.base import ConnectionClosed

PB = ProtobufFrameSerializer()
AUDIO = b"\x01\x00" * 320  # 20 ms at 16 kHz


class Peer:
    """The server's side of one connection (trio-websocket), with our error type."""

    def __init__(self, ws: trio_websocket.WebSocketConnection) -> None:
        self.ws = ws

    async def send(self, data: str | bytes) -> None:
        await self.ws.send_message(data)

    async def receive(self) -> str | bytes:
        try:
            return await self.ws.get_message()
        except trio_websocket.ConnectionClosed as exc:
            code = exc.reason.code if exc.reason is not None else 1006
            raise ConnectionClosed(code) from None

    async def close(self, code: int = 1000) -> None:
        await self.ws.aclose(code)


class Server:
    """A trio-websocket server on /ws running ``handler(peer, server)``, then reading
    until the client closes; records headers, messages and the client's close code.
    (trio-websocket, not Hypercorn: Hypercorn reports every client close as 1006.)"""

    def __init__(self, handler=None) -> None:
        self.handler = handler
        self.connections = 0
        self.headers: list[dict[str, str]] = []
        self.received: list[str | bytes] = []
        self.close_codes: list[int] = []
        self.done = trio.Event()

    async def handle(self, request: trio_websocket.WebSocketRequest) -> None:
        ws = await request.accept()
        self.connections += 1
        self.headers.append({k.decode().lower(): v.decode() for k, v in request.headers})
        peer = Peer(ws)
        try:
            if self.handler is not None:
                await self.handler(peer, self)
            while True:
                self.received.append(await peer.receive())
        except ConnectionClosed as exc:
            self.close_codes.append(exc.code)
        finally:
            self.done.set()

    def audio_received(self) -> list[bytes]:
        frames = [PB.decode(m) for m in self.received if isinstance(m, bytes)]
        return [f.audio for f in frames if isinstance(f, InputAudioRawFrame)]


async def serve(nursery: trio.Nursery, handler=None) -> tuple[Server, str]:
    server = Server(handler)
    ws_server = await nursery.start(
        partial(trio_websocket.serve_websocket, server.handle, "127.0.0.1", 0, None)
    )
    return server, f"ws://127.0.0.1:{ws_server.port}/ws"


def params(**kw) -> WebsocketClientParams:
    kw.setdefault("add_wav_header", False)
    kw.setdefault("audio_in_enabled", True)
    kw.setdefault("audio_out_enabled", True)
    return WebsocketClientParams(**kw)


async def test_defaults_and_callers_params_untouched():
    """T19/T20: client add_wav_header True; default serializer protobuf, params not mutated."""
    p = WebsocketClientParams()
    assert p.add_wav_header is True and p.additional_headers is None and p.serializer is None
    transport = WebsocketClientTransport("ws://127.0.0.1:1/ws", p)
    assert isinstance(transport.params.serializer, ProtobufFrameSerializer)
    assert p.serializer is None
    assert transport.input() is transport.input() and transport.output() is transport.output()
    assert isinstance(transport.session, WebsocketClientSession)


async def test_one_dial_one_connected_event_and_headers(nursery):
    """T59."""
    server, url = await serve(nursery)
    session = client_session(url, params(additional_headers={"X-Token": "abc"}))
    async with running(session):
        await trio.testing.wait_all_tasks_blocked()
        await session.task.stop_when_done()
    await server.done.wait()
    assert server.connections == 1
    assert server.headers[0]["x-token"] == "abc"
    assert session.names() == ["on_connected"]
    assert server.close_codes == [1000]


async def test_server_audio_right_after_handshake_is_delivered(nursery):
    """T61: Pipecat's receive loop died on this."""

    async def greet(sock, server):
        for _ in range(3):
            await sock.send(PB.encode(OutputAudioRawFrame(AUDIO, 16000, 1)))

    _, url = await serve(nursery, greet)
    session = client_session(url, params())
    async with running(session):
        await eventually(lambda: len(session.mid.frames(InputAudioRawFrame)) >= 3)
        await session.task.stop_when_done()
    assert [f.audio for f in session.mid.frames(InputAudioRawFrame)] == [AUDIO] * 3
    assert session.mid.frames(ClientConnectedFrame) == []  # the client pushes none (T28)


async def test_received_frames_dispatch_and_bad_messages_are_dropped(nursery):
    """T29 (disabled audio dropped), T31, T32, T33 for the client."""

    async def talk(sock, server):
        await sock.send(b"\xff\xff\xff")  # undecodable
        await sock.send("a text message")  # protobuf is binary
        await sock.send(PB.encode(OutputAudioRawFrame(AUDIO, 16000, 1)))
        await sock.send(PB.encode(TextFrame("hello")))
        await sock.send(PB.encode(TranscriptionFrame("said", "u1", "t0")))
        await sock.send(PB.encode(InterruptionFrame()))
        await sock.send(PB.encode(OutputTransportMessageUrgentFrame(message={"k": [1, 2]})))

    _, url = await serve(nursery, talk)
    session = client_session(url, params(audio_in_enabled=False))
    async with running(session):
        await eventually(lambda: session.mid.frames(InputTransportMessageFrame))
        await session.task.stop_when_done()
    mid = session.mid
    assert mid.frames(InputAudioRawFrame) == []
    assert [f.text for f in mid.frames(TextFrame)] == ["hello", "said"]
    assert mid.frames(InterruptionFrame)
    down = mid.frames(InputTransportMessageFrame, FrameDirection.DOWNSTREAM)
    up = session.up.frames(InputTransportMessageFrame, FrameDirection.UPSTREAM)
    assert [f.message for f in down] == [{"k": [1, 2]}] and [f.message for f in up] == [
        {"k": [1, 2]}
    ]
    assert session.transport.input().dropped_messages == 2
    assert "on_disconnected" not in session.names()


async def test_connect_refused_gives_one_error_and_end_still_ends(nursery):
    """T60 / C3."""
    probe = trio.socket.socket()
    await probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    session = client_session(f"ws://127.0.0.1:{port}/ws", params())
    with trio.fail_after(10):
        async with running(session):
            await session.push(OutputAudioRawFrame(AUDIO * 10, 16000, 1))
            await session.task.stop_when_done()
    errors = session.up.frames(ErrorFrame)
    assert len(errors) == 1 and "cannot connect" in errors[0].error
    assert session.names() == []
    assert session.down.frames(OutputAudioRawFrame) == []
    assert session.down.frames(EndFrame)


async def test_connect_timeout_gives_one_error(autojump_clock):
    """C3: a server that accepts TCP and never answers the handshake."""
    listener = trio.socket.socket()
    await listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    port = listener.getsockname()[1]
    session = client_session(f"ws://127.0.0.1:{port}/ws", params())
    start = trio.current_time()
    async with running(session):
        await session.task.stop_when_done()
    errors = session.up.frames(ErrorFrame)
    assert len(errors) == 1 and "timed out" in errors[0].error
    assert trio.current_time() - start == pytest.approx(10.0, abs=0.1)
    listener.close()


async def test_server_close_fires_disconnected_once_then_writes_fail(nursery):
    """T62 and T55 for the client."""

    async def close_soon(sock, server):
        await sock.receive()
        await sock.close(1000)

    _, url = await serve(nursery, close_soon)
    session = client_session(url, params())
    async with running(session):
        await session.push(OutputAudioRawFrame(AUDIO * 2, 16000, 1))  # one whole chunk
        await eventually(lambda: "on_disconnected" in session.names())
        assert not session.task.has_finished()
        forwarded = len(session.down.frames(OutputAudioRawFrame))
        start = trio.current_time()
        for _ in range(100):
            await session.push(OutputAudioRawFrame(AUDIO * 2, 16000, 1))
        await session.task.stop_when_done()
    assert trio.current_time() - start < 1.0  # 100 x 40 ms were not paced
    assert len(session.down.frames(OutputAudioRawFrame)) == forwarded
    assert session.names() == ["on_connected", "on_disconnected"]


async def test_release_counts_per_half_and_last_release_closes(nursery):
    """T63."""
    server, url = await serve(nursery)
    session = client_session(url, params())
    transport = session.transport
    async with running(session):
        await eventually(lambda: "on_connected" in session.names())
        ws_session = transport.session
        await ws_session.release(transport.input())
        await ws_session.release(transport.input())  # a double release counts once
        assert ws_session.is_connected
        await session.push(OutputAudioRawFrame(AUDIO * 2, 16000, 1))
        await eventually(lambda: server.audio_received())
        assert server.close_codes == []
        await session.task.stop_when_done()
    await server.done.wait()
    assert server.close_codes == [1000]
    assert not transport.session.is_connected


async def test_stopped_reading_server_gives_one_error(nursery):
    """T56 for the client: a server that stops reading; the write timeout ends it."""

    async def stop_reading(sock, server):
        await trio.sleep_forever()

    _, url = await serve(nursery, stop_reading)
    session = client_session(url, params(audio_out_write_timeout_secs=0.5))
    big = {"blob": "x" * (1 << 18)}
    async with running(session):
        with trio.fail_after(30):  # a hang guard
            while not session.up.frames(ErrorFrame):
                await session.push(OutputTransportMessageUrgentFrame(message=big))
                await trio.sleep(0.01)
        await eventually(lambda: "on_disconnected" in session.names())
        await trio.sleep(0.1)
        errors = session.up.frames(ErrorFrame)
        assert len(errors) == 1 and "timed out" in errors[0].error
        assert not session.transport.output().is_usable
        await session.task.stop_when_done()


async def test_nothing_left_after_run(nursery, live_tasks):
    """T14 for the client: the connection task was a child of the pipeline."""
    _, url = await serve(nursery)
    await trio.testing.wait_all_tasks_blocked()
    before = live_tasks()
    session = client_session(url, params())
    async with running(session):
        await session.push(OutputAudioRawFrame(AUDIO, 16000, 1))
        await session.task.stop_when_done()
    await trio.testing.wait_all_tasks_blocked()
    assert live_tasks() <= before


async def test_outer_cancel_closes_the_socket(nursery):
    """T15 for the client."""
    server, url = await serve(nursery)
    session = client_session(url, params())
    with trio.move_on_after(0.5):
        await session.task.run()
    with trio.fail_after(10):
        await server.done.wait()
    assert server.close_codes == [1000]


async def test_wav_header_by_default(nursery):
    """O6 over the wire: the client's default wraps each chunk in a WAV header."""
    server, url = await serve(nursery)
    session = client_session(url, WebsocketClientParams(audio_out_enabled=True))
    async with running(session):
        await session.push(OutputAudioRawFrame(AUDIO * 2, 16000, 1))
        await session.task.stop_when_done()
    await server.done.wait()
    first = server.audio_received()[0]
    assert first[:4] == b"RIFF" and len(first) == 44 + 1280


async def test_session_messages_arrive_and_json_roundtrip(nursery):
    async def echo_messages(sock, server):
        while True:
            message = await sock.receive()
            frame = PB.decode(message)
            server.received.append(message)
            if frame is not None and not isinstance(frame, InputAudioRawFrame):
                await sock.send(message)

    server, url = await serve(nursery, echo_messages)
    session = client_session(url, params())
    async with running(session):
        await session.push(OutputTransportMessageUrgentFrame(message={"u": "\u00e9"}))
        await eventually(lambda: session.mid.frames(InputTransportMessageFrame))
        await session.task.stop_when_done()
    assert session.mid.frames(InputTransportMessageFrame)[0].message == {"u": "\u00e9"}
    assert PB.decode(server.received[0]).message == {"u": "\u00e9"}
    assert b'{"u": "\\u00e9"}' in server.received[0]  # stdlib json escapes (T27)
