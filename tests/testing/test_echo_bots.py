"""Each ready protocol against a small echo bot built on trio_pipe's own frame serializers
(checks 25 end to end, 26, 28 with pacing, and a whole turn per protocol)."""

from __future__ import annotations

import json

import pytest
import trio
import trio.testing
import trio_websocket

from tests.testing.bots import protobuf_echo, raw_echo, twilio_echo
from tests.testing.conftest import Serve
from trio_pipe.frames import InputAudioRawFrame, InterruptionFrame, OutputAudioRawFrame
from trio_pipe.serializers.frames import ProtobufFrameSerializer
from trio_pipe.testing.voice import (
    PipecatAgentAdapter,
    RawPCMProtocol,
    WebSocketAgentAdapter,
    tone_chunk,
)


async def test_raw_echo_turn(serve: Serve) -> None:
    url = await serve(raw_echo)
    async with WebSocketAgentAdapter(url, RawPCMProtocol(16000, 16000)) as bot:
        bot.response_tail_silence = 0.2
        reply = await bot.call(tone_chunk(1.0))
    assert reply.duration_seconds == pytest.approx(1.0, abs=0.01)
    assert bot.last_turn_end_reason == "tail_silence"


async def test_protobuf_echo_turn_interrupt_and_events(serve: Serve) -> None:  # check 25
    seen: list[object] = []
    url = await serve(protobuf_echo(seen))
    async with PipecatAgentAdapter(url, wire="protobuf", realtime=False) as bot:
        assert bot.capabilities.interruption
        bot.response_tail_silence = 0.2
        reply = await bot.call(tone_chunk(1.0))
        assert reply.duration_seconds == pytest.approx(1.0, abs=0.01)
        await bot.interrupt()
        with pytest.raises(TimeoutError):
            await bot.recv_audio(0.2)  # the echoed interruption is an event, not audio
        assert {"type": "message", "data": {"type": "bot-ready"}} in bot.events
        assert {"type": "interruption"} in bot.events
    audio = [f for f in seen if isinstance(f, InputAudioRawFrame)]
    assert {(f.sample_rate, f.num_channels) for f in audio} == {(16000, 1)}
    assert sum(f.num_frames for f in audio) == 16000
    assert isinstance(seen[-1], InterruptionFrame)


async def test_protobuf_garbage_is_skipped(serve: Serve) -> None:  # check 26
    serializer = ProtobufFrameSerializer()

    async def bot(ws: trio_websocket.WebSocketConnection) -> None:
        await ws.send_message(b"\xff\xff\xff garbage")
        audio = OutputAudioRawFrame(b"\x01\x00", 24000, 1)
        await ws.send_message(serializer.encode(audio))  # type: ignore[arg-type]
        await trio.sleep_forever()

    url = await serve(bot)
    async with PipecatAgentAdapter(url, wire="protobuf") as adapter:
        chunk = await adapter.recv_audio(5.0)
        assert chunk.data == b"\x01\x00"
        assert adapter.decode_errors == 1


async def test_twilio_paced_echo_turn(
    serve: Serve, autojump_clock: trio.testing.MockClock
) -> None:  # checks 27, 28
    seen: list[dict] = []
    url = await serve(twilio_echo(seen))
    bot = PipecatAgentAdapter(url, wire="twilio")  # 20 ms frames, real time
    assert not bot.capabilities.interruption
    assert bot.capabilities.input_formats == ["mulaw/8000"]
    async with bot:
        bot.response_tail_silence = 0.2
        start = trio.current_time()
        await bot.send_audio(tone_chunk(1.0))
        assert trio.current_time() - start == pytest.approx(1.0, abs=0.1)
        reply = await bot.call(None)
        assert reply.duration_seconds == pytest.approx(1.0, abs=0.03)
    await trio.testing.wait_all_tasks_blocked()
    events = [m["event"] for m in seen]
    assert events[:2] == ["connected", "start"]
    assert events[2:] == ["media"] * 50 + ["mark", "stop"]
    assert seen[1]["start"]["streamSid"] == seen[-1]["streamSid"]


async def test_twilio_stop_from_the_bot_ends_the_turn(serve: Serve) -> None:
    async def bot(ws: trio_websocket.WebSocketConnection) -> None:
        sid = json.loads((await ws.get_message(), await ws.get_message())[1])["streamSid"]
        media = {"event": "media", "streamSid": sid, "media": {"payload": "//////////8="}}
        await ws.send_message(json.dumps(media))
        await ws.send_message(json.dumps({"event": "stop", "streamSid": sid}))
        await trio.sleep_forever()

    url = await serve(bot)
    async with PipecatAgentAdapter(url, wire="twilio") as adapter:
        reply = await adapter.call(None)
        assert reply.num_samples == pytest.approx(24, abs=2)  # 8 µ-law bytes
        assert adapter.last_turn_end_reason == "terminal_chunk"
        assert adapter.is_connected()  # "stop" ends the stream, not the socket
