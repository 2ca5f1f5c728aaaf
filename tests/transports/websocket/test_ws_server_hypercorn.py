"""Server transport end to end over real loopback sockets: Hypercorn serving Starlette,
clients on trio-websocket (trio_pipe's client MessageSocket) speaking protobuf or raw PCM
(checks T67, T28, T33, T36, T45, T56, T64, T66 over a socket; sessions independent)."""

from __future__ import annotations

import json

import trio
import trio.testing
from starlette.websockets import WebSocket

from tests.transports.websocket.ws_helpers import (
    Session,
    app_with_sessions,
    eventually,
    server_session,
)
from trio_pipe.bots.echo import echo_app
from trio_pipe.frames import (
    ClientConnectedFrame,
    ErrorFrame,
    Frame,
    InputAudioRawFrame,
    InputTransportMessageFrame,
    OutputAudioRawFrame,
    OutputTransportMessageUrgentFrame,
    TextFrame,
)
from trio_pipe.processors import FrameDirection, FrameProcessor
from trio_pipe.serializers.frames import ProtobufFrameSerializer, RawPCMSerializer
from trio_pipe.serving import serve_asgi
from trio_pipe.transports.websocket import FastAPIWebsocketParams
from trio_pipe.ws.base import ConnectionClosed
from trio_pipe.ws.client import open_client_socket

PB = ProtobufFrameSerializer()
DOWN = FrameDirection.DOWNSTREAM
FRAME_20MS = b"".join(i.to_bytes(2, "little", signed=True) for i in range(-160, 160))  # 640 B


def pb_params(**kw) -> FastAPIWebsocketParams:
    kw.setdefault("serializer", ProtobufFrameSerializer())
    kw.setdefault("allowed_origins", [])
    return FastAPIWebsocketParams(audio_in_enabled=True, audio_out_enabled=True, **kw)


async def serve_sessions(nursery, make) -> tuple[str, list[Session]]:
    sessions: list[Session] = []
    served = await nursery.start(serve_asgi, app_with_sessions(make, sessions))
    return served.ws_url("/ws"), sessions


async def read_until_closed(sock) -> tuple[list[Frame], ConnectionClosed]:
    frames: list[Frame] = []
    while True:
        try:
            message = await sock.receive()
        except ConnectionClosed as exc:
            return frames, exc
        frame = PB.decode(message)
        if frame is not None:
            frames.append(frame)


async def test_end_to_end_audio_message_then_close_1000(nursery):
    """T67: the client gets audio and a message, then close 1000 after EndFrame; the
    endpoint returns. Also T28 over a socket: one on_client_connected."""

    def make(websocket: WebSocket) -> Session:
        session = server_session(websocket, pb_params(audio_out_end_silence_secs=0))

        @session.transport.event_handler("on_client_connected")
        async def greet(transport, ws) -> None:
            await session.push(
                OutputAudioRawFrame(FRAME_20MS * 2, 16000, 1),
                OutputTransportMessageUrgentFrame(message={"type": "hello"}),
            )
            await session.task.stop_when_done()

        return session

    url, sessions = await serve_sessions(nursery, make)
    async with open_client_socket(url) as sock:
        frames, closed = await read_until_closed(sock)
    assert closed.code == 1000
    audio = [f for f in frames if isinstance(f, InputAudioRawFrame)]
    assert b"".join(f.audio for f in audio) == FRAME_20MS * 2
    assert [f.message for f in frames if isinstance(f, InputTransportMessageFrame)] == [
        {"type": "hello"}
    ]
    with trio.fail_after(10):
        await sessions[0].finished.wait()
    assert sessions[0].names().count("on_client_connected") == 1
    assert "on_client_disconnected" not in sessions[0].names()


async def test_connected_frame_first_bad_messages_dropped_client_close_reported(nursery):
    """T28, T33 and T36 over a socket."""
    url, sessions = await serve_sessions(
        nursery, lambda ws: server_session(ws, pb_params(), cancel_on=("on_client_disconnected",))
    )
    async with open_client_socket(url) as sock:
        await sock.send(PB.encode(TextFrame("first")))
        await sock.send(b"\xff\xfe garbage")
        await sock.send("text is not protobuf")
        await sock.send(PB.encode(TextFrame("after")))
        await eventually(lambda: sessions and len(sessions[0].mid.frames(TextFrame)) == 2)
        session = sessions[0]
        assert session.transport.input().dropped_messages == 2
        assert "on_client_disconnected" not in session.names()
    with trio.fail_after(10):
        await session.finished.wait()
    kinds = [type(f) for f in session.mid.frames((ClientConnectedFrame, TextFrame))]
    assert kinds == [ClientConnectedFrame, TextFrame, TextFrame]
    assert session.names().count("on_client_disconnected") == 1


async def test_echo_bot_against_a_plain_client_speaking_raw_pcm(nursery):
    """Raw PCM both ways: 1 s of 20 ms frames in, the same samples out in 40 ms chunks."""
    served = await nursery.start(serve_asgi, echo_app("raw", out_rate=16000))
    sent = FRAME_20MS * 50
    received = bytearray()
    async with open_client_socket(served.ws_url("/ws")) as sock:

        async def read() -> None:
            while len(received) < len(sent):
                received.extend(await sock.receive())

        async with trio.open_nursery() as inner:
            inner.start_soon(read)
            for i in range(0, len(sent), len(FRAME_20MS)):
                await sock.send(sent[i : i + len(FRAME_20MS)])
                await trio.sleep(0.02)
    assert bytes(received) == sent


async def test_fixed_audio_packet_size_over_a_socket(nursery):
    """T45 over a socket: raw audio goes out in exactly 640-byte messages."""

    def make(websocket: WebSocket) -> Session:
        params = FastAPIWebsocketParams(
            audio_out_enabled=True,
            serializer=RawPCMSerializer(),
            fixed_audio_packet_size=640,
            audio_out_end_silence_secs=0,
            allowed_origins=[],
        )
        session = server_session(websocket, params)

        @session.transport.event_handler("on_client_connected")
        async def play(transport, ws) -> None:
            await session.push(OutputAudioRawFrame(b"\x01\x00" * 1000, 16000, 1))
            await session.task.stop_when_done()

        return session

    url, _ = await serve_sessions(nursery, make)
    sizes = []
    async with open_client_socket(url) as sock:
        try:
            while True:
                sizes.append(len(await sock.receive()))
        except ConnectionClosed:
            pass
    # 2000 bytes -> two 1280-byte chunks (tail padded) = 2560 bytes -> four 640-byte packets
    assert sizes == [640, 640, 640, 640]


async def test_refused_origin_closes_with_policy_violation(nursery):
    """T64 over a socket, through the echo bot's endpoint."""
    from starlette.applications import Starlette
    from starlette.routing import WebSocketRoute

    from trio_pipe.bots.echo import run_echo_bot

    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        params = pb_params(allowed_origins=["https://app.example"])
        await run_echo_bot(websocket, params=params)

    served = await nursery.start(serve_asgi, Starlette(routes=[WebSocketRoute("/ws", endpoint)]))
    for origin, expected in (("https://evil.example", 1008), ("HTTPS://APP.EXAMPLE", None)):
        async with open_client_socket(served.ws_url("/ws"), headers={"Origin": origin}) as sock:
            if expected is None:
                await sock.send(PB.encode(OutputAudioRawFrame(FRAME_20MS * 2, 16000, 1)))
                echoed = PB.decode(await sock.receive())
                assert isinstance(echoed, InputAudioRawFrame)
            else:
                try:
                    await sock.receive()
                except ConnectionClosed as exc:
                    assert exc.code == expected
                else:
                    raise AssertionError("the refused client was not closed")


class Flood(FrameProcessor):
    """Echo, and on a ``{"flood": n}`` client message send n big urgent messages.
    Remembers the errors the output reported (the session's cancel may stop them
    further upstream)."""

    def __init__(self) -> None:
        super().__init__()
        self.errors: list[ErrorFrame] = []

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, ErrorFrame):
            self.errors.append(frame)
        if isinstance(frame, InputAudioRawFrame):
            await self.push_frame(OutputAudioRawFrame(frame.audio, frame.sample_rate, 1))
        elif (
            isinstance(frame, InputTransportMessageFrame) and direction is FrameDirection.DOWNSTREAM
        ):
            blob = "x" * (1 << 18)
            for _ in range(int(frame.message.get("flood", 0))):
                await self.push_frame(OutputTransportMessageUrgentFrame(message={"blob": blob}))
        else:
            await self.push_frame(frame, direction)


FLOODS: dict[int, Flood] = {}  # id(session.task) -> its flood stage


def flood_session(websocket: WebSocket) -> Session:
    session = server_session(
        websocket,
        pb_params(audio_out_write_timeout_secs=1.0),
        cancel_on=("on_client_disconnected",),
    )
    # Swap the plain middle for the flood/echo stage.
    pipeline = session.task.pipeline
    processors = pipeline.processors
    flood = Flood()
    FLOODS[id(session.task)] = flood
    index = processors.index(session.mid)
    processors[index].link(flood)
    flood.link(processors[index + 1])
    processors.insert(index + 1, flood)
    return session


async def stream_and_collect(url: str, *, garbage: bool = False) -> bytes:
    """Send 1 s of audio in 20 ms frames (with garbage between if asked); return the
    audio echoed back once all of it came back."""
    sent = FRAME_20MS * 50
    received = bytearray()
    async with open_client_socket(url) as sock:

        async def read() -> None:
            while len(received) < len(sent):
                frame = PB.decode(await sock.receive())
                if isinstance(frame, InputAudioRawFrame):
                    received.extend(frame.audio)

        async with trio.open_nursery() as inner:
            inner.start_soon(read)
            for i in range(0, len(sent), len(FRAME_20MS)):
                if garbage:
                    await sock.send(b"\x0a\xff\xff\xff")
                    await sock.send(json.dumps({"not": "protobuf"}))
                chunk = sent[i : i + len(FRAME_20MS)]
                await sock.send(PB.encode(OutputAudioRawFrame(chunk, 16000, 1)))
                await trio.sleep(0.02)
    return bytes(received)


async def test_sessions_are_independent(nursery):
    """Malformed messages, a client that stops reading and one that vanishes, on one
    Hypercorn server beside three healthy sessions: each affects its own session only.
    The one that stopped reading is detected within the write timeout (T56 over a
    socket) and its session ends."""
    url, sessions = await serve_sessions(nursery, flood_session)
    results: dict[str, bytes] = {}

    async def healthy(name: str, garbage: bool = False) -> None:
        results[name] = await stream_and_collect(url, garbage=garbage)

    FLOODS.clear()

    def stuck_session_ended() -> bool:
        stuck = [s for s in sessions if FLOODS[id(s.task)].errors]
        return bool(stuck) and stuck[0].finished.is_set()

    async def stops_reading() -> None:
        # trio-websocket's one-slot queue fills and then nothing is read from TCP.
        async with open_client_socket(url) as sock:
            await sock.send(PB.encode(OutputTransportMessageUrgentFrame(message={"flood": 400})))
            await eventually(stuck_session_ended, limit=30)
            sock.abort()  # the server dropped us; our reader is too stuck to notice

    async def vanishes() -> None:
        async with open_client_socket(url) as sock:
            await sock.send(PB.encode(OutputAudioRawFrame(FRAME_20MS, 16000, 1)))
            await trio.sleep(0.2)
            sock.abort()

    async with trio.open_nursery() as clients:
        clients.start_soon(stops_reading)
        clients.start_soon(vanishes)
        clients.start_soon(healthy, "a")
        clients.start_soon(healthy, "b")
        clients.start_soon(healthy, "malformed", True)
    expected = FRAME_20MS * 50
    assert results == {"a": expected, "b": expected, "malformed": expected}
    await eventually(lambda: len(sessions) == 5 and all(s.finished.is_set() for s in sessions))
    errors = [f.errors for f in FLOODS.values() if f.errors]
    assert len(errors) == 1 and len(errors[0]) == 1  # the client that stopped reading
    assert "timed out" in errors[0][0].error
    assert sum(not s.transport.output().is_usable for s in sessions) == 1
    malformed = [s for s in sessions if s.transport.input().dropped_messages]
    assert len(malformed) == 1 and malformed[0].transport.input().dropped_messages == 100
    assert all(s.names().count("on_client_disconnected") == 1 for s in sessions)
