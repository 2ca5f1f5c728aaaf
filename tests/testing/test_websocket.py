"""WebSocketAgentAdapter against small trio-websocket bots (B.6; checks 8–11, 21, 26, 30, 32)."""

from __future__ import annotations

from typing import Any

import pytest
import trio
import trio.testing
import trio_websocket

from tests.testing.conftest import Collector, Serve, drain
from trio_pipe.testing.voice import (
    AgentConnectError,
    AgentConnectionLostError,
    AgentStreamEndedError,
    AudioChunk,
    TransportNotConnectedError,
    UnsupportedCapabilityError,
    WebSocketAgentAdapter,
    WebSocketProtocol,
    silent_chunk,
)

AUDIO = b"\x01\x00\x02\x00"


class BytesProtocol(WebSocketProtocol):
    """Binary messages are 24 kHz audio; b"garbage" cannot be decoded; text is not audio."""

    def __init__(self) -> None:
        self.encoded: list[bytes] = []

    def encode_audio(self, pcm24k: bytes) -> bytes:
        self.encoded.append(pcm24k)
        return pcm24k

    def decode_response(self, message: str | bytes) -> AudioChunk | None:
        if isinstance(message, str):
            return None
        if message == b"garbage":
            raise ValueError("cannot decode garbage")
        return AudioChunk(message)


class EventfulProtocol(BytesProtocol):
    """Adds every optional hook."""

    def __init__(self) -> None:
        super().__init__()
        self.resets = 0

    def reset(self) -> None:
        self.resets += 1

    def on_connect(self) -> list[str | bytes]:
        return ["hello"]

    def on_disconnect(self) -> list[str | bytes]:
        return ["bye"]

    def end_of_utterance(self) -> list[str | bytes]:
        return ["eou"]

    def encode_interrupt(self) -> str:
        return "interrupt"

    def decode_event(self, message: str | bytes) -> dict[str, Any] | None:
        return {"type": "text", "text": message} if isinstance(message, str) else None


async def test_not_connected_before_connect() -> None:  # check 8
    adapter = WebSocketAgentAdapter("ws://127.0.0.1:9/ws", BytesProtocol())
    assert not adapter.is_connected()
    with pytest.raises(TransportNotConnectedError, match="WebSocketAgentAdapter"):
        await adapter.send_audio(AudioChunk(AUDIO))
    with pytest.raises(TransportNotConnectedError):
        await adapter.recv_audio(1.0)
    await adapter.disconnect()  # a no-op when not connected


async def test_refused_connection_is_a_typed_error() -> None:
    with trio.socket.socket() as sock:  # a port with no listener
        await sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    adapter = WebSocketAgentAdapter(f"ws://127.0.0.1:{port}/ws", BytesProtocol())
    with pytest.raises(AgentConnectError, match=f"cannot connect to ws://127.0.0.1:{port}/ws"):
        await adapter.connect()
    assert not adapter.is_connected()
    await adapter.disconnect()


async def test_text_is_skipped_until_audio(serve: Serve) -> None:  # check 9
    async def bot(ws: trio_websocket.WebSocketConnection) -> None:
        await ws.send_message("hello")
        await ws.send_message(AUDIO)
        await trio.sleep_forever()

    url = await serve(bot)
    async with WebSocketAgentAdapter(url, BytesProtocol()) as adapter:
        assert adapter.is_connected()
        chunk = await adapter.recv_audio(5.0)
    assert chunk.data == AUDIO
    assert not adapter.is_connected()


async def test_non_audio_does_not_push_the_deadline(
    serve: Serve, autojump_clock: trio.testing.MockClock
) -> None:  # check 10
    async def bot(ws: trio_websocket.WebSocketConnection) -> None:
        while True:
            await ws.send_message("still thinking")
            await trio.sleep(0.1)

    url = await serve(bot)
    async with WebSocketAgentAdapter(url, EventfulProtocol()) as adapter:
        start = trio.current_time()
        with pytest.raises(TimeoutError):
            await adapter.recv_audio(0.5)
        assert trio.current_time() - start == pytest.approx(0.5, abs=0.1)
        assert len(adapter.events) >= 4


async def test_clean_close_gives_empty_chunks(serve: Serve) -> None:  # check 11
    async def bot(ws: trio_websocket.WebSocketConnection) -> None:
        await ws.send_message(AUDIO)
        await ws.aclose(1000, "bye")

    url = await serve(bot)
    async with WebSocketAgentAdapter(url, BytesProtocol()) as adapter:
        assert (await adapter.recv_audio(5.0)).data == AUDIO  # audio before the close survives
        assert (await adapter.recv_audio(5.0)).data == b""
        assert (await adapter.recv_audio(5.0)).data == b""
        assert adapter.close_code == 1000 and adapter.close_reason == "bye"
        assert not adapter.is_connected()
        with pytest.raises(AgentStreamEndedError) as info:
            await adapter.send_audio(AudioChunk(AUDIO))
        assert not isinstance(info.value, AgentConnectionLostError)
    assert adapter.close_code == 1000


async def test_clean_close_ends_a_turn(serve: Serve) -> None:
    async def bot(ws: trio_websocket.WebSocketConnection) -> None:
        await ws.get_message()
        await ws.send_message(AUDIO)
        await ws.aclose()

    url = await serve(bot)
    async with WebSocketAgentAdapter(url, BytesProtocol()) as adapter:
        reply = await adapter.call(AudioChunk(b"\x00\x00"))
        assert reply.data == AUDIO
        assert adapter.last_turn_end_reason == "terminal_chunk"
        with pytest.raises(TransportNotConnectedError):
            await adapter.call(None)
        adapter.agent_hung_up = True
        assert (await adapter.call(None)).data == b""


async def test_abnormal_close_is_a_distinct_error(serve: Serve) -> None:
    async def bot(ws: trio_websocket.WebSocketConnection) -> None:
        await ws.aclose(1011, "internal error")

    url = await serve(bot)
    async with WebSocketAgentAdapter(url, BytesProtocol()) as adapter:
        for _ in range(2):
            with pytest.raises(AgentConnectionLostError) as info:
                await adapter.recv_audio(5.0)
            assert info.value.close_code == 1011 and "1011" in str(info.value)
        assert adapter.close_code == 1011 and adapter.close_reason == "internal error"


async def test_dropped_tcp_connection_is_1006(serve: Serve) -> None:
    async def bot(ws: trio_websocket.WebSocketConnection) -> None:
        await ws.send_message(AUDIO)
        await ws._stream.aclose()  # vanish without a close frame

    url = await serve(bot)
    async with WebSocketAgentAdapter(url, BytesProtocol()) as adapter:
        reply = await adapter.call(None)  # audio, then the connection dies: the turn ends
        assert reply.data == AUDIO and adapter.last_turn_end_reason == "stream_ended"
        with pytest.raises(AgentConnectionLostError) as info:
            await adapter.recv_audio(5.0)
        assert info.value.close_code == 1006
        assert not adapter.is_connected()


async def test_one_send_is_one_encode_and_one_message(serve: Serve) -> None:  # check 21
    bot = Collector()
    url = await serve(bot)
    protocol = BytesProtocol()
    chunk = silent_chunk(0.5)
    async with WebSocketAgentAdapter(url, protocol) as adapter:
        await adapter.send_audio(chunk)
    await bot.done.wait()
    assert protocol.encoded == [chunk.data]
    assert bot.received == [chunk.data]


async def test_garbage_is_counted_and_skipped(serve: Serve) -> None:  # check 26
    async def bot(ws: trio_websocket.WebSocketConnection) -> None:
        await ws.send_message(b"garbage")
        await ws.send_message(AUDIO)
        await trio.sleep_forever()

    url = await serve(bot)
    async with WebSocketAgentAdapter(url, BytesProtocol()) as adapter:
        assert (await adapter.recv_audio(5.0)).data == AUDIO
        assert adapter.decode_errors == 1


async def test_hooks_frames_and_events(serve: Serve) -> None:
    bot = Collector(greeting=["note", AUDIO])
    url = await serve(bot)
    protocol = EventfulProtocol()
    adapter = WebSocketAgentAdapter(url, protocol, frame_ms=20, trailing_silence=0.04)
    assert adapter.capabilities.interruption
    assert adapter.capabilities.input_formats == ["pcm16/24000"]
    async with adapter:
        assert protocol.resets == 1
        await adapter.send_audio(silent_chunk(0.05))
        await adapter.recv_audio(5.0)
        assert list(adapter.events) == [{"type": "text", "text": "note"}]
        await adapter.interrupt()
    await bot.done.wait()
    sizes = [len(m) if isinstance(m, bytes) else m for m in bot.received]
    # 50 ms in 20 ms slices, then 40 ms of trailing silence (its own slices), then markers
    assert sizes == ["hello", 960, 960, 480, 960, 960, "eou", "interrupt", "bye"]


async def test_interrupt_unsupported_without_hook(serve: Serve) -> None:
    async def bot(ws: trio_websocket.WebSocketConnection) -> None:
        await trio.sleep_forever()

    url = await serve(bot)
    async with WebSocketAgentAdapter(url, BytesProtocol()) as adapter:
        assert not adapter.capabilities.interruption
        with pytest.raises(UnsupportedCapabilityError):
            await adapter.interrupt()


async def test_concurrent_sends_do_not_interleave(serve: Serve) -> None:  # check 30
    bot = Collector()
    url = await serve(bot)
    a, b = AudioChunk(b"\x01\x00" * 4800), AudioChunk(b"\x02\x00" * 4800)  # 0.2 s each
    adapter = WebSocketAgentAdapter(url, BytesProtocol(), frame_ms=20, realtime=True)
    async with adapter, trio.open_nursery() as nursery:
        nursery.start_soon(adapter.send_audio, a)
        nursery.start_soon(adapter.send_audio, b)
    await bot.done.wait()
    owners = [m[0] for m in bot.received if isinstance(m, bytes)]
    assert len(owners) == 20
    assert owners in ([1] * 10 + [2] * 10, [2] * 10 + [1] * 10)


async def test_barge_in_interrupt_while_agent_talks(serve: Serve) -> None:  # check 32
    seen: dict[str, int] = {}

    async def bot(ws: trio_websocket.WebSocketConnection) -> None:
        sent = 0
        async with trio.open_nursery() as nursery:

            async def talk() -> None:
                nonlocal sent
                await ws.get_message()  # the user's utterance
                for _ in range(100):  # 2 s of audio in 20 ms chunks
                    await ws.send_message(b"\x00\x00" * 480)
                    sent += 1
                    await trio.sleep(0.02)

            nursery.start_soon(talk)
            while True:
                if await ws.get_message() == "interrupt":
                    seen["interrupt_after_chunks"] = sent
                    nursery.cancel_scope.cancel()  # the bot stops talking
                    break
        await trio.sleep_forever()

    url = await serve(bot)
    async with WebSocketAgentAdapter(url, EventfulProtocol()) as adapter:
        adapter.response_tail_silence = 0.3
        async with trio.open_nursery() as nursery:
            nursery.start_soon(adapter.call, silent_chunk(0.1))
            await adapter.agent_speaking.wait()
            await adapter.interrupt()
        assert adapter.last_turn_end_reason == "tail_silence"
        assert adapter.last_turn is not None and adapter.last_turn.agent_audio.data
    assert 1 <= seen["interrupt_after_chunks"] < 100


async def test_write_timeout_when_the_bot_stops_reading(
    serve: Serve, autojump_clock: trio.testing.MockClock
) -> None:
    async def bot(ws: trio_websocket.WebSocketConnection) -> None:
        await trio.sleep_forever()  # never reads: TCP buffers fill up

    url = await serve(bot)
    adapter = WebSocketAgentAdapter(url, BytesProtocol(), write_timeout=5.0)
    async with adapter:
        with pytest.raises(AgentConnectionLostError, match="write to the agent timed out"):
            for _ in range(1000):
                await adapter.send_audio(AudioChunk(bytes(900_000)))
        assert not adapter.is_connected()
        assert adapter.close_code == 1006
        with pytest.raises(AgentConnectionLostError):
            await adapter.recv_audio(1.0)


async def test_extra_headers_reach_the_bot(serve: Serve) -> None:
    requests: list[trio_websocket.WebSocketRequest] = []

    async def bot(ws: trio_websocket.WebSocketConnection) -> None:
        await ws.send_message(AUDIO)
        await trio.sleep_forever()

    url = await serve(bot, requests)
    async with WebSocketAgentAdapter(url, BytesProtocol(), extra_headers={"X-Test": "yes"}) as a:
        await a.recv_audio(5.0)
    assert (b"x-test", b"yes") in requests[0].headers
    assert requests[0].path == "/ws"


async def test_nothing_left_after_async_with(serve: Serve, live_tasks) -> None:
    async def bot(ws: trio_websocket.WebSocketConnection) -> None:
        await ws.send_message(AUDIO)
        await drain(ws, [])

    url = await serve(bot)
    await trio.testing.wait_all_tasks_blocked()
    before = live_tasks()
    adapter = WebSocketAgentAdapter(url, BytesProtocol())
    async with adapter:
        assert await adapter.call(None)
        assert len(live_tasks()) > len(before)
    await adapter.disconnect()  # idempotent
    await trio.testing.wait_all_tasks_blocked()
    assert live_tasks() <= before
    assert adapter.close_code == 1000
    assert not adapter.is_connected()


async def test_arrival_time_makes_latency_true(
    serve: Serve, autojump_clock: trio.testing.MockClock
) -> None:
    async def bot(ws: trio_websocket.WebSocketConnection) -> None:
        await ws.send_message(AUDIO)  # a greeting, right away
        await ws.send_message("ready")
        await trio.sleep_forever()

    url = await serve(bot)
    async with WebSocketAgentAdapter(url, EventfulProtocol()) as adapter:
        await trio.sleep(1.0)
        # events are kept as they arrive, before anyone reads audio
        assert list(adapter.events) == [{"type": "text", "text": "ready"}]
        await adapter.call(None)
        assert adapter.last_turn is not None and adapter.last_turn.latency is not None
        assert adapter.last_turn.latency == pytest.approx(-1.0, abs=0.01)


async def test_listening_turn_sends_nothing(serve: Serve) -> None:  # check 19, on a socket
    bot = Collector(greeting=[AUDIO])
    url = await serve(bot)
    async with WebSocketAgentAdapter(url, BytesProtocol()) as adapter:
        assert (await adapter.call(None)).data == AUDIO
    await bot.done.wait()
    assert bot.received == []
